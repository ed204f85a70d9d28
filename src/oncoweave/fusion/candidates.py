"""The fused model's candidates, the blend of early fusion with the best single modality, and the
factory cross-validation fits per fold.

Early fusion (one model over every modality's columns, several learners and reductions, chosen by
an inner CV of the training fold) can lose to one of its own modalities on held-out patients: a
wide, weak modality dilutes a strong one. Adding each modality alone to the candidates does not
fix it: with three inner folds and dozens of candidates the top mean is often luck, and a switch
to one modality costs as often as it gains (measured on TCGA-BLCA and the toy cohort).
:class:`BlendedSelection` scores the early-fusion candidates and each modality alone (the
candidates of that modality's own ablation row, on the same inner folds), then picks among three:
the best of each family or their average (:class:`Blend`). The average hedges: it is rarely worse
than the better of the two, so it wins the inner CV when neither family is clearly ahead, while
complementary modalities (where early fusion is right) keep early fusion.
(A stack of per-modality models weighted by a non-negative ridge Cox on their out-of-fold risks
was tried first; it scored below the best early-fusion candidate in every inner fold of
TCGA-BLCA, TCGA-UCEC and the toy cohort.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from oncoweave.fusion.modalities import ModalityMap
from oncoweave.fusion.models import (
    FusionNetSurvival,
    InnerCVSelection,
    ModalityReducer,
    PenalisedCox,
    Reduced,
    XGBResponse,
    XGBSurvival,
    score_prediction,
)

SINGLE_MODALITY_PREFIX = "only-"


def default_candidates(modality_map: ModalityMap, task: str = "survival", seed: int = 0,
                       model: str = "auto", single_modalities: bool = True
                       ) -> dict[str, BaseEstimator]:
    """The candidates :class:`InnerCVSelection` chooses from.

    ``model``: "xgb" (boosting only), "cox" (penalised Cox only, survival) or "auto" (both).
    Boosting: 300 depth-2 trees at learning rate 0.03 on ``screen`` 16 / 64 columns per wide
    modality or 8 principal components. Penalised Cox: elastic net (l1_ratio 0.5) at 0.1 and 0.3
    times the all-zero alpha, on 16 screened columns or 8 components. Candidates that would
    reduce nothing (every modality narrower than the reduction) collapse to one per learner.
    With two or more modalities and ``single_modalities``, also each modality alone with the
    candidates of its own ablation row (``only-<modality>_<candidate>``).
    """
    learners: dict[str, BaseEstimator] = {}
    if model in ("xgb", "auto"):
        learners["xgb"] = (XGBSurvival if task == "survival" else XGBResponse)(seed=seed)
    if model in ("cox", "auto") and task == "survival":
        learners["cox_r0.1"] = PenalisedCox(alpha_ratio=0.1)
        learners["cox_r0.3"] = PenalisedCox(alpha_ratio=0.3)
    candidates = _early_fusion(modality_map, learners)
    if single_modalities and len(modality_map) > 1:
        for modality in modality_map:  # the candidates of the modality's own ablation row
            for name, candidate in _early_fusion(modality_map.subset([modality]),
                                                 learners).items():
                candidates[f"{SINGLE_MODALITY_PREFIX}{modality}_{name}"] = candidate
    return candidates


def single_modality_candidates(candidates: Mapping[str, BaseEstimator]) -> tuple[str, ...]:
    """The names of the single-modality candidates (``only-<modality>_<candidate>``)."""
    return tuple(name for name in candidates if name.startswith(SINGLE_MODALITY_PREFIX))


class Blend(BaseEstimator):
    """The average of two models fitted on the same rows: survival log hazards z-scored on the
    training rows first (each model's risk is on its own scale), response logits. State:
    ``models_`` and, for survival, ``centres_``/``scales_``."""

    def __init__(self, first: BaseEstimator | None = None, second: BaseEstimator | None = None):
        self.first = first
        self.second = second

    def fit(self, X: pd.DataFrame, *target) -> "Blend":
        self.task_ = "survival" if len(target) == 2 else "response"
        self.models_ = [clone(self.first).fit(X, *target), clone(self.second).fit(X, *target)]
        scores = [self._score(model, X) for model in self.models_]
        self.centres_ = np.array([score.mean() for score in scores])
        spread = np.array([score.std() for score in scores])
        self.scales_ = np.where(spread > 0, spread, 1.0)
        if self.task_ == "response":  # logits are on one scale already: average them as they are
            self.centres_, self.scales_ = np.zeros(2), np.ones(2)
        return self

    def _score(self, model: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
        if self.task_ == "survival":
            return np.asarray(model.predict_risk(X), dtype=float)
        p = np.clip(model.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return np.mean([(self._score(model, X) - centre) / scale for model, centre, scale
                        in zip(self.models_, self.centres_, self.scales_)], axis=0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.predict_risk(X)))
        return np.column_stack([1.0 - p, p])

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])


class BlendedSelection(InnerCVSelection):
    """:class:`InnerCVSelection` over early-fusion and single-modality candidates that picks, by
    mean inner score, one of three: the best early-fusion candidate, the best single-modality
    candidate, or their :class:`Blend` (scored on the same inner folds from the two models'
    validation predictions, z-scored within each fold). Ties go to early fusion, then the blend.
    ``chosen_`` names it; ``chosen_estimator_`` is the unfitted model (what a bootstrap refit
    clones), refitted on every row as ``model_``."""

    def fit(self, X: pd.DataFrame, *target) -> "BlendedSelection":
        self._score_candidates(X, target)
        single = set(single_modality_candidates(self.candidates))
        best = {family: max((name for name in self.inner_scores_ if (name in single) == family),
                            key=self.inner_scores_.get, default=None) for family in (False, True)}
        early, alone = best[False], best[True]
        options = {name: self.candidates[name] for name in (early, alone) if name is not None}
        if early is not None and alone is not None:
            name = f"blend({early} + {alone})"
            options = {early: options[early], name: Blend(options[early], options[alone]),
                       alone: options[alone]}
            self.inner_scores_[name] = self._blend_score(early, alone, target)
        self.chosen_ = max(options, key=self.inner_scores_.get)
        self.chosen_estimator_ = options[self.chosen_]
        self.model_ = clone(self.chosen_estimator_).fit(X, *target)
        return self

    def _blend_score(self, first: str, second: str, target) -> float:
        target = [np.asarray(t) for t in target]
        scores = []
        for k, (_, val) in enumerate(self.inner_folds_):
            parts = [np.asarray(self.inner_predictions_[name][k], dtype=float)
                     for name in (first, second)]
            if len(target) == 2:  # risks on each model's own scale: z-score within the fold
                parts = [(p - p.mean()) / (p.std() or 1.0) for p in parts]
            else:  # probabilities: average the logits, as Blend does
                parts = [np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))
                         for p in parts]
            blended = np.mean(parts, axis=0)
            if len(target) == 1:
                blended = 1.0 / (1.0 + np.exp(-blended))  # back to a probability
            scores.append(score_prediction(blended, [t[val] for t in target]))
        return float(np.mean(scores))


def _early_fusion(modality_map: ModalityMap, learners: dict[str, BaseEstimator]
                  ) -> dict[str, BaseEstimator]:
    """Each learner after each reduction, over every column of ``modality_map``."""
    reductions = {"xgb": [("screen", 16), ("screen", 64), ("pca", 8)],
                  "cox": [("screen", 16), ("pca", 8)]}
    widest = max(len(columns) for columns in modality_map.values())
    candidates = {}
    for name, learner in learners.items():
        options = reductions[name.split("_")[0]]
        if widest <= ModalityReducer().keep_whole_up_to:
            options = options[:1]  # nothing is reduced: one candidate per learner
        for method, n_keep in options:
            candidates[f"{name}_{method}{n_keep}"] = Reduced(
                ModalityReducer(modality_map, method, n_keep), learner)
    return candidates


def default_model_factory(task: str = "survival", seed: int = 0, model: str = "auto",
                          inner_folds: int = 3, single_modalities: bool = True
                          ) -> Callable[[ModalityMap], BaseEstimator]:
    """modality map -> the inner-CV-tuned model cross-validation fits per fold
    ("net": the torch fusion network with its default settings, no inner CV)."""
    if model == "net":
        return lambda modality_map: FusionNetSurvival(modality_map, seed)

    def factory(modality_map: ModalityMap) -> BaseEstimator:
        candidates = default_candidates(modality_map, task, seed, model, single_modalities)
        if len(candidates) == 1:
            return next(iter(candidates.values()))
        if single_modality_candidates(candidates):
            return BlendedSelection(candidates, inner_folds, seed)
        return InnerCVSelection(candidates, inner_folds, seed)
    return factory
