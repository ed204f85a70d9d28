"""Array kernels of the metrics the fusion evaluation computes thousands of times (per fold, per
inner fold, per bootstrap resample): Harrell's C, AUROC, average precision and the Brier score.

Each returns the very float its library counterpart returns (sksurv
``concordance_index_censored``, sklearn ``roc_auc_score``, ``average_precision_score``,
``brier_score_loss``; ``tests/fusion/test_survival_metrics.py`` checks bit for bit, ties
included), by the same arithmetic without the per-call input validation that made those calls
~10 ms each: callers hand in finite 1-D float arrays and 0/1 labels and keep the library call for
anything else (:mod:`oncoweave.fusion.survival_metrics` does).
"""

from __future__ import annotations

import numpy as np

TIED_TOL = 1e-8  # sksurv: risks this close count as tied
_PAIR_BLOCK = 4_000_000  # pairs per block of the C-index count (memory bound for big cohorts)
_EVENT_BLOCK = 128  # events per block: later blocks compare with fewer (later) rows


def concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C as sksurv computes it (unit weights): over comparable pairs (i an event,
    j followed longer, or censored at the same time), concordant when risk_j < risk_i, tied
    when |risk_j - risk_i| <= 1e-8 (counted 1/2). NaN without a comparable pair.

    Rows sorted by time, an event is compared with the rows from its time on only (the others
    are never comparable), in blocks of events that bound the pair arrays' memory."""
    order = np.argsort(time, kind="stable")
    time, event, risk = time[order], event[order], risk[order]
    censored = ~event
    first_at_time = np.searchsorted(time, time, side="left")
    events = np.flatnonzero(event)
    comparable = concordant = tied = 0
    block = max(1, min(_EVENT_BLOCK, _PAIR_BLOCK // max(len(time), 1)))
    for start in range(0, len(events), block):
        rows = events[start:start + block]
        lo = first_at_time[rows[0]]
        t_j, r_j, c_j = time[lo:], risk[lo:], censored[lo:]
        t_i, r_i = time[rows, np.newaxis], risk[rows, np.newaxis]
        mask = (t_j > t_i) | ((t_j == t_i) & c_j)
        ties = (np.absolute(r_j - r_i) <= TIED_TOL) & mask
        comparable += int(np.count_nonzero(mask))
        tied += int(np.count_nonzero(ties))
        concordant += int(np.count_nonzero((r_j < r_i) & mask & ~ties))
    if comparable == 0:
        return float("nan")
    # sksurv sums w * n_con + 0.5 * w * n_ties per event with w = 1: integers and halves,
    # exact in float64, so the totals give its quotient exactly.
    return float(np.float64(concordant + 0.5 * tied) / np.float64(comparable))


def _threshold_counts(label: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sklearn ``confusion_matrix_at_thresholds``: (fps, tps) at each distinct score, highest
    first (counts of a stable descending sort; ties share one threshold)."""
    order = np.argsort(score, kind="stable")[::-1]
    score, positive = score[order], (label[order] == 1).astype(np.float64)
    thresholds = np.concatenate([np.nonzero(np.diff(score))[0], [len(positive) - 1]])
    tps = np.cumsum(positive, dtype=np.float64)[thresholds]
    fps = 1 + thresholds.astype(np.float64) - tps
    return fps, tps


def roc_auc(label: np.ndarray, score: np.ndarray) -> float:
    """sklearn ``roc_auc_score`` of a binary 0/1 label holding both classes."""
    fps, tps = _threshold_counts(label, score)
    if fps.shape[0] > 2:  # roc_curve(drop_intermediate=True)
        keep = np.where(np.concatenate([[True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)),
                                        [True]]))[0]
        fps, tps = fps[keep], tps[keep]
    fps, tps = np.concatenate([[0.0], fps]), np.concatenate([[0.0], tps])
    return float(1 * np.trapezoid(tps / tps[-1], fps / fps[-1]))


def average_precision(label: np.ndarray, score: np.ndarray) -> float:
    """sklearn ``average_precision_score`` of a binary 0/1 label holding both classes."""
    fps, tps = _threshold_counts(label, score)
    ps = tps + fps
    precision = np.where(ps != 0, np.divide(tps, ps), 0.0)
    recall = tps / tps[-1]
    precision = np.concatenate((np.flip(precision), [1.0]))
    recall = np.concatenate((np.flip(recall), [0.0]))
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def brier(label: np.ndarray, probability: np.ndarray) -> float:
    """sklearn ``brier_score_loss`` of 0/1 labels and probabilities in [0, 1] (binary: half the
    mean squared error over both one-hot columns)."""
    positive = (label == 1).astype(np.int64)
    labels = np.stack((1 - positive, positive), axis=1).astype(probability.dtype, copy=False)
    probabilities = np.stack((1 - probability, probability), axis=1)
    score = np.asarray(np.average(np.sum((labels - probabilities) ** 2, axis=1)))
    score *= 0.5
    return float(score)
