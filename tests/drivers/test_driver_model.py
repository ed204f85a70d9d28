"""The driver scorer: shipped model and card, determinism, toy drivers, scoring entry points."""

import json

import pandas as pd
import pytest

from helpers import TEST_DATA
from oncoweave.cli.main import main
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.defaults import SHIPPED_MODEL_DIR
from oncoweave.drivers.evaluation import quick_check_metrics
from oncoweave.drivers.features import feature_table
from oncoweave.drivers.labels import build_training_set
from oncoweave.drivers.model import MODEL_FILE, DriverModel
from oncoweave.drivers.schema import DRIVERS_SCHEMA, SATURATION_SCHEMA
from oncoweave.drivers.scoring import score_drivers, score_saturation
from oncoweave.drivers.training import CARD_JSON
from oncoweave.variants.schema import VARIANTS_SCHEMA

TOY_VARIANTS = TEST_DATA / "drivers" / "toy_variants.parquet"
PLANTED = {"p.R175H", "p.R248Q", "p.R273H", "p.L858R", "p.T790M", "p.E746_A750del",
           "p.E23Vfs*17", "p.S1982Rfs*22"}


@pytest.fixture(scope="module")
def training(knowledge):
    return build_training_set(knowledge=knowledge)


@pytest.fixture(scope="module")
def model():
    return DriverModel.load(SHIPPED_MODEL_DIR)


@pytest.fixture(scope="module")
def card():
    return json.loads((SHIPPED_MODEL_DIR / CARD_JSON).read_text())


def test_card_metrics_hold_when_recomputed(card, training, knowledge):
    """Re-run the card's quick residue-grouped CV from the repo's data and compare."""
    measured = quick_check_metrics(feature_table(training, knowledge), training, card["seed"])
    for gene, auroc in card["metrics"]["quick_check_auroc"].items():
        assert measured[gene] >= auroc - 0.01, gene
    for gene in ("TP53", "BRCA1", "BRCA2", "EGFR"):
        assert card["metrics"]["grouped_cv"][gene]["all"]["auroc"] >= 0.9
    assert card["metrics"]["grouped_cv"]["TP53"]["missense"]["auroc"] >= 0.9
    # Label counts in the card are those of the training set the repo rebuilds.
    assert card["data"]["training_rows"] == len(training)


def test_same_seed_gives_identical_model_file(training, knowledge, tmp_path):
    subset = training.sample(800, random_state=1)
    features = feature_table(subset, knowledge)
    for name in ("a", "b"):
        DriverModel(seed=7, params={"n_estimators": 20}).fit(
            features, subset["label"], subset["residue_group"]).save(tmp_path / name)
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()


def test_planted_toy_drivers_outscore_the_germline_snvs(model, knowledge, tmp_path):
    variants, _ = read_parquet(TOY_VARIANTS, VARIANTS_SCHEMA)
    drivers = score_drivers(variants, model, knowledge)
    write_parquet(drivers, tmp_path / "drivers.parquet", DRIVERS_SCHEMA)
    planted = drivers[drivers["hgvs_p"].isin(PLANTED)]
    assert len(planted) == len(PLANTED)
    # The toy's germline pool is random SNVs; those that land in a splice region are not
    # benign by construction, so the comparison is with the coding/intronic ones.
    germline = drivers[(drivers["status"] == "germline")
                       & drivers["consequence"].isin(["missense", "synonymous", "intron"])]
    assert planted["driver_score"].min() > germline["driver_score"].max()
    assert planted["driver_score"].between(0, 1).all()
    r175h = planted[planted["hgvs_p"] == "p.R175H"].iloc[0]
    reasons = [item["reason"] for item in json.loads(r175h["top_features"])]
    assert any(r.startswith("recurrent hotspot") for r in reasons)
    assert (drivers["clonality"][drivers["status"] == "germline"] == "germline").all()


def test_score_variants_cli_keeps_rows_and_explains_failures(tmp_path):
    table = tmp_path / "changes.tsv"
    table.write_text("id\tgene\thgvs_p\n1\tTP53\tp.Arg175His\n2\tKRAS\tp.G12D\n"
                     "3\tBRCA1\tp.E23fs\n4\tTP53\tp.R175\n5\tTP53\tp.A119A\n")
    assert main(["score-variants", "--input", str(table), "--output",
                 str(tmp_path / "out.parquet")]) == 0
    out, _ = read_parquet(tmp_path / "out.parquet")
    assert out["id"].tolist() == ["1", "2", "3", "4", "5"]
    assert out["hgvs_p"].tolist()[0] == "p.R175H"
    assert "not scored" in out["reason"][1] and "cannot parse" in out["reason"][3]
    assert pd.isna(out["driver_score"][1]) and out["reason"][[0, 2, 4]].isna().all()
    assert out["driver_score"][0] > 0.9 > 0.1 > out["driver_score"][4]


def test_score_variants_cli_genomic_tsv(tmp_path):
    table = tmp_path / "alleles.tsv"
    table.write_text("chrom\tpos\tref\talt\nchr7\t55191822\tT\tG\nchr7\tx\tT\tG\n"
                     "chr17\t7675088\tG\tA\n")
    assert main(["score-variants", "--input", str(table), "--output",
                 str(tmp_path / "out.parquet")]) == 0
    out, _ = read_parquet(tmp_path / "out.parquet")
    assert out["hgvs_p"][0] == "p.L858R" and out["consequence"][0] == "missense"
    assert "not a positive integer" in out["reason"][1]
    assert "does not match" in out["reason"][2]


def test_score_variants_cli_rejects_a_table_without_usable_columns(tmp_path, capsys):
    table = tmp_path / "bad.tsv"
    table.write_text("protein\nR175H\n")
    assert main(["score-variants", "--input", str(table), "--output",
                 str(tmp_path / "out.parquet")]) == 2
    assert "needs columns gene + hgvs_p" in capsys.readouterr().err


def test_saturation_covers_every_cds_snv(model, knowledge):
    table = score_saturation(model, knowledge, genes=("TP53",))
    structure = knowledge.genes["TP53"]
    splice_sites = 4 * (len(structure.exons) - 1)
    assert len(table) == 3 * (structure.transcript.cds_length + splice_sites)
    means = table.groupby("consequence")["driver_score"].mean()
    assert means["synonymous"] < means["missense"] < means["stop_gained"]
    assert table.columns.tolist() == SATURATION_SCHEMA.names


def test_score_variants_cli_reads_a_vcf(tmp_path):
    vcf = tmp_path / "calls.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr17>\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "chr17\t7675088\t.\tC\tT\t.\tPASS\t.\n")
    assert main(["score-variants", "--input", str(vcf), "--output",
                 str(tmp_path / "out.parquet")]) == 0
    out, _ = read_parquet(tmp_path / "out.parquet")
    assert out["hgvs_p"].tolist() == ["p.R175H"] and out["gene"].tolist() == ["TP53"]
