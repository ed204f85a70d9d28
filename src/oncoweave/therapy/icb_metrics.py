"""Metrics of the immunotherapy-response model's out-of-fold probabilities, for its training
(``icb_training``) and its pan-cancer checks (``icb_validation``): AUROC, AUPRC and Brier with
patient-bootstrap 95 % CIs, a paired AUROC difference, and calibration."""

from __future__ import annotations

import numpy as np

from oncoweave.therapy.icb_candidates import METRIC_BOOTSTRAPS


def metrics_with_ci(y: np.ndarray, probability: np.ndarray, seed: int = 0,
                    n_bootstrap: int = METRIC_BOOTSTRAPS) -> dict[str, dict]:
    """AUROC, AUPRC and Brier, each with a 95 % percentile CI over patient bootstrap resamples."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    rows = _bootstrap_rows(y, seed, n_bootstrap)
    labels, scores = y[rows], probability[rows]
    spread = {
        "auroc": _auroc_by_row(labels, scores),
        "auprc": [average_precision_score(*pair) for pair in zip(labels, scores)],
        "brier": ((scores - labels) ** 2).mean(axis=1),
    }
    estimates = {"auroc": roc_auc_score(y, probability),
                 "auprc": average_precision_score(y, probability),
                 "brier": brier_score_loss(y, probability)}
    return {name: _estimate_and_ci(estimates[name], spread[name]) for name in estimates}


def auroc_difference(y: np.ndarray, probability: np.ndarray, reference: np.ndarray,
                     seed: int = 0, n_bootstrap: int = METRIC_BOOTSTRAPS) -> dict:
    """AUROC minus the reference's on the same patients, with a paired bootstrap 95 % CI."""
    from sklearn.metrics import roc_auc_score

    rows = _bootstrap_rows(y, seed, n_bootstrap)
    spread = (_auroc_by_row(y[rows], probability[rows])
              - _auroc_by_row(y[rows], reference[rows]))
    return _estimate_and_ci(roc_auc_score(y, probability) - roc_auc_score(y, reference), spread)


def _bootstrap_rows(y: np.ndarray, seed: int, n_bootstrap: int) -> np.ndarray:
    """Row indices of seeded bootstrap resamples (one per row) holding both classes."""
    rows = np.random.default_rng(seed).integers(0, len(y), (n_bootstrap, len(y)))
    positives = y[rows].sum(axis=1)
    return rows[(positives > 0) & (positives < len(y))]


def _estimate_and_ci(estimate: float, spread) -> dict:
    return {"estimate": round(float(estimate), 4),
            "ci95": [round(float(v), 4) for v in np.quantile(spread, [0.025, 0.975])]}


def _auroc_by_row(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUROC of each row (Mann-Whitney U from mid-ranks; equals roc_auc_score, ~50x faster)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    u = (ranks * labels).sum(axis=1) - positives * (positives + 1) / 2
    return u / (positives * negatives)


def calibration_summary(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Calibration slope (1 = ideal; < 1 over-confident) and mean predicted vs observed rate."""
    from scipy.special import logit
    from sklearn.linear_model import LogisticRegression

    log_odds = logit(np.clip(probability, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    slope = LogisticRegression(C=1e6).fit(log_odds, y).coef_[0, 0]  # C: unpenalised
    return {"slope": round(float(slope), 4), "mean_predicted": round(float(probability.mean()), 4),
            "observed_rate": round(float(y.mean()), 4)}
