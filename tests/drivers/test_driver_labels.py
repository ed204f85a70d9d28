"""The driver training set (oncoweave.drivers.labels)."""

import pytest

from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.labels import (
    CLINVAR_SOURCES,
    TRAINING_SCHEMA,
    _egfr_label,
    build_training_set,
)


@pytest.fixture(scope="module")
def training():
    return build_training_set()


def _row(training, gene, hgvs_p):
    rows = training[(training["gene"] == gene) & (training["hgvs_p"] == hgvs_p)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_labels_from_each_source(training):
    r175h = _row(training, "TP53", "p.R175H")
    assert (r175h["label"], r175h["label_source"]) == (1, "clinvar_calhoun2025")
    assert _row(training, "TP53", "p.A119=")["label"] == 0
    assert _row(training, "TP53", "p.V31*")["label"] == 1  # legacy 'p.V31X' in the truth set
    # L858R is CLNSIG=drug_response but ONC=Oncogenic in ClinVar.
    l858r = _row(training, "EGFR", "p.L858R")
    assert (l858r["label"], l858r["label_source"]) == (1, "clinvar_vcf_egfr")
    assert (training["label_source"] == "cancerhotspots_v2").sum() > 400


def test_every_gene_has_both_classes_from_clinvar(training):
    clinvar = training[training["label_source"].isin(CLINVAR_SOURCES)]
    counts = clinvar.groupby("gene")["label"].agg(["min", "max", "size"])
    assert set(counts.index) == {"TP53", "BRCA1", "BRCA2", "EGFR"}
    assert (counts["min"] == 0).all() and (counts["max"] == 1).all()
    assert (counts["size"] > 300).all()


def test_one_row_per_variant_and_parquet_round_trip(training, tmp_path):
    protein = training.dropna(subset=["hgvs_p"])
    assert not protein.duplicated(["gene", "hgvs_p"]).any()
    write_parquet(training, tmp_path / "t.parquet", TRAINING_SCHEMA)
    back, _ = read_parquet(tmp_path / "t.parquet", TRAINING_SCHEMA)
    assert back["label"].tolist() == training["label"].tolist()


@pytest.mark.parametrize("onc, clnsig, label", [
    (("Oncogenic",), ("drug_response",), 1),
    (("Likely_oncogenic",), ("Uncertain_significance",), 1),
    (None, ("Likely_benign",), 0),
    (None, ("Benign/Likely_benign",), 0),
    (None, ("Conflicting_classifications_of_pathogenicity",), None),
    (None, ("Uncertain_significance",), None),
])
def test_egfr_clinvar_label_rule(onc, clnsig, label):
    assert _egfr_label(onc, clnsig) == label
