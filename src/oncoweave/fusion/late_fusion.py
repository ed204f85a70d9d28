"""Late fusion: one model per modality, their out-of-fold scores stacked by a small meta model.

Early fusion (one model over every modality's columns) can lose to one of its own modalities: a
wide, weak modality dilutes a strong one in the screening and the trees. :class:`ModalityStack`
fits one model per modality, turns each into a score per patient by an inner k-fold on the rows
it is fitted on (never the rows it will score), and weighs the standardised scores with a ridge
Cox (survival) or logistic (response) model whose weights are kept non-negative: a modality
whose score does not help gets weight 0 instead of a sign flip learnt from noise. A patient
without any value of a modality gets that modality's mean score (0 after standardising): the
modality neither raises nor lowers them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from oncoweave.fusion.modalities import ModalityMap
from oncoweave.fusion.models import ModalityReducer, Reduced

# Probabilities are stacked on the logit scale (the margin xgboost adds its trees on).
_PROBABILITY_CLIP = 1e-6


def single_modality_model(modality_map: ModalityMap, modality: str, learner: BaseEstimator,
                          n_keep: int = 16) -> Reduced:
    """``learner`` on ``modality``'s columns alone (screened to ``n_keep`` when wider)."""
    return Reduced(ModalityReducer(modality_map.subset([modality]), "screen", n_keep), learner)


class ModalityStack(BaseEstimator):
    """Stacked per-modality models: fit(X, time, event) / predict_risk(X), or fit(X, y) /
    predict_proba(X). State: ``modalities_``, ``models_`` (one per modality, refitted on every
    row), ``centres_``/``scales_`` (of the out-of-fold scores), ``weights_`` (per modality, >= 0)
    and, for response, ``intercept_``."""

    def __init__(self, modality_map: ModalityMap | None = None,
                 learner: BaseEstimator | None = None, n_keep: int = 16, n_folds: int = 3,
                 ridge: float = 1.0, seed: int = 0):
        self.modality_map = modality_map
        self.learner = learner
        self.n_keep = n_keep
        self.n_folds = n_folds
        self.ridge = ridge
        self.seed = seed

    def fit(self, X: pd.DataFrame, *target) -> "ModalityStack":
        from sklearn.model_selection import StratifiedKFold

        target = [np.asarray(t) for t in target]
        self.task_ = "survival" if len(target) == 2 else "response"
        self.modalities_ = [name for name in self.modality_map
                            if X[list(self.modality_map[name])].notna().any(axis=None)]
        bases = {name: single_modality_model(self.modality_map, name, self.learner, self.n_keep)
                 for name in self.modalities_}
        scores = np.zeros((len(X), len(self.modalities_)))
        splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed)
        for train, val in splitter.split(X, target[-1].astype(int)):
            for j, name in enumerate(self.modalities_):
                model = clone(bases[name]).fit(X.iloc[train], *(t[train] for t in target))
                scores[val, j] = self._score(model, X.iloc[val])
        present = self._present(X)
        self.centres_ = np.array([scores[present[:, j], j].mean()
                                  for j in range(len(self.modalities_))])
        spread = np.array([scores[present[:, j], j].std() for j in range(len(self.modalities_))])
        self.scales_ = np.where(spread > 0, spread, 1.0)
        self.weights_, self.intercept_ = self._fit_weights(self._standardise(scores, present),
                                                           target)
        self.models_ = {name: clone(bases[name]).fit(X, *target) for name in self.modalities_}
        return self

    def _score(self, model: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
        if self.task_ == "survival":
            return model.predict_risk(X)
        p = np.clip(model.predict_proba(X)[:, 1], _PROBABILITY_CLIP, 1 - _PROBABILITY_CLIP)
        return np.log(p / (1 - p))

    def _present(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([X[list(self.modality_map[name])].notna().any(axis=1).to_numpy()
                                for name in self.modalities_]) if self.modalities_ else \
            np.zeros((len(X), 0), dtype=bool)

    def _standardise(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        return np.where(present, (scores - self.centres_) / self.scales_, 0.0)

    def _fit_weights(self, Z: np.ndarray, target: list[np.ndarray]) -> tuple[np.ndarray, float]:
        """Ridge weights with every negative one set to 0 and the rest refitted, until none is
        negative (a handful of modalities: at most that many refits)."""
        weights, intercept = np.zeros(Z.shape[1]), 0.0
        active = np.ones(Z.shape[1], dtype=bool)
        while active.any():
            fitted, intercept = self._ridge(Z[:, active], target)
            if (fitted > 0).all():
                weights[active] = fitted
                break
            active[np.flatnonzero(active)[fitted <= 0]] = False
        if not active.any() and self.task_ == "response":
            intercept = float(np.log(target[0].mean() / (1 - target[0].mean())))
        return weights, intercept

    def _ridge(self, Z: np.ndarray, target: list[np.ndarray]) -> tuple[np.ndarray, float]:
        if self.task_ == "survival":
            from sksurv.linear_model import CoxPHSurvivalAnalysis

            from oncoweave.fusion.survival_metrics import survival_array

            cox = CoxPHSurvivalAnalysis(alpha=self.ridge).fit(Z, survival_array(*target))
            return np.asarray(cox.coef_, dtype=float), 0.0
        from sklearn.linear_model import LogisticRegression

        logistic = LogisticRegression(C=1.0 / self.ridge).fit(Z, target[0].astype(int))
        return logistic.coef_[0], float(logistic.intercept_[0])

    def standardised_scores(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each modality's standardised score per patient (0 where the patient lacks it)."""
        scores = np.column_stack([self._score(self.models_[name], X)
                                  for name in self.modalities_]) if self.modalities_ else \
            np.zeros((len(X), 0))
        return pd.DataFrame(self._standardise(scores, self._present(X)), index=X.index,
                            columns=self.modalities_)

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.standardised_scores(X).to_numpy() @ self.weights_ + self.intercept_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.predict_risk(X)))
        return np.column_stack([1.0 - p, p])

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])
