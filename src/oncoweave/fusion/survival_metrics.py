"""Survival and response metrics: thin wrappers over scikit-survival and scikit-learn.

Conventions: ``time`` is the follow-up (event or censoring time), ``event`` is 1 when the event
was observed and 0 when censored; a *risk* is higher for an earlier event (a Cox log hazard
ratio, say). Every function takes plain arrays.

- :func:`harrell_c`: Harrell's concordance index (sksurv ``concordance_index_censored``), the
  number MCAT and most multimodal survival papers report per validation fold.
- :func:`time_dependent_auc`: cumulative/dynamic AUC (Uno et al. 2007, sksurv
  ``cumulative_dynamic_auc``) at :func:`evaluation_times`.
- :func:`breslow_survival` + :func:`integrated_brier`: survival probabilities of a Cox-type risk
  from the Breslow baseline of the *training* fold, and their integrated Brier score (sksurv).
- :func:`response_metrics`, :func:`calibration_bins`: AUROC, AUPRC, Brier and a reliability
  curve for a binary outcome.
- :func:`bootstrap_ci`: a seeded percentile 95 % interval for any metric over row resamples.
- :func:`percentile_among`: a value's percentile rank among reference values (a risk among the
  training fold's, a lesion's feature among the cohort's).

The inverse-probability-of-censoring weights of the td-AUC and the Brier score come from the
training fold's censoring distribution, which is undefined beyond the training follow-up. Test
patients followed longer are therefore censored at the end of the training follow-up
(:func:`censor_at_train_followup`): for every evaluation time before it, that leaves the metric
unchanged (they are at risk at those times either way).

scikit-survival and scikit-learn are imported by the functions that use them: the constants and
:func:`percentile_among` cost nothing to import.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from oncoweave.fusion.defaults import BOOTSTRAP_RESAMPLES

# Evaluation times of td-AUC and IBS: these quantiles of the test fold's event times. The first
# decile leaves a few events before the first time; past the 80th percentile too few patients
# remain at risk in a fold of ~75 for a stable AUC.
EVALUATION_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def survival_array(time, event) -> np.ndarray:
    """The structured (event, time) array sksurv estimators and metrics take."""
    from sksurv.util import Surv

    return Surv.from_arrays(event=np.asarray(event).astype(bool),
                            time=np.asarray(time, dtype=float))


def harrell_c(time, event, risk) -> float:
    """Harrell's C: the fraction of comparable pairs whose earlier event has the higher risk
    (risk ties count 1/2). Comparable: the shorter time is an observed event. NaN without a
    comparable pair (no events, say)."""
    from sksurv.exceptions import NoComparablePairException
    from sksurv.metrics import concordance_index_censored

    event = np.asarray(event).astype(bool)
    if len(event) < 2 or not event.any():
        return float("nan")
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(concordance_index_censored(event, np.asarray(time, dtype=float),
                                                    np.asarray(risk, dtype=float))[0])
    except NoComparablePairException:  # e.g. the only event is the longest time of a tiny fold
        return float("nan")


def censor_at_train_followup(train_time, train_event, test_time, test_event
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Test (time, event) with follow-up cut where the training censoring distribution ends.

    Beyond the largest training time, or at an event time where the training censoring survival
    is already 0, the censoring weights are undefined; such test patients become censored there.
    """
    from sksurv.nonparametric import CensoringDistributionEstimator

    train_time = np.asarray(train_time, dtype=float)
    test_time = np.asarray(test_time, dtype=float).copy()
    test_event = np.asarray(test_event).astype(bool).copy()
    horizon = train_time.max()
    beyond = test_time > horizon
    test_time[beyond] = horizon
    test_event[beyond] = False
    censoring = CensoringDistributionEstimator().fit(survival_array(train_time, train_event))
    if test_event.any():
        no_weight = censoring.predict_proba(test_time[test_event]) <= 0
        test_event[np.flatnonzero(test_event)[no_weight]] = False
    return test_time, test_event.astype(int)


def evaluation_times(train_time, test_time, test_event,
                     quantiles: Sequence[float] = EVALUATION_QUANTILES) -> np.ndarray:
    """Quantiles of the test fold's event times, kept where td-AUC and the Brier score are
    defined: within [first test time, last test time) and before the last training time."""
    test_time = np.asarray(test_time, dtype=float)
    events = test_time[np.asarray(test_event).astype(bool)]
    if len(events) == 0:
        return np.array([])
    times = np.unique(np.quantile(events, quantiles))
    upper = min(test_time.max(), np.asarray(train_time, dtype=float).max())
    return times[(times >= test_time.min()) & (times < upper)]


def time_dependent_auc(train_time, train_event, test_time, test_event, risk,
                       times=None) -> tuple[np.ndarray, np.ndarray, float]:
    """(times, AUC at each, their mean weighted by the survival drop) of cumulative/dynamic AUC:
    at each time t, cases have an event by t and controls are still event-free after t.

    ``times`` defaults to :func:`evaluation_times`. Empty arrays and NaN when no time is usable
    (no test events, all of them beyond the training follow-up).
    """
    from sksurv.metrics import cumulative_dynamic_auc

    test_time, test_event = censor_at_train_followup(train_time, train_event, test_time,
                                                     test_event)
    if times is None:
        times = evaluation_times(train_time, test_time, test_event)
    times = np.asarray(times, dtype=float)
    if len(times) == 0 or not test_event.any():
        return np.array([]), np.array([]), float("nan")
    auc, mean_auc = cumulative_dynamic_auc(survival_array(train_time, train_event),
                                           survival_array(test_time, test_event),
                                           np.asarray(risk, dtype=float), times)
    return times, np.asarray(auc, dtype=float), float(mean_auc)


