"""The workflow's fusion evaluation: ablation outputs, per-patient fused predictions with intervals,
SHAP values and the reasons a task is skipped, on synthetic patient feature tables."""
import json

import numpy as np
import pandas as pd
import pytest

from oncoweave.core.errors import InputError
from oncoweave.fusion.evaluation import (
    PATIENT_PREDICTIONS_SCHEMA,
    SHAP_SCHEMA,
    EvaluationSettings,
    evaluate_patient_features,
    usable_modalities,
)
from oncoweave.fusion.evaluation_files import survival_cindex_by_model
from oncoweave.fusion.plots import PLOTS

FAST = EvaluationSettings(n_folds=3, inner_folds=2, n_bootstrap=20, interval_refits=12,
                          model="xgb", seed=3)


def synthetic_features(n=90, seed=0, censored_fraction=0.3) -> pd.DataFrame:
    """Survival driven equally by a genomic and an imaging feature; response by imaging. Every
    fifth patient has no image (NaN imaging), as a patient without a scan."""
    rng = np.random.default_rng(seed)
    genomic = rng.integers(0, 2, n).astype(float)
    imaging = rng.normal(size=n)
    log_hazard = 1.5 * genomic + 1.2 * imaging
    event_time = rng.exponential(np.exp(-log_hazard)) * 24
    censor = np.where(rng.random(n) < censored_fraction, rng.uniform(0, 24, n), np.inf)
    frame = pd.DataFrame({
        "patient": [f"S{i:03d}" for i in range(n)],
        "os_months": np.minimum(event_time, censor).round(2),
        "os_event": (event_time <= censor).astype(int),
        "response": (rng.random(n) < 1 / (1 + np.exp(2 * imaging))).astype(int),
        "gen_TP53_driver": genomic,
        "gen_noise": rng.normal(size=n),
        "rad_size": imaging + rng.normal(0, 0.3, n),
        "rad_noise": rng.normal(size=n),
        "clin_age": rng.integers(40, 80, n).astype(float),
    })
    frame.loc[frame.index % 5 == 0, ["rad_size", "rad_noise"]] = np.nan
    return frame


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluation")
    synthetic_features().to_parquet(folder / "patient_features.parquet")
    summary = evaluate_patient_features(folder / "patient_features.parquet", folder / "out",
                                        folder / "patient_predictions.parquet", FAST)
    return folder, summary


def test_every_declared_output_is_written(evaluated):
    folder, _ = evaluated
    for task, plots in PLOTS.items():
        for name in (*plots, "metrics.json", "predictions.parquet"):
            assert (folder / "out" / task / name).stat().st_size > 0, (task, name)
    for name in ("shap.parquet", "shap_summary.png", "ablation.tsv"):
        assert (folder / "out" / name).stat().st_size > 0


def test_fused_model_beats_each_modality_alone(evaluated):
    folder, _ = evaluated
    cindex = survival_cindex_by_model(folder / "out" / "survival" / "metrics.json")
    assert cindex["all"] > max(cindex["genomic"], cindex["radiomics"], cindex["clinical"])
    assert cindex["all"] > 0.65
    assert cindex["clinical"] < 0.62  # age carries nothing here


def test_patient_predictions_have_intervals_and_modalities(evaluated):
    folder, _ = evaluated
    predictions = pd.read_parquet(folder / "patient_predictions.parquet")
    assert list(predictions.columns) == PATIENT_PREDICTIONS_SCHEMA.names
    assert len(predictions) == 90 and predictions["patient"].is_unique
    assert predictions["risk"].between(0, 100).all()
    assert set(predictions["risk_group"]) == {"high", "low"}
    interval = predictions.dropna(subset=["risk_lower"])
    assert len(interval) > 80  # each patient is out of bag in ~1/3 of 12 refits
    assert (interval["risk_lower"] <= interval["risk_percentile"]).all()
    assert (interval["risk_percentile"] <= interval["risk_upper"]).all()
    assert predictions["response_probability"].between(0, 1).all()
    no_image = predictions["patient"].str[1:].astype(int) % 5 == 0
    assert (predictions.loc[no_image, "modalities_missing"] == "radiomics").all()
    assert (predictions.loc[~no_image, "modalities_used"] == "genomic, radiomics, clinical").all()
    # Out-of-fold risk follows the planted log hazard.
    features = synthetic_features().set_index("patient")
    risk = predictions.set_index("patient")["risk"]
    planted = 1.5 * features["gen_TP53_driver"] + 1.2 * features["rad_size"].fillna(0)
    assert np.corrcoef(risk.loc[planted.index], planted)[0, 1] > 0.5


def test_shap_values_explain_the_fused_model(evaluated):
    folder, _ = evaluated
    shap = pd.read_parquet(folder / "out" / "shap.parquet")
    assert list(shap.columns) == SHAP_SCHEMA.names
    importance = shap.assign(magnitude=shap["shap"].abs()).groupby("feature")["magnitude"].mean()
    assert set(importance.nlargest(2).index) == {"gen_TP53_driver", "rad_size"}
    assert shap.loc[shap["feature"] == "rad_size", "modality"].eq("radiomics").all()
    # A patient without an image has its imaging values missing, not zero.
    no_image = (shap["patient"] == "S000") & (shap["feature"] == "rad_size")
    assert shap.loc[no_image, "value"].isna().all()


def test_ablation_table_lists_both_tasks(evaluated):
    folder, _ = evaluated
    table = pd.read_csv(folder / "out" / "ablation.tsv", sep="\t").set_index("model")
    assert {"all", "genomic", "radiomics", "clinical", "all-minus-radiomics"} <= set(table.index)
    assert {"survival_cindex_mean", "survival_cindex_ci95", "response_auroc_mean"} <= set(
        table.columns)


