"""The fused model's candidates and the factory cross-validation fits per fold.

The inner CV of each training fold (:class:`~oncoweave.fusion.models.InnerCVSelection`) chooses
among early fusion (one model over every modality's columns, several learners and reductions),
each modality alone (the candidates of that modality's own ablation row, on the same inner folds,
so with the same inner scores) and late fusion (:class:`~oncoweave.fusion.late_fusion.ModalityStack`).
A single-modality or stacked candidate replaces the best early-fusion one only when it beats it by
one standard error of their paired inner-fold difference (``InnerCVSelection.challengers``): with
three inner folds and dozens of candidates the top mean alone is often luck. The held-out folds
say whether the fused model then matches its best modality.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable

from sklearn.base import BaseEstimator

from oncoweave.fusion.late_fusion import ModalityStack
from oncoweave.fusion.modalities import ModalityMap
from oncoweave.fusion.models import (
    FusionNetSurvival,
    InnerCVSelection,
    ModalityReducer,
    PenalisedCox,
    Reduced,
    XGBResponse,
    XGBSurvival,
)

# The learners of the stacked candidates (not every early-fusion one: a stack fits a model per
# modality in an inner k-fold of its own, in every inner fold of the selection).
LATE_FUSION_LEARNERS = ("xgb", "cox_r0.1")


def default_candidates(modality_map: ModalityMap, task: str = "survival", seed: int = 0,
                       model: str = "auto", late_fusion: bool = True) -> dict[str, BaseEstimator]:
    """The candidates :class:`InnerCVSelection` chooses from.

    ``model``: "xgb" (boosting only), "cox" (penalised Cox only, survival) or "auto" (both).
    Boosting: 300 depth-2 trees at learning rate 0.03 on ``screen`` 16 / 64 columns per wide
    modality or 8 principal components. Penalised Cox: elastic net (l1_ratio 0.5) at 0.1 and 0.3
    times the all-zero alpha, on 16 screened columns or 8 components. Candidates that would
    reduce nothing (every modality narrower than the reduction) collapse to one per learner.
    With two or more modalities and ``late_fusion``, also each modality alone with the candidates
    of its own ablation row (``only-<modality>_<candidate>``) and, for the learners of
    :data:`LATE_FUSION_LEARNERS`, the stack of per-modality models (``stack_<learner>``, 16
    screened columns per modality).
    """
    learners: dict[str, BaseEstimator] = {}
    if model in ("xgb", "auto"):
        learners["xgb"] = (XGBSurvival if task == "survival" else XGBResponse)(seed=seed)
    if model in ("cox", "auto") and task == "survival":
        learners["cox_r0.1"] = PenalisedCox(alpha_ratio=0.1)
        learners["cox_r0.3"] = PenalisedCox(alpha_ratio=0.3)
    candidates = _early_fusion(modality_map, learners)
    if late_fusion and len(modality_map) > 1:
        for modality in modality_map:  # the candidates of the modality's own ablation row
            for name, candidate in _early_fusion(modality_map.subset([modality]),
                                                 learners).items():
                candidates[f"only-{modality}_{name}"] = candidate
        for name in LATE_FUSION_LEARNERS:
            if name in learners:
                candidates[f"stack_{name}"] = ModalityStack(modality_map, learners[name],
                                                            seed=seed)
    return candidates


def late_fusion_candidates(candidates: Mapping[str, BaseEstimator]) -> tuple[str, ...]:
    """The names of single-modality and stacked candidates: they replace the best early-fusion
    candidate only when they beat it by one standard error in the inner CV."""
    return tuple(name for name in candidates if name.startswith(("only-", "stack_")))


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
                          inner_folds: int = 3, late_fusion: bool = True
                          ) -> Callable[[ModalityMap], BaseEstimator]:
    """modality map -> the inner-CV-tuned model cross-validation fits per fold
    ("net": the torch fusion network with its default settings, no inner CV)."""
    if model == "net":
        return lambda modality_map: FusionNetSurvival(modality_map, seed)

    def factory(modality_map: ModalityMap) -> BaseEstimator:
        candidates = default_candidates(modality_map, task, seed, model, late_fusion)
        if len(candidates) == 1:
            return next(iter(candidates.values()))
        return InnerCVSelection(candidates, inner_folds, seed,
                                challengers=late_fusion_candidates(candidates))
    return factory
