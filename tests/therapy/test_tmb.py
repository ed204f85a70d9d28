"""TMB over the callable territory from mosdepth thresholds, and from the clinical sheet."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.therapy.tmb import CODING_TERMS, TMB_SCHEMA, clinical_tmb, compute_tmb
from oncoweave.variants.maf import CSQ_TO_MAF_CLASS, variant_classification
from oncoweave.variants.maf_import import MAF_TMB_CLASSES

# Region sizes of the toy panel's mosdepth thresholds summed to 24,104 bases (4 genes' exons).
PANEL_REGIONS = [("chr17_TP53", 0, 4104), ("chr7_EGFR", 0, 10000), ("chr13_BRCA2", 0, 10000)]


def write_thresholds(path: Path, regions, counts_20x) -> Path:
    lines = ["#chrom\tstart\tend\tregion\t20X\t100X\t200X"]
    lines += [f"{chrom}\t{start}\t{end}\tG\t{count}\t{count // 2}\t0"
              for (chrom, start, end), count in zip(regions, counts_20x)]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def variant(pos: int, consequence: str | None, status: str = "somatic", filter: str = "PASS",
            sample: str = "P02-T", patient: str = "P02") -> dict:
    return {"patient": patient, "sample": sample, "chrom": "chr7", "pos": pos, "ref": "C",
            "alt": "T", "consequence": consequence, "status": status, "filter": filter}


@pytest.fixture
def calls() -> pd.DataFrame:
    return pd.DataFrame([
        variant(1, "missense"), variant(2, "synonymous"), variant(3, "frameshift"),
        variant(3, "frameshift", sample="P02-T2"),  # same call in a second tumour sample
        variant(4, "splice_region&synonymous"), variant(5, "intron"), variant(6, "3_prime_utr"),
        variant(7, "missense", status="germline"), variant(8, "missense", status="loh"),
        variant(9, "missense", filter="low_vaf"), variant(10, "missense", patient="P03"),
        variant(11, "missense", status="tumour_only"),
    ])


@pytest.fixture
def panel(tmp_path) -> tuple[Path, Path]:
    sizes = [end - start for _, start, end in PANEL_REGIONS]
    tumour = write_thresholds(tmp_path / "T.thresholds.bed.gz", PANEL_REGIONS, sizes)
    normal = write_thresholds(tmp_path / "N.thresholds.bed.gz", PANEL_REGIONS, sizes)
    return tumour, normal


def test_panel_tmb_is_not_reportable(calls, panel):
    row = compute_tmb(calls, *panel, patient="P02")
    assert row["callable_mb"] == pytest.approx(0.024104)
    assert row["somatic_coding_mutations"] == 4  # missense, synonymous, frameshift, splice&syn
    assert row["reportable"] is False and row["tmb"] is None
    assert "0.024 Mb < 1.0 Mb" in row["reason"]
    assert f"{4 / 0.024104:.1f} mut/Mb" in row["reason"]  # the raw estimate, for the record


def test_reportable_over_enough_territory(calls, panel):
    row = compute_tmb(calls, *panel, patient="P02", min_callable_mb=0.02)
    assert row["reportable"] is True and row["tmb_source"] == "computed"
    assert row["tmb"] == pytest.approx(4 / 0.024104)


def test_callable_needs_depth_in_tumour_and_normal(calls, tmp_path):
    regions = PANEL_REGIONS[:2]
    tumour = write_thresholds(tmp_path / "T.bed.gz", regions, [4000, 5000])
    normal = write_thresholds(tmp_path / "N.bed.gz", regions, [4104, 3000])
    row = compute_tmb(calls, tumour, normal, patient="P02", min_callable_mb=0)
    assert row["callable_mb"] == pytest.approx(0.007)
    deeper = compute_tmb(calls, tumour, normal, patient="P02", min_depth=100, min_callable_mb=0)
    assert deeper["callable_mb"] == pytest.approx(0.0035)


def test_tumour_only_is_counted_but_not_reportable(calls, panel):
    row = compute_tmb(calls, panel[0], None, patient="P02", min_callable_mb=0)
    assert row["somatic_coding_mutations"] == 1
    assert row["reportable"] is False and "tumour-only" in row["reason"]


def test_clinical_tmb_takes_precedence(calls, panel):
    row = compute_tmb(calls, *panel, patient="P02", clinical_tmb=14.2)
    assert (row["tmb"], row["tmb_source"], row["reportable"]) == (14.2, "clinical", True)
    assert row["callable_mb"] == pytest.approx(0.024104)
    assert "clinical sheet" in row["reason"] and "not reportable" in row["reason"]


def test_clinical_sheet_tmb_column(tmp_path):
    sheet = tmp_path / "clinical.tsv"
    sheet.write_text("patient\tcancer_type\ttmb\nP01\tNSCLC\t12.5\nP02\tbreast\t\n")
    assert clinical_tmb(sheet, "P01") == 12.5
    assert clinical_tmb(sheet, "P02") is None and clinical_tmb(sheet, "P09") is None
    without = tmp_path / "without.tsv"
    without.write_text("patient\tcancer_type\nP01\tNSCLC\n")
    assert clinical_tmb(without, "P01") is None
    sheet.write_text("patient\ttmb\nP01\thigh\n")
    with pytest.raises(InputError, match=r"clinical\.tsv, row 2, column 'tmb'"):
        clinical_tmb(sheet, "P01")


def test_bad_inputs_are_named(calls, panel, tmp_path):
    with pytest.raises(InputError, match=r"no column for depth 50 \(has 20X, 100X, 200X"):
        compute_tmb(calls, *panel, patient="P02", min_depth=50)
    other = write_thresholds(tmp_path / "other.bed.gz", PANEL_REGIONS[:2], [1, 1])
    with pytest.raises(InputError, match="other.bed.gz: regions differ"):
        compute_tmb(calls, panel[0], other, patient="P02")
    with pytest.raises(InputError, match=r"missing column\(s\) status"):
        compute_tmb(calls.drop(columns=["status"]), *panel, patient="P02")


def test_cli_compute_tmb_uses_the_clinical_sheet(calls, panel, tmp_path, capsys):
    variants = tmp_path / "variants.parquet"
    calls.to_parquet(variants)
    sheet = tmp_path / "clinical.tsv"
    sheet.write_text("patient\ttmb\nP02\t11\n")
    output = tmp_path / "tmb.parquet"
    assert main(["compute-tmb", "--variants", str(variants), "--patient", "P02",
                 "--tumour-thresholds", str(panel[0]), "--normal-thresholds", str(panel[1]),
                 "--clinical", str(sheet), "--output", str(output)]) == 0
    table, metadata = read_parquet(output, expected_schema=TMB_SCHEMA)
    assert table.loc[0, "tmb"] == 11.0 and table.loc[0, "tmb_source"] == "clinical"
    assert metadata["min_depth"] == "20"
    assert "11.0 mut/Mb (clinical, reportable)" in capsys.readouterr().out


def test_maf_patient_counts_its_rows_outside_the_regions_over_the_given_territory(calls):
    # P02's somatic PASS coding calls: missense, synonymous, frameshift, splice&syn = 4.
    row = compute_tmb(calls, None, None, patient="P02", maf_outside_mutations=34,
                      maf_territory_mb=38.0)
    assert row["somatic_coding_mutations"] == 38 and row["tmb"] == pytest.approx(1.0)
    assert row["reportable"] is True and row["callable_mb"] == 38.0


def test_maf_patient_without_a_territory_is_not_reportable(calls):
    row = compute_tmb(calls, None, None, patient="P02", maf_outside_mutations=34)
    assert row["reportable"] is False and row["tmb"] is None
    assert row["reason"].startswith("MAF calls: set tmb.maf_territory_mb")


@pytest.mark.parametrize("variant_type", ["SNP", "INS", "DEL"])
def test_maf_rows_and_annotated_calls_count_toward_tmb_by_one_rule(variant_type):
    # A MAF patient's rows outside the regions count by Variant_Classification, the rest by the
    # annotation's terms: each term's MAF class must count exactly when the term does.
    for term in CSQ_TO_MAF_CLASS:
        maf_class = variant_classification(term, variant_type)
        assert (term in CODING_TERMS) == (maf_class in MAF_TMB_CLASSES), (term, maf_class)