def breslow_survival(train_time, train_event, train_risk, test_risk, times) -> np.ndarray:
    """Survival probabilities S(t | x) = S0(t) ** exp(risk), shape (n_test, n_times).

    ``risk`` must be a log hazard ratio (a Cox linear predictor, xgboost ``survival:cox`` margin);
    S0 is the Breslow baseline fitted on the training fold's own risks (sksurv).
    """
    from sksurv.linear_model.coxph import BreslowEstimator

    times = np.asarray(times, dtype=float)
    if len(times) == 0:
        # A validation fold without an observed event has no evaluation times (small cohorts).
        return np.empty((len(np.atleast_1d(test_risk)), 0))
    baseline = BreslowEstimator().fit(np.asarray(train_risk, dtype=float),
                                      np.asarray(train_event).astype(bool),
                                      np.asarray(train_time, dtype=float))
    # The baseline step function is defined up to the last training time.
    # atleast_1d: sksurv's step function gives a scalar for a single time.
    s0 = np.atleast_1d(baseline.baseline_survival_(np.clip(times, 0, baseline.unique_times_[-1])))
    hazard_ratio = np.exp(np.asarray(test_risk, dtype=float))
    return s0[np.newaxis, :] ** hazard_ratio[:, np.newaxis]


def integrated_brier(train_time, train_event, test_time, test_event, survival_functions,
                     times) -> float:
    """Integrated Brier score (IPCW, sksurv) of survival probabilities (n_test, n_times) over
    ``times`` (at least two); lower is better, 0.25 is an uninformative 50 % guess."""
    from sksurv.metrics import integrated_brier_score

    times = np.asarray(times, dtype=float)
    if len(times) < 2:
        return float("nan")
    test_time, test_event = censor_at_train_followup(train_time, train_event, test_time,
                                                     test_event)
    return float(integrated_brier_score(survival_array(train_time, train_event),
                                        survival_array(test_time, test_event),
                                        np.asarray(survival_functions, dtype=float), times))


# ---------------------------------------------------------------------------------------------
# Binary response.

def response_metrics(label, probability) -> dict[str, float]:
    """AUROC, AUPRC (average precision) and Brier score of predicted probabilities; AUROC and
    AUPRC are NaN when ``label`` holds one class only."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    label = np.asarray(label).astype(int)
    probability = np.asarray(probability, dtype=float)
    brier = float(brier_score_loss(label, probability, labels=[0, 1]))
    if len(np.unique(label)) < 2:
        return {"auroc": float("nan"), "auprc": float("nan"), "brier": brier}
    return {"auroc": float(roc_auc_score(label, probability)),
            "auprc": float(average_precision_score(label, probability)), "brier": brier}


def calibration_bins(label, probability, n_bins: int = 10) -> dict[str, list[float]]:
    """Reliability curve over quantile bins (sklearn ``calibration_curve``): mean predicted
    probability and observed fraction of responders per bin."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(np.asarray(label).astype(int),
                                            np.asarray(probability, dtype=float),
                                            n_bins=n_bins, strategy="quantile")
    return {"mean_predicted": [float(v) for v in predicted],
            "observed_fraction": [float(v) for v in observed]}


# ---------------------------------------------------------------------------------------------
# Uncertainty.

def bootstrap_ci(metric: Callable[..., float], *arrays, n_bootstrap: int = BOOTSTRAP_RESAMPLES,
                 seed: int = 0, level: float = 0.95) -> dict:
    """Percentile interval of ``metric(*arrays)`` over seeded resamples of rows (all arrays
    resampled together). Resamples where the metric is undefined (one class, no event: the
    metric raises or returns NaN) are skipped and counted.

    Returns {"estimate", "ci95": [low, high], "n_resamples"} (n_resamples: the valid ones).
    """
    return bootstrap_cis(lambda *a: {"value": metric(*a)}, *arrays, n_bootstrap=n_bootstrap,
                         seed=seed, level=level)["value"]


def bootstrap_cis(metrics: Callable[..., Mapping[str, float]], *arrays,
                  n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                  level: float = 0.95) -> dict[str, dict]:
    """:func:`bootstrap_ci` of every value of ``metrics(*arrays)`` (a mapping name -> value)
    from one set of resamples: the rows a separate ``bootstrap_ci`` call with this seed draws,
    so each interval is the one such a call gives. A resample where ``metrics`` raises is
    skipped for every name, one where a value is not finite for that name only."""
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    estimates = {name: float(value) for name, value in metrics(*arrays).items()}
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {name: [] for name in estimates}
    for _ in range(n_bootstrap):
        rows = rng.integers(0, n, n)
        try:
            resampled = {name: float(value)
                         for name, value in metrics(*(a[rows] for a in arrays)).items()}
        except (ValueError, ZeroDivisionError):
            continue
        for name, value in resampled.items():
            if np.isfinite(value):
                values[name].append(value)
    tail = (1 - level) / 2
    result = {}
    for name, estimate in estimates.items():
        interval = (np.quantile(values[name], [tail, 1 - tail]).tolist() if values[name]
                    else [float("nan"), float("nan")])
        result[name] = {"estimate": estimate, "ci95": [float(v) for v in interval],
                        "n_resamples": len(values[name])}
    return result


# ---------------------------------------------------------------------------------------------
# Ranks.

def percentile_among(reference, values) -> np.ndarray:
    """Percent of ``reference`` below each of ``values``, ties counted half."""
    reference = np.sort(np.asarray(reference, dtype=float))
    below = np.searchsorted(reference, values, side="left")
    at_or_below = np.searchsorted(reference, values, side="right")
    return 100.0 * (below + at_or_below) / (2 * len(reference))
