"""Therapy matches folded to one row per alteration and drug (therapy.folding)."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import REPO
from oncoweave.core.errors import InputError
from oncoweave.therapy.evidence import build_evidence
from oncoweave.therapy.folding import (
    FOLDED_COLUMNS,
    drug_key,
    drug_label,
    fold_therapy_matches,
)
from oncoweave.therapy.matching import THERAPIES_SCHEMA, match_therapies

EVIDENCE_DIR = REPO / "resources" / "evidence"


def match(**values) -> dict:
    """A THERAPIES_SCHEMA row: a BRCA1 frameshift matched to Olaparib in ovarian cancer."""
    row = {"patient": "X1", "biomarker": "BRCA1 p.E23Vfs*17", "gene": "BRCA1",
           "hgvs_p": "p.E23Vfs*17", "hgvs_c": "c.68_69del", "variant_status": "somatic",
           "drug": "Olaparib", "evidence_level": "A", "amp_tier": "IIC",
           "direction": "sensitivity", "disease": "Ovarian Cancer", "disease_match": "other",
           "source_ids": "CIViC:EID1", "match_reason": "LOSS-OF-FUNCTION: truncating"}
    row.update(values)
    return row


def fold(rows: list[dict]) -> pd.DataFrame:
    return fold_therapy_matches(pd.DataFrame(rows, columns=THERAPIES_SCHEMA.names))


def test_repeats_across_tumour_types_are_one_row_at_the_best_tier():
    folded = fold([
        match(),
        match(amp_tier="IID", evidence_level="C", disease="Prostate Cancer",
              source_ids="CIViC:EID2"),
        match(amp_tier="IA", disease="Breast Cancer", disease_match="exact",
              source_ids="FDA:olaparib label"),
        match(amp_tier="IB", evidence_level="B", direction="resistance",
              disease="Breast Cancer", disease_match="exact", source_ids="CIViC:EID3")])
    assert len(folded) == 1
    row = folded.iloc[0]
    assert (row["best_tier"], row["best_evidence_level"], row["n_evidence"]) == ("IA", "A", 4)
    assert (row["best_disease"], row["best_disease_match"]) == ("Breast Cancer", "exact")
    assert row["best_source_ids"] == "FDA:olaparib label"
    # every item is kept, best first; the resistance item is named in the row, not folded away
    assert [item["source_ids"] for item in row["evidence"]] == [
        "FDA:olaparib label", "CIViC:EID3", "CIViC:EID1", "CIViC:EID2"]
    assert row["directions"] == "sensitivity; resistance"
    assert row["evidence"][0]["match_reason"] == "LOSS-OF-FUNCTION: truncating"


def test_drug_order_and_separator_do_not_make_another_therapy():
    assert drug_key("Cisplatin, Carboplatin") == drug_key("carboplatin + CISPLATIN") \
        == ("carboplatin", "cisplatin")
    assert drug_label("Cisplatin, Carboplatin") == "Carboplatin, Cisplatin"
    assert drug_label("Trametinib + Dabrafenib") == "Dabrafenib + Trametinib"
    assert drug_key(None) is None and drug_key("") is None and drug_label(float("nan")) is None
    folded = fold([
        match(drug="Cisplatin, Carboplatin", amp_tier="IID", source_ids="CIViC:EID1"),
        match(drug="Carboplatin + Cisplatin", amp_tier="IIC", source_ids="CIViC:EID2"),
        match(drug="Carboplatin,Cisplatin", amp_tier="IID", source_ids="CIViC:EID3")])
    assert len(folded) == 1
    row = folded.iloc[0]
    assert (row["drug"], row["best_tier"], row["n_evidence"]) == (
        "Carboplatin + Cisplatin", "IIC", 3)
    # the items keep the drugs as their source listed them
    assert [item["drug"] for item in row["evidence"]] == [
        "Carboplatin + Cisplatin", "Cisplatin, Carboplatin", "Carboplatin,Cisplatin"]


def test_two_drugs_of_one_alteration_and_one_drug_of_two_alterations_are_rows_apart():
    tp53 = {"biomarker": "TP53 p.R175H", "gene": "TP53", "hgvs_p": "p.R175H"}
    folded = fold([
        match(drug="Talazoparib", amp_tier="IIC"),
        match(drug="Olaparib", amp_tier="IIC"),
        match(drug="Olaparib, Cediranib", amp_tier="IIC"),  # another therapy than Olaparib
        match(**tp53, drug="Olaparib", amp_tier="IIC"),
        match(patient="X2", amp_tier="IA"),  # another patient's match stays its own
    ])
    assert list(zip(folded["patient"], folded["gene"], folded["drug"])) == [
        ("X1", "BRCA1", "Cediranib, Olaparib"), ("X1", "BRCA1", "Olaparib"),
        ("X1", "BRCA1", "Talazoparib"), ("X1", "TP53", "Olaparib"), ("X2", "BRCA1", "Olaparib")]
    assert folded["n_evidence"].tolist() == [1, 1, 1, 1, 1]


def test_sorted_best_tier_then_gene_then_drug_whatever_the_input_order():
    rows = [
        match(biomarker="TP53 p.R175H", gene="TP53", drug="Doxorubicin", amp_tier="IID"),
        match(biomarker="TP53 p.R175H", gene="TP53", drug="Alemtuzumab", amp_tier="IIC"),
        match(drug="Rucaparib", amp_tier="IIC"),
        match(biomarker="EGFR p.L858R", gene="EGFR", drug="Osimertinib", amp_tier="IA"),
        match(drug="Olaparib", amp_tier="IID"),
        match(drug="Olaparib", amp_tier="IB", source_ids="CIViC:EID9"),
        match(biomarker="TP53 p.R175H", gene="TP53", drug=None, amp_tier=None,
              evidence_level=None, direction="no_approved_therapy"),
        match(biomarker="TMB 12.0 mut/Mb", gene=None, hgvs_p=None, hgvs_c=None,
              variant_status=None, drug="Pembrolizumab", amp_tier="IIC",
              disease="Solid Tumor"),
    ]
    folded = fold(rows)
    expected = [("IA", "EGFR p.L858R", "Osimertinib"), ("IB", "BRCA1 p.E23Vfs*17", "Olaparib"),
                ("IIC", "BRCA1 p.E23Vfs*17", "Rucaparib"), ("IIC", "TP53 p.R175H", "Alemtuzumab"),
                ("IIC", "TMB 12.0 mut/Mb", "Pembrolizumab"),  # no gene: after the genes
                ("IID", "TP53 p.R175H", "Doxorubicin"), (None, "TP53 p.R175H", None)]
    order = folded[["best_tier", "biomarker", "drug"]].astype(object)
    assert list(order.where(order.notna(), None).itertuples(index=False, name=None)) == expected
    assert folded["n_evidence"].sum() == len(rows), "no item is lost or counted twice"
    for seed in range(3):
        shuffled = fold(pd.DataFrame(rows).sample(frac=1, random_state=seed).to_dict("records"))
        pd.testing.assert_frame_equal(shuffled, folded)


def test_empty_matches_fold_to_an_empty_table_with_the_columns():
    folded = fold([])
    assert folded.empty and list(folded.columns) == list(FOLDED_COLUMNS)


def test_a_table_without_the_therapy_columns_is_refused():
    with pytest.raises(InputError, match="missing column.*amp_tier"):
        fold_therapy_matches(pd.DataFrame([match()]).drop(columns="amp_tier"))


def test_shipped_evidence_for_a_brca1_carrier_folds_without_losing_an_item():
    """The toy cohort's P01 (breast cancer: somatic TP53 R175H, germline BRCA1 founder
    frameshift) against the shipped CIViC and curated evidence."""
    evidence, _ = build_evidence(EVIDENCE_DIR / "civic_evidence_4genes.tsv",
                                 EVIDENCE_DIR / "curated.tsv")
    calls = pd.DataFrame([
        {"patient": "P01", "gene": "TP53", "hgvs_p": "p.R175H", "hgvs_c": "c.524G>A",
         "consequence": "missense", "status": "somatic", "filter": "PASS",
         "driver_score": 0.99},
        {"patient": "P01", "gene": "BRCA1", "hgvs_p": "p.Q1756Pfs*74", "hgvs_c": "c.5266dup",
         "consequence": "frameshift", "status": "germline", "filter": "PASS",
         "driver_score": 0.99}])
    matches = match_therapies(calls, evidence, patient="P01", cancer_type="Breast Cancer")
    folded = fold_therapy_matches(matches)
    distinct = {(row.biomarker, drug_key(row.drug)) for row in matches.itertuples()}
    assert len(folded) == len(distinct) < len(matches)
    assert folded["n_evidence"].sum() == len(matches)
    olaparib = folded[(folded["gene"] == "BRCA1") & (folded["drug"] == "Olaparib")].iloc[0]
    assert olaparib["best_tier"] == "IA" and olaparib["best_disease_match"] == "exact"
    assert "resistance" in olaparib["directions"].split("; ")
    assert olaparib["n_evidence"] == ((matches["biomarker"] == olaparib["biomarker"])
                                      & (matches["drug"] == "Olaparib")).sum()
    assert folded.iloc[0]["best_tier"] == "IA", "tier I first"
