"""Therapy evidence for copy-number driver calls, against the bundled CIViC and curated tables:
EGFR amplification with its CIViC tiers, BRCA2 biallelic loss -> PARP inhibitors, germline-only
labels, non-drivers, and the rows folding with the point calls' ones."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import REPO
from oncoweave.cli.main import main
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA, copy_number_drivers
from oncoweave.therapy.copy_number_matching import match_copy_number
from oncoweave.therapy.evidence import EVIDENCE_SCHEMA, build_evidence
from oncoweave.therapy.folding import fold_therapy_matches
from oncoweave.therapy.matching import THERAPIES_SCHEMA, match_patients

EVIDENCE_DIR = REPO / "resources" / "evidence"
PARP = {"Olaparib", "Rucaparib", "Talazoparib"}


@pytest.fixture(scope="module")
def built():
    return build_evidence(EVIDENCE_DIR / "civic_evidence_4genes.tsv", EVIDENCE_DIR / "curated.tsv")


@pytest.fixture(scope="module")
def evidence(built) -> pd.DataFrame:
    return built[0]


def drivers_of(cn_rows: list[tuple], points: list[dict] | None = None) -> pd.DataFrame:
    """CN_DRIVERS_SCHEMA rows of (patient, gene, GISTIC call) with the given point calls."""
    copy_number = pd.DataFrame([{"patient": patient, "sample": patient, "gene": gene,
                                 "log2_ratio": None, "total_copy_number": None,
                                 "minor_copy_number": None, "call": call, "source": "gistic"}
                                for patient, gene, call in cn_rows])
    columns = ["patient", "gene", "hgvs_p", "hgvs_c", "status", "filter", "driver_score"]
    return copy_number_drivers(copy_number, pd.DataFrame(points or [], columns=columns))


def by_evidence(table: pd.DataFrame) -> dict[str, str]:
    """CIViC/curated evidence id -> tier of the rows."""
    return {ids.split("; ")[0].removeprefix("CIViC:"): tier
            for ids, tier in zip(table["source_ids"], table["amp_tier"])}


def test_the_bundled_civic_copy_number_items_are_now_evidence(built):
    evidence, skipped = built
    amplification = evidence[evidence["matcher"] == "amplification"]
    # 4 AMPLIFICATION + 2 COPY NUMBER VARIATION items were dropped as unmatchable before.
    assert sorted(amplification["evidence_id"]) == ["EID3015", "EID5924", "EID5925", "EID854",
                                                   "EID911", "EID948"]
    assert skipped["variant not matchable on small-variant calls"] == 35  # was 41
    assert not (evidence["matcher"] == "deletion").any()  # the 2018 release names none


def test_egfr_amplification_matches_civic_evidence_with_its_tier(evidence):
    table = match_copy_number(drivers_of([("P1", "EGFR", "amplification")]), evidence,
                              [("P1", "lung adenocarcinoma")])
    assert list(table.columns) == THERAPIES_SCHEMA.names
    assert by_evidence(table) == {"EID948": "IB", "EID5924": "IB", "EID5925": "IB",
                                  "EID854": "IIC", "EID911": "IIC", "EID3015": "IID"}
    assert set(table["biomarker"]) == {"EGFR amplification"} and table["hgvs_p"].isna().all()
    best = table.iloc[0]
    assert best["amp_tier"] == "IB" and best["disease_match"] == "exact"
    assert best["match_reason"].endswith(": EGFR amplified (GISTIC 2)")
    resistance = table[table["direction"] == "resistance"]
    assert set(resistance["drug"]) == {"Osimertinib, Rociletinib"}  # reported, not hidden
    colorectal = match_copy_number(drivers_of([("P1", "EGFR", "amplification")]), evidence,
                                   [("P1", "colon adenocarcinoma")])
    assert by_evidence(colorectal)["EID854"] == "IB" and by_evidence(colorectal)["EID948"] == "IIC"


def test_brca2_biallelic_loss_gets_parp_inhibitors(evidence):
    calls = drivers_of([("P1", "BRCA2", "deep_deletion"), ("P2", "BRCA2", "loss")],
                       [{"patient": "P2", "gene": "BRCA2", "hgvs_p": "p.E1953*", "hgvs_c": "c.?",
                         "status": "somatic", "filter": "PASS", "driver_score": 0.93}])
    table = match_copy_number(calls, evidence, [("P1", "ovarian serous carcinoma"),
                                                ("P2", "prostate adenocarcinoma")])
    ovarian = table[table["patient"] == "P1"]
    olaparib = ovarian[(ovarian["drug"] == "Olaparib") & (ovarian["amp_tier"] == "IA")]
    assert by_evidence(olaparib) == {"PMID:30345884": "IA"}  # CUR21, SOLO-1
    assert set(ovarian["biomarker"]) == {"BRCA2 biallelic loss"}
    assert set(ovarian["variant_status"]) == {"somatic"}
    # Germline-only labels (talazoparib, CIViC germline items) do not cover a somatic loss.
    assert "Talazoparib" not in set(ovarian["drug"])
    prostate = table[table["patient"] == "P2"]
    assert {"Olaparib", "Rucaparib"} <= set(prostate.loc[prostate["amp_tier"] == "IA", "drug"])
    assert prostate.iloc[0]["match_reason"].startswith(
        "PATHOGENIC OR TRUNCATING: BRCA2 one copy lost (GISTIC -1) + BRCA2 p.E1953*")


def test_a_germline_second_hit_opens_the_germline_labels(evidence):
    calls = drivers_of([("P1", "BRCA2", "loss")],
                       [{"patient": "P1", "gene": "BRCA2", "hgvs_p": "p.S1982Rfs*22",
                         "hgvs_c": "c.?", "status": "germline", "filter": "PASS",
                         "driver_score": 0.99}])
    table = match_copy_number(calls, evidence, [("P1", "Her2-receptor Negative Breast Cancer")])
    assert "Talazoparib" in set(table.loc[table["amp_tier"] == "IA", "drug"])
    assert set(table["variant_status"]) == {"germline"}


def test_non_driver_calls_match_nothing(evidence):
    calls = drivers_of([("P1", "EGFR", "gain"), ("P1", "BRCA2", "loss"), ("P1", "BRCA1", "gain"),
                        ("P1", "TP53", "neutral")])
    assert match_copy_number(calls, evidence, [("P1", "lung adenocarcinoma")]).empty


def test_copy_number_rows_join_the_point_calls_and_fold_with_them(evidence):
    variants = pd.DataFrame([{"patient": "P1", "gene": "EGFR", "hgvs_p": "p.L858R",
                              "hgvs_c": "c.2573T>G", "consequence": "missense",
                              "status": "somatic", "filter": "PASS"}])
    calls = drivers_of([("P1", "EGFR", "amplification")])
    points = match_patients(variants, evidence, [("P1", "lung adenocarcinoma", None)])
    both = match_patients(variants, evidence, [("P1", "lung adenocarcinoma", None)],
                          copy_number=calls)
    assert len(both) == len(points) + 6
    assert both[both["biomarker"] == "EGFR p.L858R"].reset_index(drop=True).equals(points)
    folded = fold_therapy_matches(both)
    amplified = folded[folded["biomarker"] == "EGFR amplification"]
    assert dict(zip(amplified["drug"], amplified["best_tier"]))["Erlotinib, Gefitinib"] == "IB"
    assert amplified.set_index("drug").loc["Erlotinib, Gefitinib", "n_evidence"] == 2


def test_cli_therapies_writes_the_therapies_table(evidence, tmp_path, capsys):
    calls_path, evidence_path = tmp_path / "cn_drivers.parquet", tmp_path / "evidence.parquet"
    write_parquet(drivers_of([("P1", "EGFR", "amplification"), ("P2", "BRCA2", "deep_deletion")])
                  .astype({"total_copy_number": "Int64", "minor_copy_number": "Int64",
                           "log2_ratio": float}), calls_path, CN_DRIVERS_SCHEMA)
    write_parquet(evidence, evidence_path, EVIDENCE_SCHEMA)
    clinical = tmp_path / "clinical.tsv"
    clinical.write_text("patient\tcancer_type\nP1\tLung Adenocarcinoma\nP2\tOvarian Cancer\n")
    output = tmp_path / "therapies.parquet"
    assert main(["copy-number", "therapies", "--cn-drivers", str(calls_path), "--evidence",
                 str(evidence_path), "--clinical", str(clinical), "--output", str(output)]) == 0
    table, _ = read_parquet(output, expected_schema=THERAPIES_SCHEMA)
    assert set(table.loc[table["patient"] == "P2", "drug"]) & PARP
    tier_one = int(table["amp_tier"].isin(["IA", "IB"]).sum())
    assert f"({tier_one} tier I)" in capsys.readouterr().out and tier_one > 0
