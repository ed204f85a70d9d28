"""The fusion stage's tables on the toy cohort: one feature row per patient, similar patients."""

from __future__ import annotations

import pandas as pd
import pytest

from oncoweave.fusion.feature_table import read_patient_features

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def features(toy_run):
    workdir, _ = toy_run
    table, modalities, metadata = read_patient_features(
        workdir / "results/cohort/patient_features.parquet")
    return workdir, table.set_index("patient"), modalities


def test_one_row_per_patient_and_missing_stays_missing(features):
    _, table, modalities = features
    assert list(table.index) == [f"P{n:02d}" for n in range(1, 65)]
    assert set(modalities) == {"genomic", "radiomics", "deep", "cnn", "clinical"}
    assert modalities["cnn"] == ["img_cnn_prob"]  # the lesion classifier's out-of-fold probability
    imaging = modalities["radiomics"] + modalities["deep"] + modalities["cnn"]
    assert table.loc["P07", imaging].isna().all(), "P07 has no image: imaging must stay missing"
    assert table.loc[["P01", "P05"], imaging].notna().all().all()
    # P08 has no normal: germline and LOH are unknown, not 0.
    assert table.loc["P08", ["gen_BRCA1_germline_pathogenic", "gen_TP53_loh"]].isna().all()
    # The planted drivers: P01 TP53 p.R175H with the germline BRCA1 frameshift, P02 EGFR L858R.
    assert table.loc["P01", "gen_TP53_driver"] == 1 and table.loc["P02", "gen_EGFR_driver"] == 1
    assert table.loc["P01", "gen_BRCA1_germline_pathogenic"] == 1
    assert table.os_months.notna().all() and set(table.os_event) <= {0, 1}


def test_similar_patients_are_others_with_what_they_share(features):
    workdir, table, _ = features
    similar = pd.read_parquet(workdir / "results/fusion/similar_patients.parquet")
    assert (similar.patient != similar.neighbour).all()
    assert similar.groupby("patient").size().max() == 3
    assert set(similar.patient) == set(table.index)
    for row in similar.itertuples():
        genes = [] if pd.isna(row.shared_drivers) else [
            item.split(" ")[0] for item in row.shared_drivers.split("; ")]
        for gene in genes:  # a shared driver gene is a driver gene of both patients
            assert table.loc[row.patient, f"gen_{gene}_driver"] == 1, (row.patient, gene)
            assert table.loc[row.neighbour, f"gen_{gene}_driver"] == 1, (row.neighbour, gene)
        if "EGFR" in genes:
            assert "Erlotinib" in row.shared_therapies or "Osimertinib" in row.shared_therapies
        assert row.neighbour_os_months == pytest.approx(table.loc[row.neighbour, "os_months"])
    p02 = similar[similar.patient == "P02"]
    assert p02.shared_drivers.fillna("").str.contains("EGFR").any()


def test_fusion_network_bundle_and_fused_representation(features):
    import json

    workdir, table, _ = features
    metadata = json.loads((workdir / "results/fusion/model/configs/metadata.json").read_text())
    assert metadata["seed"] == 20241201 and len(metadata["loss_curve"]) >= 2
    assert "epoch" in (workdir / "logs/train_fusion/model.log").read_text()
    embedding = pd.read_parquet(workdir / "results/fusion/embedding.parquet")
    assert list(embedding.patient) == list(table.index)
    assert embedding.filter(like="fused_").notna().all().all()


def test_fused_model_recovers_the_toy_hidden_risk(features):
    """The toy outcome follows the phantoms' hidden risk, a TP53 driver and stage: out of fold,
    the fused model is well above chance and at least as good as the best modality alone, up to
    one per-fold standard deviation of its own C-index (on 64 patients the inner CV cannot tell
    candidates that close apart: which side of the best modality it lands on moved with the
    encoder's thread count)."""
    import json

    from oncoweave.fusion.evaluation_files import survival_cindex_by_model

    workdir, table, _ = features
    evaluation = workdir / "results/fusion/evaluation"
    cindex = survival_cindex_by_model(evaluation / "survival/metrics.json")
    metrics = json.loads((evaluation / "survival/metrics.json").read_text())
    fused = next(row for row in metrics["ablation"] if row["model"] == "all")
    assert cindex["all"] > 0.6 and fused["cindex_ci95"][0] > 0.5, fused
    singles = {m: cindex[m] for m in ("genomic", "radiomics", "deep", "cnn", "clinical")}
    assert cindex["all"] >= max(singles.values()) - fused["cindex_sd"], cindex
    assert metrics["settings"]["n_patients"] == 64
    response = json.loads((evaluation / "response/metrics.json").read_text())
    assert "skipped" not in response and {r["model"] for r in response["ablation"]} >= {"all"}


def test_patient_predictions_cover_every_patient(features):
    workdir, table, _ = features
    predictions = pd.read_parquet(workdir / "results/fusion/patient_predictions.parquet")
    assert set(predictions.patient) == set(table.index)
    assert predictions.risk.between(0, 100).all()
    assert predictions.response_probability.between(0, 1).all()
    p07 = predictions.set_index("patient").loc["P07"]
    assert p07.modalities_missing == "radiomics, deep, cnn"  # no image, still a prediction
    # Out of fold, the fused risk follows the planted hidden risk of the phantom patients.
    from scipy.stats import spearmanr

    from oncoweave.toy.clinical import hidden_risk

    phantoms = predictions[predictions.patient.str[1:].astype(int) >= 9]
    planted = [hidden_risk(int(p[1:]), 1) for p in phantoms.patient]
    assert spearmanr(planted, phantoms.risk).statistic > 0.3
