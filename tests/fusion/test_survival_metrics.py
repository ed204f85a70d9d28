"""Survival and response metrics against hand examples, library estimators and MCAT's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.nonparametric import nelson_aalen_estimator

from helpers import SHARED_DATA
from oncoweave.fusion.survival_metrics import (
    EVALUATION_QUANTILES,
    bootstrap_ci,
    breslow_survival,
    calibration_bins,
    censor_at_train_followup,
    evaluation_times,
    harrell_c,
    integrated_brier,
    response_metrics,
    survival_array,
    time_dependent_auc,
)

MCAT_DIRS = {"blca": SHARED_DATA / "tcga_blca_mcat",
             "ucec": SHARED_DATA / "tcga_ucec_mcat"}


def exponential_cohort(n: int, seed: int, beta: float = 1.0):
    """(x, time, event): hazard exp(beta x), ~35 % random censoring, no tied times."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    event_time = rng.exponential(1 / np.exp(beta * x))
    censor_time = rng.exponential(2.0, size=n)
    return x, np.minimum(event_time, censor_time), (event_time <= censor_time).astype(int)


def test_harrell_c_hand_examples():
    time, event = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 0])
    # Comparable pairs: (1,2) (1,3) (1,4) (3,4); the second patient is censored first.
    assert harrell_c(time, event, [4, 3, 1, 2]) == pytest.approx(3 / 4)
    assert harrell_c(time, event, [4, 3, 2, 1]) == 1.0
    assert harrell_c(time, event, [1, 2, 3, 4]) == 0.0
    assert harrell_c(time, event, [1, 1, 1, 1]) == 0.5  # risk ties count one half
    # Events only: 6 pairs, 5 concordant (the last two swapped).
    assert harrell_c([1, 2, 3, 4], [1, 1, 1, 1], [4, 3, 1, 2]) == pytest.approx(5 / 6)
    assert np.isnan(harrell_c([1, 2], [0, 0], [1, 2]))  # no comparable pair
    assert np.isnan(harrell_c([1, 1], [1, 1], [1, 2]))  # tied event times are not comparable
    assert np.isnan(harrell_c([5.0], [1], [0.3]))  # one patient: nothing to compare
    assert np.isnan(harrell_c([1, 2, 3], [0, 0, 1], [3, 2, 1]))  # the event is the last time


@pytest.mark.parametrize("cancer", sorted(MCAT_DIRS))
def test_harrell_c_reproduces_mcat_per_fold_values(cancer):
    folder = MCAT_DIRS[cancer]
    if not folder.exists():
        pytest.skip(f"{folder} is absent (MCAT published predictions, GPL-3.0: not bundled)")
    risks = pd.read_csv(folder / f"mcat_val_risk_predictions_{cancer}.csv")
    published = pd.read_csv(folder / f"mcat_per_fold_val_cindex_{cancer}.csv").set_index(
        ["model_run", "fold"])["val_cindex"]
    checked = 0
    for (run, fold), rows in risks.groupby(["model_run", "fold"]):
        c = harrell_c(rows["survival_months"], 1 - rows["censorship"], rows["risk"])
        assert c == pytest.approx(published[(run, fold)], abs=4e-4), (run, fold)
        checked += 1
    assert checked == 10  # MCAT and SNN, 5 folds each


