"""Late fusion (per-modality models stacked) and the single-modality candidates of the fused
model's inner CV, on synthetic cohorts where one modality carries the risk and another is noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from oncoweave.fusion.candidates import default_candidates, default_model_factory
from oncoweave.fusion.cross_validation import ablation
from oncoweave.fusion.evaluation import TaskOutcome, shap_values
from oncoweave.fusion.folds import split_folds
from oncoweave.fusion.late_fusion import ModalityStack
from oncoweave.fusion.modalities import ModalityMap
from oncoweave.fusion.models import InnerCVSelection, PenalisedCox, XGBResponse
from oncoweave.fusion.survival_metrics import harrell_c


def two_modality_cohort(n: int = 300, n_noise: int = 40, seed: int = 0) -> pd.DataFrame:
    """Hazard exp(sig . beta) from three 'sig' columns; 'noise' columns unrelated; a binary
    'response' from the same signal; ~30 % censoring."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, 3))
    risk = signal @ np.array([1.0, -0.7, 0.5])
    event_time = rng.exponential(1 / np.exp(risk))
    censor_time = rng.exponential(3.0, size=n)
    table = pd.DataFrame({f"sig_{i}": signal[:, i] for i in range(3)}
                         | {f"noise_{i}": rng.normal(size=n) for i in range(n_noise)},
                         index=pd.Index([f"P{i:04d}" for i in range(n)], name="id"))
    table["time"] = np.minimum(event_time, censor_time)
    table["event"] = (event_time <= censor_time).astype(int)
    table["response"] = (risk + rng.normal(scale=0.7, size=n) > 0.3).astype(int)
    table["risk"] = risk
    return table


def groups(table: pd.DataFrame) -> ModalityMap:
    return ModalityMap.from_affixes([c for c in table if c.startswith(("sig_", "noise_"))],
                                    {"signal": "sig_", "noise": "noise_"})


def test_stack_weighs_the_informative_modality_over_the_noise():
    train, test = two_modality_cohort(300, seed=1), two_modality_cohort(300, seed=2)
    modality_map = groups(train)
    X = train[modality_map.columns()]
    stack = ModalityStack(modality_map, PenalisedCox(alpha_ratio=0.1), seed=0).fit(
        X, train["time"], train["event"])
    weights = dict(zip(stack.modalities_, stack.weights_))
    assert weights["signal"] > 0.5 and weights["noise"] < 0.1 * weights["signal"], weights
    risk = stack.predict_risk(test[modality_map.columns()])
    # Held out: as good as the true signal's own ranking, to within noise of the fit.
    truth = harrell_c(test["time"], test["event"], test["risk"])
    assert harrell_c(test["time"], test["event"], risk) > truth - 0.03
    again = clone(stack).fit(X, train["time"], train["event"])
    assert np.array_equal(again.predict_risk(test[modality_map.columns()]), risk)


def test_response_stack_gives_probabilities_that_rank_responders():
    train, test = two_modality_cohort(300, seed=3), two_modality_cohort(300, seed=4)
    modality_map = groups(train)
    stack = ModalityStack(modality_map, XGBResponse(n_estimators=100), seed=0).fit(
        train[modality_map.columns()], train["response"])
    p = stack.predict_proba(test[modality_map.columns()])
    assert p.shape == (300, 2) and np.allclose(p.sum(axis=1), 1) and ((p > 0) & (p < 1)).all()
    assert roc_auc_score(test["response"], p[:, 1]) > 0.8
    assert abs(p[:, 1].mean() - train["response"].mean()) < 0.1


def test_a_missing_modality_neither_raises_nor_lowers_the_stacked_score():
    table = two_modality_cohort(240, seed=5)
    modality_map = groups(table)
    stack = ModalityStack(modality_map, PenalisedCox(alpha_ratio=0.1), seed=0).fit(
        table[modality_map.columns()], table["time"], table["event"])
    patients = table[modality_map.columns()].head(5).copy()
    patients[list(modality_map["signal"])] = np.nan
    scores = stack.standardised_scores(patients)
    assert (scores["signal"] == 0).all()
    assert np.allclose(stack.predict_risk(patients),
                       scores["noise"].to_numpy() * dict(zip(stack.modalities_,
                                                             stack.weights_))["noise"])


