"""Copy-number driver calls from hand-written copy-number and drivers rows: EGFR amplification,
biallelic losses (deep deletion; loss or LOH + a damaging second hit), a loss alone or with a
benign mutation, the fusion columns and the CLI."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from oncoweave.cli.main import main
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA, copy_number_drivers, fusion_columns
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA


def cn(patient: str, gene: str, call: str, source: str = "gistic", log2: float | None = None,
       total: int | None = None, minor: int | None = None) -> dict:
    return {"patient": patient, "sample": f"{patient}-T", "gene": gene, "log2_ratio": log2,
            "total_copy_number": total, "minor_copy_number": minor, "call": call,
            "source": source}


def point(patient: str, gene: str, hgvs_p: str, score: float, status: str = "somatic",
          filter: str = "PASS") -> dict:
    return {"patient": patient, "gene": gene, "hgvs_p": hgvs_p, "hgvs_c": "c.?", "status": status,
            "filter": filter, "driver_score": score}


def judged(cn_rows: list[dict], point_rows: list[dict], **options) -> dict[tuple, dict]:
    drivers = pd.DataFrame(point_rows, columns=list(point("P", "TP53", "p.X", 0)))
    table = copy_number_drivers(pd.DataFrame(cn_rows), drivers, **options)
    assert list(table.columns) == CN_DRIVERS_SCHEMA.names
    return {(row["patient"], row["gene"]): row for row in table.to_dict("records")}


def test_egfr_amplification_is_a_driver_and_a_gain_is_not():
    rows = judged([cn("P1", "EGFR", "amplification"), cn("P2", "EGFR", "gain"),
                   cn("P3", "EGFR", "amplification", "segments", log2=1.35)], [])
    assert rows["P1", "EGFR"]["reason"] == "EGFR amplified (GISTIC 2)"
    assert rows["P1", "EGFR"]["driver"] and rows["P1", "EGFR"]["alteration"] == "amplification"
    assert not rows["P1", "EGFR"]["biallelic"]
    assert not rows["P2", "EGFR"]["driver"] and pd.isna(rows["P2", "EGFR"]["alteration"])
    assert rows["P2", "EGFR"]["reason"].startswith("EGFR gain (GISTIC 1): low-level")
    assert rows["P3", "EGFR"]["reason"] == "EGFR amplified (log2 1.35)"


@pytest.mark.parametrize("gene", ["BRCA1", "BRCA2"])
def test_a_brca_deep_deletion_is_a_biallelic_loss_driver(gene):
    row = judged([cn("P1", gene, "deep_deletion")], [])["P1", gene]
    assert row["biallelic"] and row["driver"] and row["alteration"] == "biallelic_loss"
    assert row["reason"] == f"{gene} deep deletion (GISTIC -2): both copies lost, biallelic loss"
    assert pd.isna(row["second_hit"]) and row["origin"] == "somatic"


def test_loss_plus_a_damaging_mutation_is_biallelic_and_names_the_hit():
    rows = judged([cn("P1", "BRCA2", "loss"), cn("P2", "TP53", "loh", "cnvkit", total=2,
                                                  minor=0)],
                  [point("P1", "BRCA2", "p.E1953*", 0.93), point("P1", "BRCA2", "p.V2466A", 0.1),
                   point("P2", "TP53", "p.R175H", 0.97)])
    brca2 = rows["P1", "BRCA2"]
    assert brca2["biallelic"] and brca2["driver"]
    assert (brca2["second_hit"], brca2["second_hit_score"]) == ("p.E1953*", 0.93)  # the best hit
    assert brca2["reason"] == ("BRCA2 one copy lost (GISTIC -1) + BRCA2 p.E1953* (somatic, "
                               "driver_score 0.93) >= 0.5: biallelic loss")
    tp53 = rows["P2", "TP53"]
    assert tp53["biallelic"] and tp53["reason"].startswith(
        "TP53 copy-neutral LOH (2 copies, minor allele 0) + TP53 p.R175H")


def test_loss_alone_or_with_a_benign_or_filtered_mutation_is_not_biallelic():
    rows = judged([cn("P1", "BRCA1", "loss"), cn("P2", "BRCA1", "loss"),
                   cn("P3", "BRCA1", "loss")],
                  [point("P2", "BRCA1", "p.S1613G", 0.04),
                   point("P3", "BRCA1", "p.E1250*", 0.95, filter="LowQual"),
                   point("P1", "BRCA2", "p.E1953*", 0.93)])  # another gene: no second hit
    assert rows["P1", "BRCA1"]["reason"] == ("BRCA1 one copy lost (GISTIC -1); no second hit "
                                             "found; not a driver")
    assert rows["P2", "BRCA1"]["reason"] == (
        "BRCA1 one copy lost (GISTIC -1); no second hit found (BRCA1 p.S1613G (somatic, "
        "driver_score 0.04) < 0.5: not damaging); not a driver")
    assert pd.isna(rows["P3", "BRCA1"]["second_hit"])
    assert not any(row["biallelic"] or row["driver"] for row in rows.values())


def test_the_driver_threshold_decides_the_second_hit():
    cn_rows, point_rows = [cn("P1", "TP53", "loss")], [point("P1", "TP53", "p.R248Q", 0.6)]
    assert judged(cn_rows, point_rows)["P1", "TP53"]["biallelic"]
    assert not judged(cn_rows, point_rows, min_driver_score=0.7)["P1", "TP53"]["biallelic"]


def test_a_germline_second_hit_makes_a_germline_biallelic_loss():
    row = judged([cn("P1", "BRCA2", "loss")],
                 [point("P1", "BRCA2", "p.S1982Rfs*22", 0.99, status="germline")])["P1", "BRCA2"]
    assert row["biallelic"] and row["origin"] == "germline"
    assert row["second_hit_status"] == "germline"


def test_other_genes_and_calls_are_not_drivers():
    rows = judged([cn("P1", "MYC", "amplification"), cn("P1", "TP53", "gain"),
                   cn("P1", "EGFR", "deep_deletion"), cn("P1", "BRCA1", "neutral")], [])
    assert ("P1", "MYC") not in rows  # the driver genes only
    assert not any(row["driver"] for row in rows.values())
    assert rows["P1", "EGFR"]["reason"] == ("EGFR deep deletion (GISTIC -2): not a driver of an "
                                            "oncogene")


def test_fusion_columns_per_patient():
    table = copy_number_drivers(pd.DataFrame([
        cn("P1", "BRCA2", "deep_deletion"), cn("P1", "EGFR", "amplification"),
        cn("P2", "TP53", "loss"), cn("P2", "BRCA1", "neutral", "cnvkit", total=2, minor=0)]),
        pd.DataFrame([point("P2", "TP53", "p.R273H", 0.9)]))
    wide = fusion_columns(table)
    assert list(wide.index) == ["P1", "P2"] and len(wide.columns) == 12
    assert wide.loc["P1", ["gen_BRCA2_cn", "gen_BRCA2_loh", "gen_BRCA2_biallelic"]].tolist() == [
        -2.0, 1.0, 1.0]
    assert wide.loc["P1", "gen_EGFR_cn"] == 2.0 and wide.loc["P1", "gen_EGFR_biallelic"] == 0.0
    assert wide.loc["P2", ["gen_TP53_cn", "gen_TP53_loh", "gen_TP53_biallelic"]].tolist() == [
        -1.0, 1.0, 1.0]
    assert wide.loc["P2", "gen_BRCA1_loh"] == 1.0  # minor allele 0 at two copies
    assert math.isnan(wide.loc["P2", "gen_EGFR_cn"]) and math.isnan(wide.loc["P1", "gen_TP53_loh"])


def test_cli_drivers_reads_the_copy_number_and_drivers_tables(tmp_path, capsys):
    from oncoweave.drivers.schema import DRIVERS_SCHEMA

    copy_number = tmp_path / "genes.parquet"
    write_parquet(pd.DataFrame([cn("P1", "BRCA2", "loss"), cn("P1", "EGFR", "amplification")])
                  .astype({"total_copy_number": "Int64", "minor_copy_number": "Int64"}),
                  copy_number, COPY_NUMBER_SCHEMA)
    drivers = pd.DataFrame({name: [None] for name in DRIVERS_SCHEMA.names})
    drivers.loc[0, ["patient", "gene", "hgvs_p", "hgvs_c", "status", "filter", "driver_score"]] = [
        "P1", "BRCA2", "p.E1953*", "c.5857G>T", "somatic", "PASS", 0.93]
    path = tmp_path / "drivers.parquet"
    drivers.to_parquet(path)
    output = tmp_path / "cn_drivers.parquet"
    assert main(["copy-number", "drivers", "--copy-number", str(copy_number), "--drivers",
                 str(path), "--output", str(output)]) == 0
    table, _ = read_parquet(output, expected_schema=CN_DRIVERS_SCHEMA)
    assert table["biallelic"].tolist() == [True, False] and table["driver"].all()
    assert "2 copy-number drivers (1 biallelic losses)" in capsys.readouterr().out