def test_a_task_the_cohort_cannot_support_is_skipped_with_its_reason(tmp_path):
    features = synthetic_features(n=30, censored_fraction=0.0)
    features["response"] = 1
    features.to_parquet(tmp_path / "features.parquet")
    summary = evaluate_patient_features(tmp_path / "features.parquet", tmp_path / "out",
                                        tmp_path / "predictions.parquet", FAST)
    assert "0 censored among 30" in summary["survival"]["skipped"]
    assert "0 non-responders among 30" in summary["response"]["skipped"]
    metrics = json.loads((tmp_path / "out" / "survival" / "metrics.json").read_text())
    assert metrics["skipped"] == summary["survival"]["skipped"]
    assert pd.read_parquet(tmp_path / "out" / "survival" / "predictions.parquet").empty
    predictions = pd.read_parquet(tmp_path / "predictions.parquet")
    assert predictions["risk"].isna().all() and (predictions["risk_group"] == "").all()
    with pytest.raises(InputError, match="survival was not evaluated"):
        survival_cindex_by_model(tmp_path / "out" / "survival" / "metrics.json")


def test_two_runs_give_the_same_predictions_on_one_or_two_processes(tmp_path, evaluated):
    folder, _ = evaluated
    evaluate_patient_features(folder / "patient_features.parquet", tmp_path / "out",
                              tmp_path / "patient_predictions.parquet", FAST, n_jobs=2)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "patient_predictions.parquet"),
                                  pd.read_parquet(folder / "patient_predictions.parquet"))
    for task in ("survival", "response"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "out" / task / "predictions.parquet"),
            pd.read_parquet(folder / "out" / task / "predictions.parquet"))


def test_unknown_setting_is_refused():
    with pytest.raises(InputError, match="unknown fusion evaluation setting.*n_fold"):
        EvaluationSettings.from_config({"n_fold": 3}, seed=1)


def test_a_modality_too_few_patients_have_is_left_out_with_its_reason():
    from oncoweave.fusion.modalities import ModalityMap

    rows = pd.DataFrame({"gen_a": np.arange(12.0), "rad_a": [1.0] + [np.nan] * 11,
                         "rad_b": [2.0] + [np.nan] * 11})
    kept, dropped = usable_modalities(rows, ModalityMap({"genomic": ["gen_a"],
                                                         "radiomics": ["rad_a", "rad_b"]}), 3)
    assert list(kept) == ["genomic"]
    assert dropped == {"radiomics": "1 of 12 patients have radiomics features; 3-fold "
                                    "cross-validation uses a modality at least 6 patients have "
                                    "(2 per fold)"}


def test_a_fold_whose_modality_has_no_values_predicts_no_difference():
    """PCA needs two rows: a fold with one lesion keeps no component, and the model of nothing
    gives everyone the same risk and the training responder rate."""
    from oncoweave.fusion.modalities import ModalityMap
    from oncoweave.fusion.models import ModalityReducer, Reduced, XGBResponse, XGBSurvival

    X = pd.DataFrame({f"rad_{k}": [1.0] + [np.nan] * 9 for k in range(40)})
    reducer = ModalityReducer(ModalityMap({"radiomics": list(X.columns)}), method="pca", n_keep=4)
    time, event = np.arange(1.0, 11.0), np.array([1, 0] * 5)
    survival = Reduced(reducer, XGBSurvival(n_estimators=5)).fit(X, time, event)
    assert np.array_equal(survival.predict_risk(X), np.zeros(10))
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    response = Reduced(reducer, XGBResponse(n_estimators=5)).fit(X, labels)
    assert np.allclose(response.predict_proba(X)[:, 1], 0.2)


def test_the_join_takes_each_task_from_its_own_evaluation(evaluated, tmp_path):
    """Rule evaluate_fusion reads only the two tasks' shares: survival's risk columns, response's
    probability columns, both model names; a share of other patients is refused, named."""
    import shutil

    from oncoweave.core.tables import write_parquet
    from oncoweave.fusion.evaluation_files import TASK_PREDICTIONS_FILE, combine_task_outputs

    folder, _ = evaluated
    out = tmp_path / "out"
    shutil.copytree(folder / "out", out)
    joined = combine_task_outputs(out, tmp_path / "joined.parquet", ("survival", "response"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "joined.parquet"),
                                  pd.read_parquet(folder / "patient_predictions.parquet"))
    survival = pd.read_parquet(out / "survival" / TASK_PREDICTIONS_FILE)
    assert survival["response_probability"].isna().all() and survival["risk"].notna().all()
    assert joined["model"].str.startswith("survival: ").all()
    assert joined["model"].str.contains("; response: ").all()
    pd.testing.assert_frame_equal(pd.read_csv(out / "ablation.tsv", sep="\t"),
                                  pd.read_csv(folder / "out" / "ablation.tsv", sep="\t"))
    response = pd.read_parquet(out / "response" / TASK_PREDICTIONS_FILE)
    write_parquet(response.iloc[1:], out / "response" / TASK_PREDICTIONS_FILE,
                  PATIENT_PREDICTIONS_SCHEMA)
    with pytest.raises(InputError, match="response/patient_predictions.parquet: the response "
                                         "evaluation has other patients than the survival"):
        combine_task_outputs(out, tmp_path / "again.parquet", ("survival", "response"))
    assert not (tmp_path / "again.parquet").exists()
