"""Therapy matching on calls copied from the toy cohort's variants table."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import REPO
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.therapy.evidence import EVIDENCE_SCHEMA, build_evidence
from oncoweave.therapy.matching import THERAPIES_SCHEMA, match_patients, match_therapies
from oncoweave.therapy.tmb import TMB_SCHEMA

EVIDENCE_DIR = REPO / "resources" / "evidence"
TKIS = {"Osimertinib", "Erlotinib", "Gefitinib", "Afatinib"}
PARP = {"Olaparib", "Rucaparib", "Talazoparib"}


@pytest.fixture(scope="module")
def evidence() -> pd.DataFrame:
    return build_evidence(EVIDENCE_DIR / "civic_evidence_4genes.tsv",
                          EVIDENCE_DIR / "curated.tsv")[0]


def call(patient: str, gene: str, consequence: str, hgvs_p: str | None, status: str,
         filter: str = "PASS", hgvs_c: str = "c.?", **extra) -> dict:
    """A variants-table row (the columns matching reads), as the toy cohort has it."""
    return {"patient": patient, "sample": f"{patient}-T", "gene": gene,
            "consequence": consequence, "hgvs_p": hgvs_p, "hgvs_c": hgvs_c, "status": status,
            "filter": filter, **extra}


def match(evidence, rows: list[dict], patient: str, **options) -> pd.DataFrame:
    return match_therapies(pd.DataFrame(rows), evidence, patient=patient, **options)


def drugs(table: pd.DataFrame, **where) -> set[str]:
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column] == value
    return set(table.loc[mask, "drug"].dropna())


def test_p02_l858r_gets_tkis_tier_ia_in_lung_cancer(evidence):
    rows = [call("P02", "EGFR", "missense", "p.L858R", "somatic", hgvs_c="c.2573T>G"),
            call("P02", "EGFR", "missense", "p.V843L", "somatic"),
            call("P02", "EGFR", "intron", None, "germline")]
    table = match(evidence, rows, "P02", cancer_type="lung adenocarcinoma")
    assert list(table.columns) == THERAPIES_SCHEMA.names
    assert TKIS <= drugs(table, hgvs_p="p.L858R", amp_tier="IA", direction="sensitivity")
    assert set(table["biomarker"]) == {"EGFR p.L858R"}
    assert table["amp_tier"].iloc[0] == "IA"  # best tier first


def test_tier_drops_outside_the_evidence_disease_or_without_one(evidence):
    rows = [call("P02", "EGFR", "missense", "p.L858R", "somatic")]
    breast = match(evidence, rows, "P02", cancer_type="breast cancer")
    unknown = match(evidence, rows, "P02")
    assert not breast["amp_tier"].isin(["IA", "IB"]).any()
    assert "Osimertinib" in drugs(breast, amp_tier="IIC", disease_match="other")
    assert set(unknown["disease_match"]) == {"unknown"}
    assert not unknown["amp_tier"].isin(["IA", "IB"]).any()


def test_p04_exon19_deletion_matches_the_class(evidence):
    rows = [call("P04", "EGFR", "inframe_deletion", "p.E746_A750del", "somatic"),
            call("P04", "EGFR", "frameshift", "p.H888Kfs*10", "somatic")]
    table = match(evidence, rows, "P04", cancer_type="NSCLC")
    assert TKIS <= drugs(table, hgvs_p="p.E746_A750del", amp_tier="IA")
    # A frameshift activates nothing in EGFR (an oncogene): no evidence for it.
    assert "EGFR p.H888Kfs*10" not in set(table["biomarker"])


def test_exon_classes_respect_exon_bounds(evidence):
    rows = [call("P09", "EGFR", "inframe_deletion", "p.E709_T710del", "somatic"),  # exon 18
            call("P09", "EGFR", "inframe_insertion", "p.T415_D416insL", "somatic"),  # exon 11
            call("P09", "EGFR", "inframe_insertion", "p.D770_N771insSVD", "somatic")]  # exon 20
    table = match(evidence, rows, "P09", cancer_type="NSCLC")
    assert set(table["biomarker"]) == {"EGFR p.D770_N771insSVD"}
    assert "Amivantamab" in drugs(table, amp_tier="IA")


def test_p08_t790m_osimertinib_and_first_generation_resistance(evidence):
    rows = [call("P08", "EGFR", "missense", "p.T790M", "tumour_only")]
    table = match(evidence, rows, "P08", cancer_type="NSCLC")
    assert "Osimertinib" in drugs(table, direction="sensitivity", amp_tier="IA")
    assert {"Erlotinib", "Gefitinib"} <= drugs(table, direction="resistance")
    assert table["match_reason"].str.contains("no matched normal").all()


def test_c797s_surfaces_osimertinib_resistance(evidence):
    rows = [call("P10", "EGFR", "missense", "p.C797S", "somatic")]
    table = match(evidence, rows, "P10", cancer_type="NSCLC")
    assert "Osimertinib" in drugs(table, direction="resistance")
    assert "Osimertinib" not in drugs(table, direction="sensitivity")


def test_p06_p07_somatic_brca_frameshifts_get_parp(evidence):
    rows = [call("P06", "BRCA1", "frameshift", "p.S628Kfs*6", "somatic"),
            call("P06", "BRCA2", "frameshift", "p.Q3050Pfs*22", "somatic", filter="low_vaf"),
            call("P07", "BRCA2", "frameshift", "p.M1149Yfs*7", "somatic")]
    for patient, biomarker in (("P06", "BRCA1 p.S628Kfs*6"), ("P07", "BRCA2 p.M1149Yfs*7")):
        table = match(evidence, rows, patient, cancer_type="ovarian cancer")
        assert set(table["biomarker"]) == {biomarker}  # the low_vaf call does not count
        assert "Olaparib" in drugs(table, amp_tier="IA")
        # Talazoparib's label is for germline carriers only.
        assert "Talazoparib" not in drugs(table)


def test_p01_germline_brca1_frameshift_gets_parp_and_is_flagged(evidence):
    rows = [call("P01", "BRCA1", "frameshift", "p.Q1756Pfs*74", "germline"),
            call("P01", "BRCA1", "missense", "p.S1063A", "germline"),
            call("P01", "TP53", "missense", "p.L264P", "germline")]
    table = match(evidence, rows, "P01", cancer_type="breast cancer")
    assert set(table["biomarker"]) == {"BRCA1 p.Q1756Pfs*74"}
    assert PARP <= drugs(table)
    assert {"Olaparib", "Talazoparib"} <= drugs(table, amp_tier="IA")
    assert (table["variant_status"] == "germline").all()
    assert table["match_reason"].str.contains("GERMLINE").all()


def test_driver_score_overrides_the_truncation_rule(evidence):
    rows = [call("P11", "BRCA2", "frameshift", "p.V3365Afs*19", "somatic", driver_score=0.1),
            call("P11", "BRCA2", "missense", "p.D2723H", "somatic", driver_score=0.9)]
    table = match(evidence, rows, "P11", cancer_type="prostate cancer")
    assert set(table["biomarker"]) == {"BRCA2 p.D2723H"}
    assert table["match_reason"].str.contains("driver_score 0.90").all()


def test_tp53_says_no_approved_therapy(evidence):
    rows = [call("P01", "TP53", "missense", "p.R175H", "somatic")]
    table = match(evidence, rows, "P01", cancer_type="breast cancer")
    statement = table[table["direction"] == "no_approved_therapy"]
    assert len(statement) == 1
    assert statement["drug"].isna().all() and statement["amp_tier"].isna().all()


def test_tmb_high_matches_pembrolizumab_in_any_solid_tumour(evidence):
    rows = [call("P03", "EGFR", "missense", "p.P266L", "somatic")]
    high = match(evidence, rows, "P03", cancer_type="melanoma", tmb=12.0)
    assert drugs(high, biomarker="TMB 12.0 mut/Mb", amp_tier="IA") == {"Pembrolizumab"}
    low = match(evidence, rows, "P03", cancer_type="melanoma", tmb=9.9)
    assert "Pembrolizumab" not in drugs(low)


def test_a_shard_in_one_pass_is_each_patient_in_turn(evidence):
    # The shard's rule matches all its patients at once: the same rows, in the listing's order,
    # as one match_therapies per patient (a patient listed twice gets its rows twice).
    rows = [call("P02", "EGFR", "missense", "p.L858R", "somatic", hgvs_c="c.2573T>G"),
            call("P01", "BRCA1", "frameshift", "p.Q1756Pfs*74", "germline"),
            call("P08", "EGFR", "missense", "p.T790M", "tumour_only"),
            call("P02", "EGFR", "missense", "p.L858R", "somatic", hgvs_c="c.2573T>G"),
            call("P06", "BRCA2", "frameshift", "p.Q3050Pfs*22", "somatic", filter="low_vaf"),
            call("P99", "TP53", "missense", "p.R175H", "somatic")]
    listing = [("P08", "NSCLC", None), ("P03", "melanoma", 12.0), ("P02", None, 15.0),
               ("P01", "breast cancer", None), ("P06", "ovarian cancer", None),
               ("P08", "breast cancer", None)]
    one_by_one = [match(evidence, rows, patient, cancer_type=cancer_type, tmb=tmb)
                  for patient, cancer_type, tmb in listing]
    shard = match_patients(pd.DataFrame(rows), evidence, listing)
    assert list(shard.columns) == THERAPIES_SCHEMA.names
    expected = pd.concat(one_by_one, ignore_index=True)
    assert shard.astype(object).where(shard.notna(), None).values.tolist() == \
        expected.astype(object).where(expected.notna(), None).values.tolist()
    assert list(dict.fromkeys(shard["patient"])) == ["P08", "P03", "P02", "P01"]
    assert match_patients(pd.DataFrame(rows), evidence, []).empty


def test_missing_variant_column_is_named(evidence):
    rows = pd.DataFrame([call("P02", "EGFR", "missense", "p.L858R", "somatic")])
    with pytest.raises(InputError, match="missing column.*filter"):
        match_therapies(rows.drop(columns=["filter"]), evidence, patient="P02")


def test_cli_match_therapies_with_tmb(tmp_path, evidence):
    variants, evidence_path, tmb = (tmp_path / name for name in
                                    ("v.parquet", "e.parquet", "tmb.parquet"))
    pd.DataFrame([call("P02", "EGFR", "missense", "p.L858R", "somatic")]).to_parquet(variants)
    write_parquet(evidence, evidence_path, EVIDENCE_SCHEMA)
    write_parquet(pd.DataFrame([{"patient": "P02", "callable_mb": 1.2,
                                 "somatic_coding_mutations": 15, "tmb": 12.5,
                                 "tmb_source": "computed", "reportable": True, "reason": None}]),
                  tmb, TMB_SCHEMA)
    output = tmp_path / "therapies.parquet"
    assert main(["match-therapies", "--variants", str(variants), "--evidence", str(evidence_path),
                 "--patient", "P02", "--cancer-type", "NSCLC", "--tmb", str(tmb),
                 "--output", str(output)]) == 0
    table, metadata = read_parquet(output, expected_schema=THERAPIES_SCHEMA)
    assert {"Pembrolizumab", "Osimertinib"} <= drugs(table, amp_tier="IA")
    assert metadata["cancer_type"] == "NSCLC"


def test_cli_names_the_file_missing_a_column(tmp_path, evidence, capsys):
    variants, evidence_path = tmp_path / "v.parquet", tmp_path / "e.parquet"
    pd.DataFrame([call("P02", "EGFR", "missense", "p.L858R", "somatic")]).drop(
        columns=["status"]).to_parquet(variants)
    write_parquet(evidence, evidence_path, EVIDENCE_SCHEMA)
    assert main(["match-therapies", "--variants", str(variants), "--evidence", str(evidence_path),
                 "--patient", "P02", "--output", str(tmp_path / "out.parquet")]) == 2
    assert "v.parquet: missing column(s) status" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()
