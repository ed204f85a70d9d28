"""Image rows without a mask on the toy cohort: segment_lesions is planned only for them, proposes
their mask with the segmenter trained on the given ones, and radiomics and the report say so."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from helpers import make_workdir, run_snakemake, shard_of
from oncoweave.core.tables import read_parquet
from oncoweave.imaging.ingest import INGEST_SCHEMA
from oncoweave.report.patient_imaging import Lesion, imaging_section

pytestmark = pytest.mark.workflow

MASKLESS = "P04"  # a toy CT phantom: the simulation still writes its mask, to compare against


def without_mask(workdir: Path, patient: str = MASKLESS) -> Path:
    """The toy image sheet with this patient's mask cell left empty."""
    sheet = workdir / "config" / "images.tsv"
    table = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    table.loc[table["patient"] == patient, "mask"] = ""
    table.to_csv(sheet, sep="\t", index=False)
    return workdir


def planned(workdir: Path) -> tuple[dict[str, int], str]:
    """(jobs per rule, the dry run's text) of the whole workflow."""
    result = run_snakemake(workdir, "-n", "--cores", "2")
    text = result.stdout + result.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", text.split("Job stats:", 1)[1].split("\n\n")[0],
                             re.MULTILINE))
    return {rule: int(n) for rule, n in counts.items() if rule != "total"}, text


def test_segment_lesions_is_planned_only_for_shards_with_maskless_rows(tmp_path):
    every, _ = planned(make_workdir(tmp_path / "every"))
    assert "segment_lesions" not in every
    workdir = without_mask(make_workdir(tmp_path / "one"))
    one, text = planned(workdir)
    # Two jobs more (propose the masks, measure on them), nothing else moves.
    assert one.pop("segment_lesions") == 1 and one.pop("extract_proposed_radiomics") == 1
    assert one == every
    shard = shard_of(workdir, MASKLESS)
    proposed = f"results/shards/{shard}/proposed_masks"
    blocks = re.split(r"\n(?=rule |localrule )", text)
    job = next(block for block in blocks if block.split(":", 1)[0].endswith("segment_lesions"))
    assert f"output: {proposed}\n" in job and f"wildcards: shard={shard}" in job
    consumers = [block.split(":", 1)[0].split()[-1] for block in blocks
                 if re.search(rf"input: [^\n]*{re.escape(proposed)}", block)]
    assert sorted(consumers) == ["extract_proposed_radiomics", "render_patient_report"]


@pytest.fixture(scope="module")
def proposed_run(tmp_path_factory):
    """The toy cohort's radiomics with P04's mask left out of the image sheet (its images only:
    ingest, the segmenter, segment_lesions, radiomics; about 1.5 min on 2 cores)."""
    workdir = without_mask(make_workdir(tmp_path_factory.mktemp("proposed") / "run"))
    run_snakemake(workdir, "--cores", "2", "results/cohort/radiomics.parquet")
    return workdir, shard_of(workdir, MASKLESS)


def test_maskless_lesion_gets_a_proposed_mask_and_radiomics_say_so(proposed_run):
    workdir, shard = proposed_run
    lesion = workdir / "results/shards" / shard / "imaging" / MASKLESS / "L1"
    record, _ = read_parquet(lesion / "ingest.parquet", INGEST_SCHEMA)
    assert record.loc[0, "mask_source"] == "none yet" and not (lesion / "mask.nii.gz").exists()
    # The segmenter learnt from the given masks only.
    bundle = json.loads((workdir / "results/imaging/segmenter/configs/metadata.json").read_text())
    assert f"{MASKLESS}/L1" not in bundle["training_cases"] and bundle["n_cases"] == 62
    proposal = workdir / "results/shards" / shard / "proposed_masks" / MASKLESS / "L1/mask.nii.gz"
    mask = np.asarray(nib.load(proposal).dataobj) > 0
    truth = np.asarray(nib.load(workdir / "toy_cohort/images/P04/mask.nii.gz").dataobj) > 0
    assert mask.shape == truth.shape and 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.3
    radiomics = pd.read_parquet(workdir / "results/cohort/radiomics.parquet")
    assert len(radiomics) == 63
    assert dict(zip(radiomics["patient"], radiomics["mask_source"]))[MASKLESS] == "proposed"
    assert (radiomics.loc[radiomics["patient"] != MASKLESS, "mask_source"] == "given").all()
    row = radiomics.set_index("patient").loc[MASKLESS]
    assert row["original_shape_VoxelVolume"] == pytest.approx(mask.sum() * 2.0, rel=0.05)
    log = (workdir / f"logs/segment_lesions/{shard}.log").read_text()
    assert f"{MASKLESS}/L1: proposed mask of {mask.sum()} voxels" in log


def test_report_marks_the_proposed_mask(proposed_run):
    """The patient report's imaging section on the run's files, as render_patient_report gets them
    (shard_report_rows: the proposed mask in place of the missing given one)."""
    workdir, shard = proposed_run
    folder = workdir / "results/shards" / shard
    lesion = Lesion(folder / f"imaging/{MASKLESS}/L1/image.nii.gz",
                    folder / f"proposed_masks/{MASKLESS}/L1/mask.nii.gz",
                    folder / f"imaging/{MASKLESS}/L1/ingest.parquet", "proposed")
    radiomics = pd.read_parquet(workdir / "results/cohort/radiomics.parquet")
    section = imaging_section(MASKLESS, [lesion], radiomics, True)
    assert "mask proposed by the segmenter" in section.images[0]["caption"]
    assert "on the mask proposed by the segmenter" in section.tables[0].caption