def test_stack_shap_shares_add_up_to_its_score():
    table = two_modality_cohort(240, n_noise=10, seed=6)
    modality_map = groups(table)
    X = table[modality_map.columns()]
    stack = ModalityStack(modality_map, PenalisedCox(alpha_ratio=0.3), seed=0).fit(
        X, table["time"], table["event"])
    outcome = TaskOutcome("survival", object(), "", stack, table, modality_map, {})
    shap = shap_values(outcome)
    per_patient = shap.groupby("patient")["shap"].sum().reindex(table.index)
    # Up to the constant sum_m w_m c_m / sd_m that centring subtracts from every patient.
    offset = per_patient.to_numpy() - stack.predict_risk(X)
    assert np.ptp(offset) < 1e-9
    assert set(shap["modality"]) <= {"signal", "noise"} and "signal" in set(shap["modality"])


def test_fused_model_is_not_beaten_by_its_best_modality_when_one_carries_the_risk():
    # Few patients, a wide noise modality: early fusion alone is diluted by the noise columns.
    table = two_modality_cohort(160, n_noise=200, seed=7)
    modality_map = groups(table)
    folds = split_folds(table.index, n_folds=4, seed=0, stratify=table["event"])
    result = ablation(table, modality_map, folds, default_model_factory("survival", seed=0),
                      time="time", event="event", n_bootstrap=20, seed=0)
    cindex = result.summary.set_index("model")["cindex_mean"]
    assert cindex["all"] >= cindex["signal"] - 0.01, cindex.to_dict()
    chosen = result.per_fold.loc[result.per_fold["model"] == "all", "chosen"]
    assert chosen.str.startswith(("only-signal", "stack")).any(), chosen.tolist()


def test_single_modality_and_stack_candidates_only_with_two_modalities():
    table = two_modality_cohort(60)
    both, one = groups(table), groups(table).subset(["signal"])
    names = set(default_candidates(both, "survival"))
    # Each modality alone with the candidates of its own ablation row (3 'sig' columns: nothing
    # to reduce, one per learner; 40 'noise' columns: every reduction).
    own_rows = {modality: set(default_candidates(both.subset([modality]), "survival"))
                for modality in both}
    assert own_rows["signal"] == {"xgb_screen16", "cox_r0.1_screen16", "cox_r0.3_screen16"}
    for modality, own in own_rows.items():
        assert {f"only-{modality}_{name}" for name in own} <= names
    assert {"stack_xgb", "stack_cox_r0.1"} <= names and "stack_cox_r0.3" not in names
    assert not any(n.startswith(("only-", "stack")) for n in default_candidates(one, "survival"))
    assert not any(n.startswith(("only-", "stack"))
                   for n in default_candidates(both, "survival", late_fusion=False))
    response = set(default_candidates(both, "response"))
    assert {"stack_xgb", "only-signal_xgb_screen16"} <= response
    assert not any("cox" in n for n in response)


def _selection_with(fold_scores: dict[str, list[float]], challengers=("b",)) -> str:
    selection = InnerCVSelection(challengers=challengers)
    selection.inner_fold_scores_ = fold_scores
    selection.inner_scores_ = {name: float(np.mean(s)) for name, s in fold_scores.items()}
    return selection._choose()


def test_a_challenger_must_beat_the_best_incumbent_by_one_standard_error():
    incumbent = [0.60, 0.62, 0.64]
    # Higher mean (0.653 vs 0.620) but the paired gains (+0.10, -0.02, +0.02) vary more than that.
    assert _selection_with({"a": incumbent, "b": [0.70, 0.60, 0.66]}) == "a"
    # The same gain in every inner fold: earned.
    assert _selection_with({"a": incumbent, "b": [0.65, 0.67, 0.69]}) == "b"
    # Among incumbents the plain best mean wins; without challengers nothing changes.
    assert _selection_with({"a": incumbent, "c": [0.61, 0.63, 0.66], "b": [0.5] * 3}) == "c"
    assert _selection_with({"a": incumbent, "b": [0.70, 0.60, 0.66]}, challengers=()) == "b"
