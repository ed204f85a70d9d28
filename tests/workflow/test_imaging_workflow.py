"""The imaging stage on the toy cohort: ingest, radiomics, the encoder and its embeddings, no PHI."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import REPO, make_workdir, run_snakemake, shard_of
from oncoweave.imaging.radiomics import extract_features
from oncoweave.toy.clinical import hidden_risk
from oncoweave.toy.images import PLANTED_PHI, lesion_phantom, write_dicom_series

pytestmark = pytest.mark.workflow

TOY_SHEET = pd.read_csv(REPO / "config/images.tsv", sep="\t", dtype=str)


@pytest.fixture(scope="module")
def imaging(toy_run):
    workdir, _ = toy_run
    return workdir


def test_radiomics_has_one_row_per_lesion_as_pyradiomics_computes_it(imaging):
    table = pd.read_parquet(imaging / "results/cohort/radiomics.parquet")
    assert list(zip(table.patient, table.lesion)) == list(zip(TOY_SHEET.patient, TOY_SHEET.lesion))
    assert list(table.columns[:4]) == ["patient", "lesion", "modality", "mask_source"]
    assert (table["mask_source"] == "given").all()  # every toy row gives its mask
    features = table.columns[4:]
    assert all(name.startswith(("original_", "log-sigma", "wavelet")) for name in features)
    # The workflow's value is pyradiomics' own on the same working copy with the same settings.
    lesion = imaging / "results/shards" / shard_of(imaging, "P01") / "imaging/P01/L1"
    direct = extract_features(lesion / "image.nii.gz", lesion / "mask.nii.gz",
                              REPO / "config/radiomics.yaml")
    row = table[table.patient == "P01"].iloc[0]
    for name in ("original_shape_VoxelVolume", "original_firstorder_Mean",
                 "original_glcm_Contrast"):
        assert row[name] == pytest.approx(direct[name], rel=1e-9), name
    metadata = pq.read_schema(imaging / "results/cohort/radiomics.parquet").metadata
    assert b"pyradiomics_version" in metadata


def test_synthetic_lesions_carry_the_hidden_risk(imaging):
    """The phantoms' volume grows with the hidden risk: the signal fusion must find is there."""
    table = pd.read_parquet(imaging / "results/cohort/radiomics.parquet")
    phantoms = table[table.patient.isin(["P04", "P05", "P06", "P08"])]
    risk = [hidden_risk(int(p.lstrip("P")), 1) for p in phantoms.patient]
    volume = phantoms["original_shape_VoxelVolume"].to_numpy()
    assert pd.Series(risk).corr(pd.Series(volume), method="spearman") > 0.7


def test_encoder_bundle_and_embeddings(imaging):
    bundle = imaging / "results/imaging/encoder"
    metadata = json.loads((bundle / "configs/metadata.json").read_text())
    for key in ("monai_version", "pytorch_version", "seed", "loss_curve"):
        assert key in metadata, key
    assert len(metadata["loss_curve"]) >= 2 and np.isfinite(metadata["loss_curve"]).all()
    log = (imaging / "logs/train_image_encoder/encoder.log").read_text()
    assert "epoch" in log.lower() and "loss" in log.lower()
    embeddings = pd.read_parquet(imaging / "results/cohort/deep_features.parquet")
    assert list(zip(embeddings.patient, embeddings.lesion)) == list(
        zip(TOY_SHEET.patient, TOY_SHEET.lesion))
    deep = embeddings.filter(like="deep_").to_numpy()
    assert deep.shape[1] >= 8 and np.isfinite(deep).all()
    assert len({tuple(np.round(row, 6)) for row in deep}) == len(deep), "lesions embed alike"


