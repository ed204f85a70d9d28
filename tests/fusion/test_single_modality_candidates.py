"""The fused model's blend of its best early-fusion and best single-modality candidates, on
synthetic cohorts where one wide modality carries the risk in a few columns and another is noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from oncoweave.fusion.candidates import (
    Blend,
    BlendedSelection,
    default_candidates,
    default_model_factory,
)
from oncoweave.fusion.cross_validation import ablation
from oncoweave.fusion.evaluation import TaskOutcome, shap_values
from oncoweave.fusion.folds import split_folds
from oncoweave.fusion.modalities import ModalityMap
from oncoweave.fusion.models import InnerCVSelection, PenalisedCox, XGBResponse
from oncoweave.fusion.survival_metrics import harrell_c


def cohort(n: int = 150, width: int = 300, n_noise: int = 300, seed: int = 1) -> pd.DataFrame:
    """``width`` 'sig' columns of which the first three set the hazard; ``n_noise`` unrelated
    'noise' columns; ~30 % censoring; a binary 'response' from the same three columns."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, width))
    risk = signal[:, :3] @ np.array([1.0, -0.7, 0.5])
    event_time = rng.exponential(1 / np.exp(risk))
    censor_time = rng.exponential(3.0, size=n)
    table = pd.DataFrame({f"sig_{i}": signal[:, i] for i in range(width)}
                         | {f"noise_{i}": rng.normal(size=n) for i in range(n_noise)},
                         index=pd.Index([f"P{i:04d}" for i in range(n)], name="id"))
    table["time"] = np.minimum(event_time, censor_time)
    table["event"] = (event_time <= censor_time).astype(int)
    table["response"] = (risk + rng.normal(scale=0.7, size=n) > 0.3).astype(int)
    return table


def groups(table: pd.DataFrame) -> ModalityMap:
    return ModalityMap.from_affixes([c for c in table if c.startswith(("sig_", "noise_"))],
                                    {"signal": "sig_", "noise": "noise_"})


def test_fused_model_recovers_most_of_what_early_fusion_loses_to_a_diluted_modality():
    # 150 patients, the risk in 3 of 300 columns, 300 noise columns: early fusion's screening
    # and components pick up the noise modality and lose to the signal modality alone.
    table = cohort()
    modality_map = groups(table)
    folds = split_folds(table.index, n_folds=4, seed=0, stratify=table["event"])
    result = ablation(table, modality_map, folds, default_model_factory("survival", seed=0),
                      time="time", event="event", n_bootstrap=20, seed=0)
    cindex = result.summary.set_index("model")["cindex_mean"]
    early_only = ablation(table, modality_map, folds,
                          default_model_factory("survival", seed=0, single_modalities=False),
                          time="time", event="event", configs={"all": ("signal", "noise")},
                          n_bootstrap=20, seed=0).summary["cindex_mean"].iloc[0]
    # Measured: signal alone 0.675, early fusion alone 0.633, the fused model 0.654 (per fold:
    # early fusion once, the blend once, the signal modality alone twice).
    assert early_only < cindex["signal"] - 0.03, "the cohort no longer dilutes early fusion"
    assert cindex["all"] > early_only + 0.015, cindex.to_dict()
    assert cindex["all"] > cindex["signal"] - 0.03, cindex.to_dict()
    chosen = set(result.per_fold.loc[result.per_fold["model"] == "all", "chosen"])
    assert any(name.startswith("only-signal_") for name in chosen), chosen
    assert any(name.startswith("blend(") for name in chosen), chosen


def test_blend_averages_z_scored_risks_of_its_two_models():
    train, test = cohort(200, 20, 20, seed=2), cohort(200, 20, 20, seed=3)
    modality_map = groups(train)
    X, X_test = train[modality_map.columns()], test[modality_map.columns()]
    first, second = PenalisedCox(alpha_ratio=0.1), PenalisedCox(alpha_ratio=0.3)
    blend = Blend(first, second).fit(X, train["time"], train["event"])
    parts = [clone(m).fit(X, train["time"], train["event"]).predict_risk(X_test)
             for m in (first, second)]
    expected = np.mean([(r - c) / s for r, c, s in zip(parts, blend.centres_, blend.scales_)],
                       axis=0)
    assert np.allclose(blend.predict_risk(X_test), expected)
    assert harrell_c(test["time"], test["event"], blend.predict_risk(X_test)) > 0.7