def test_breslow_survival_matches_sksurv_cox():
    x, time, event = exponential_cohort(300, seed=1)
    train, test = slice(0, 200), slice(200, 300)
    cox = CoxPHSurvivalAnalysis().fit(x[train, None], survival_array(time[train], event[train]))
    times = np.quantile(time[test][event[test] == 1], [0.2, 0.5, 0.8])
    ours = breslow_survival(time[train], event[train], cox.predict(x[train, None]),
                            cox.predict(x[test, None]), times)
    theirs = np.array([fn(times) for fn in cox.predict_survival_function(x[test, None])])
    assert ours.shape == (100, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_breslow_survival_at_no_times_is_an_empty_table_for_each_test_patient():
    """A validation fold without an event has no evaluation times: no survival to estimate."""
    _, time, event = exponential_cohort(50, seed=4)
    survival = breslow_survival(time, event, np.zeros(50), np.zeros(7), [])
    assert survival.shape == (7, 0)
    assert np.isnan(integrated_brier(time, event, time[:7], event[:7] * 0, survival, []))
    one_time = breslow_survival(time, event, np.zeros(50), np.zeros(7), [float(np.median(time))])
    assert one_time.shape == (7, 1) and np.all((one_time > 0) & (one_time < 1))


def test_breslow_with_zero_risk_is_nelson_aalen():
    _, time, event = exponential_cohort(100, seed=2)
    times = np.quantile(time, [0.25, 0.5, 0.75])
    survival = breslow_survival(time, event, np.zeros(100), np.zeros(3), times)
    na_times, cumulative_hazard = nelson_aalen_estimator(event.astype(bool), time)
    expected = np.exp(-cumulative_hazard[np.searchsorted(na_times, times, side="right") - 1])
    np.testing.assert_allclose(survival, np.tile(expected, (3, 1)), rtol=1e-10)


def test_time_dependent_auc_of_the_true_risk():
    x, time, event = exponential_cohort(600, seed=3)
    train, test = slice(0, 300), slice(300, 600)
    times, auc, mean_auc = time_dependent_auc(time[train], event[train], time[test], event[test],
                                              x[test])
    assert len(times) == len(EVALUATION_QUANTILES) and np.all(auc > 0.65) and mean_auc > 0.7
    _, reversed_auc, _ = time_dependent_auc(time[train], event[train], time[test], event[test],
                                            -x[test], times)
    np.testing.assert_allclose(reversed_auc, 1 - auc, atol=1e-12)
    assert harrell_c(time[test], event[test], x[test]) > 0.65


def test_test_follow_up_beyond_training_is_cut_not_an_error():
    x, time, event = exponential_cohort(200, seed=4)
    train_time, train_event = time[:100] / 4, event[:100]  # much shorter training follow-up
    cut_time, cut_event = censor_at_train_followup(train_time, train_event, time[100:],
                                                   event[100:])
    assert cut_time.max() <= train_time.max() and cut_event.sum() < event[100:].sum()
    times = evaluation_times(train_time, time[100:], event[100:])
    assert times.max() < train_time.max() and times.min() >= time[100:].min()
    _, auc, _ = time_dependent_auc(train_time, train_event, time[100:], event[100:], x[100:])
    assert np.isfinite(auc).all()


def test_evaluation_times_without_events_are_empty():
    assert len(evaluation_times([1, 2, 3], [1, 2], [0, 0])) == 0
    times, auc, mean = time_dependent_auc([1, 2, 3], [1, 0, 1], [1.5, 2.5], [0, 0], [0.1, 0.2])
    assert len(times) == 0 and np.isnan(mean)


def test_integrated_brier_of_a_model_beats_the_null():
    x, time, event = exponential_cohort(600, seed=5)
    train, test = slice(0, 300), slice(300, 600)
    times = evaluation_times(time[train], time[test], event[test])
    args = (time[train], event[train], time[test], event[test])
    model = breslow_survival(time[train], event[train], x[train], x[test], times)
    null = breslow_survival(time[train], event[train], np.zeros(300), np.zeros(300), times)
    model_ibs, null_ibs = integrated_brier(*args, model, times), integrated_brier(*args, null,
                                                                                  times)
    assert 0.1 < null_ibs < 0.25 and model_ibs < null_ibs - 0.01
    coin = integrated_brier(*args, np.full((300, len(times)), 0.5), times)
    assert coin == pytest.approx(0.25, abs=0.03)  # 0.25 up to the censoring weights' mean
    assert np.isnan(integrated_brier(*args, model[:, :1], times[:1]))


def test_response_metrics_and_calibration():
    rng = np.random.default_rng(6)
    probability = rng.uniform(0.05, 0.95, 4000)
    label = (rng.random(4000) < probability).astype(int)  # calibrated by construction
    metrics = response_metrics(label, probability)
    assert metrics["auroc"] == pytest.approx(roc_auc_score(label, probability))
    assert 0.75 < metrics["auroc"] < 0.85 and metrics["auprc"] > label.mean()
    assert metrics["brier"] == pytest.approx(np.mean((probability - label) ** 2))
    bins = calibration_bins(label, probability)
    assert len(bins["mean_predicted"]) == 10
    np.testing.assert_allclose(bins["observed_fraction"], bins["mean_predicted"], atol=0.07)


def test_bootstrap_ci_is_seeded_and_skips_undefined_resamples():
    x, time, event = exponential_cohort(200, seed=7)
    first = bootstrap_ci(harrell_c, time, event, x, n_bootstrap=200, seed=3)
    again = bootstrap_ci(harrell_c, time, event, x, n_bootstrap=200, seed=3)
    other = bootstrap_ci(harrell_c, time, event, x, n_bootstrap=200, seed=4)
    assert first == again and first["ci95"] != other["ci95"]
    low, high = first["ci95"]
    assert low < first["estimate"] < high and 0.02 < high - low < 0.15
    assert first["n_resamples"] == 200
    # Five patients, one responder: many resamples hold one class, where AUROC is undefined.
    tiny = bootstrap_ci(lambda y, p: response_metrics(y, p)["auroc"], [0, 0, 0, 0, 1],
                        [0.1, 0.2, 0.3, 0.4, 0.9], n_bootstrap=100, seed=0)
    assert 0 < tiny["n_resamples"] < 100 and tiny["estimate"] == 1.0
    assert np.isnan(response_metrics([1, 1], [0.2, 0.9])["auroc"])


def test_shared_resamples_give_each_metrics_own_interval():
    """bootstrap_cis over several metrics == one bootstrap_ci per metric with the same seed."""
    from oncoweave.fusion.survival_metrics import bootstrap_cis

    rng = np.random.default_rng(2)
    label = np.zeros(40, dtype=int)
    label[[3, 17]] = 1  # ~13 % of the resamples hold no responder
    probability = np.clip(label * 0.3 + rng.random(40) * 0.7, 0, 1)
    shared = bootstrap_cis(response_metrics, label, probability, n_bootstrap=150, seed=9)
    for metric in ("auroc", "auprc", "brier"):
        alone = bootstrap_ci(lambda a, b, m=metric: response_metrics(a, b)[m], label,
                             probability, n_bootstrap=150, seed=9)
        assert shared[metric] == alone
    assert shared["auroc"]["n_resamples"] < shared["brier"]["n_resamples"] == 150