def test_lesion_cnn_maps_one_per_classified_lesion_and_in_the_report(imaging):
    """train_lesion_classifier's occlusion maps: one per out-of-fold prediction, from the fold
    model that made it; the patient report shows the lesion's map with its caption."""
    predictions = pd.read_parquet(imaging / "results/cohort/lesion_classifier_predictions.parquet")
    maps = imaging / "results/cohort/lesion_cnn_maps"
    index = pd.read_parquet(maps / "index.parquet")
    assert len(index) == len(predictions) > 40
    assert list(zip(index.patient, index.lesion)) == list(zip(predictions.patient,
                                                              predictions.lesion))
    np.testing.assert_array_equal(index["probability"], predictions["probability"])
    np.testing.assert_array_equal(index["fold"], predictions["fold"])
    for row in index.itertuples():
        with np.load(maps / row.file) as arrays:
            assert arrays["image"].shape == arrays["map"].shape == (24, 24), row.file
            assert np.isfinite(arrays["map"]).all() and arrays["mask"].any(), row.file
    log = (imaging / "logs/train_lesion_classifier/cohort.log").read_text()
    assert f"occlusion maps of {len(index)} lesions" in log
    p05 = index[index.patient == "P05"].iloc[0]
    html = (imaging / "results/report" / shard_of(imaging, "P05") / "P05.html").read_text()
    assert "lesion L1: CNN occlusion map over the crop slice" in html
    assert f"CNN out-of-fold probability of response in {{CR, PR}}: {p05.probability:.2f}" in html
    assert "warm = regions whose occlusion lowers the predicted probability most" in html


def _readable_text(path: Path) -> bytes:
    """A file's bytes, decompressed when gzip; a Parquet file also as its decoded table text."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        data += table.to_pandas().to_csv().encode() + str(table.schema.metadata).encode()
    return data.lower()


def phi_hits(roots: list[Path]) -> list[str]:
    needles = [str(value).lower().encode() for value in PLANTED_PHI.values()]
    hits = []
    for root in roots:
        for path in (p for p in root.rglob("*") if p.is_file()):
            text = _readable_text(path)
            hits += [f"{path}: {needle.decode()}" for needle in needles if needle in text]
    return hits


def test_planted_phi_reaches_no_result_log_or_benchmark(imaging):
    dicom = imaging / "toy_cohort/images/P05/dicom"
    assert phi_hits([dicom]), "the toy DICOM series should carry the planted PHI"
    roots = [imaging / name for name in ("results", "logs", "benchmarks", ".snakemake/log")]
    assert not phi_hits(roots)


@pytest.fixture
def bad_image_workdir(tmp_path):
    """A working directory whose image sheet gives P04 a mask on another grid."""
    workdir = make_workdir(tmp_path / "run")
    image, mask = lesion_phantom(0.5, np.random.default_rng(3))
    import SimpleITK as sitk

    (workdir / "images").mkdir()
    write_dicom_series(image, workdir / "images/P04_dicom")
    shifted = sitk.Image(mask)
    shifted.SetOrigin(tuple(o + 5.0 for o in mask.GetOrigin()))
    sitk.WriteImage(shifted, str(workdir / "images/P04_mask.nii.gz"))
    (workdir / "config/images.tsv").write_text(
        "patient\tlesion\timage\tmask\tmodality\tlabel\n"
        "P04\tL1\timages/P04_dicom\timages/P04_mask.nii.gz\tCT\t1\n")
    return workdir


def test_mask_off_the_image_grid_is_named_and_leaves_nothing(bad_image_workdir):
    imaging = f"results/shards/{shard_of(bad_image_workdir, 'P04')}/imaging"
    result = run_snakemake(bad_image_workdir, "--cores", "1", imaging, check=False)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if "images.tsv, row 1" in line and "P04" in line and "origin" in line]
    assert lines, result.stderr[-3000:]
    assert "images/P04_mask.nii.gz" in lines[0]
    assert not (bad_image_workdir / imaging).exists()


def test_image_patient_missing_from_sample_sheet_stops_before_any_job(tmp_path):
    workdir = make_workdir(tmp_path / "run")
    (workdir / "img").mkdir()
    for name in ("x.nii.gz", "x_mask.nii.gz"):
        shutil.copy(REPO / "resources/imaging/ibsi1_digital_phantom/phantom.nii.gz", workdir / "img" / name)
    (workdir / "config/images.tsv").write_text(
        "patient\timage\tmask\tmodality\nP99\timg/x.nii.gz\timg/x_mask.nii.gz\tCT\n")
    result = run_snakemake(workdir, "--cores", "1", "-n", check=False)
    assert result.returncode != 0
    assert "images.tsv: row 1 (line 2): column 'patient': 'P99' is not in the sample sheet" in (
        result.stdout + result.stderr)