def test_response_blend_averages_logits():
    train, test = cohort(200, 20, 20, seed=4), cohort(200, 20, 20, seed=5)
    modality_map = groups(train)
    X, X_test = train[modality_map.columns()], test[modality_map.columns()]
    models = [XGBResponse(n_estimators=50), XGBResponse(n_estimators=50, max_depth=1)]
    blend = Blend(*models).fit(X, train["response"])
    p = blend.predict_proba(X_test)
    logits = [np.log(q / (1 - q)) for q in (clone(m).fit(X, train["response"])
                                            .predict_proba(X_test)[:, 1] for m in models)]
    assert np.allclose(np.log(p[:, 1] / p[:, 0]), np.mean(logits, axis=0), atol=1e-6)


def test_blend_shap_shares_add_up_to_its_risk():
    table = cohort(200, 20, 20, seed=6)
    modality_map = groups(table)
    X = table[modality_map.columns()]
    candidates = default_candidates(modality_map, "survival", model="cox")
    selection = BlendedSelection(candidates, n_folds=3, seed=0).fit(
        X, table["time"], table["event"])
    selection.chosen_estimator_ = Blend(*(selection.candidates[name] for name in (
        "cox_r0.1_screen16", "only-signal_cox_r0.3_screen16")))  # a blend whatever was chosen
    selection.model_ = clone(selection.chosen_estimator_).fit(X, table["time"], table["event"])
    outcome = TaskOutcome("survival", object(), "", selection, table, modality_map, {})
    shap = shap_values(outcome)
    per_patient = shap.groupby("patient")["shap"].sum().reindex(table.index)
    offset = per_patient.to_numpy() - selection.predict_risk(X)
    assert np.ptp(offset) < 1e-8  # up to the centring every patient shares
    assert not shap.duplicated(["patient", "feature"]).any()


def test_single_modality_candidates_only_with_two_modalities():
    table = cohort(60, 3, 40)
    both, one = groups(table), groups(table).subset(["signal"])
    names = set(default_candidates(both, "survival"))
    # Each modality alone with the candidates of its own ablation row (3 'sig' columns: nothing
    # to reduce, one per learner; 40 'noise' columns: every reduction).
    own_rows = {modality: set(default_candidates(both.subset([modality]), "survival"))
                for modality in both}
    assert own_rows["signal"] == {"xgb_screen16", "cox_r0.1_screen16", "cox_r0.3_screen16"}
    for modality, own in own_rows.items():
        assert {f"only-{modality}_{name}" for name in own} <= names
    assert not any(n.startswith("only-") for n in default_candidates(one, "survival"))
    assert not any(n.startswith("only-")
                   for n in default_candidates(both, "survival", single_modalities=False))
    response = set(default_candidates(both, "response"))
    assert "only-signal_xgb_screen16" in response
    assert not any("cox" in n for n in response)
    # One modality, or single modalities off: the plain inner-CV choice, no blend.
    assert type(default_model_factory()(one)) is InnerCVSelection
    assert type(default_model_factory(single_modalities=False)(both)) is InnerCVSelection
    assert type(default_model_factory()(both)) is BlendedSelection


@pytest.mark.parametrize("task", ["survival", "response"])
def test_blended_selection_is_seeded(task):
    table = cohort(120, 20, 20, seed=7)
    modality_map = groups(table)
    X = table[modality_map.columns()]
    target = ([table["time"], table["event"]] if task == "survival" else [table["response"]])
    factory = default_model_factory(task, seed=3)
    first, second = factory(modality_map).fit(X, *target), factory(modality_map).fit(X, *target)
    assert first.chosen_ == second.chosen_ and first.inner_scores_ == second.inner_scores_
    assert np.array_equal(first.predict_risk(X), second.predict_risk(X))
