"""The early-fusion models: gradient-boosted and penalised Cox learners, per-modality column
screening inside the training fold, and the inner-CV choice between candidates.

*Early fusion* here: the columns of every modality are concatenated into one feature table and
one model is fitted on it. Missing values stay NaN: :class:`XGBSurvival` / :class:`XGBResponse`
(xgboost) learn a default direction for them at every split, so a patient without a modality is
scored from the modalities they have. Nothing is zero-filled; only the penalised Cox baseline
(:class:`PenalisedCox`, for comparison) imputes medians because it cannot do otherwise.

High-dimensional modalities (thousands of RNA columns for ~300 patients) would swamp a model, so
:class:`ModalityReducer` shrinks every modality wider than ``keep_whole_up_to`` columns *inside
the training fold*: ``screen`` keeps the ``n_keep`` columns with the largest univariate Cox
score statistic (survival) or correlation with the label (response), ``pca`` replaces them with
principal components. Which reduction and model to use is chosen by :class:`InnerCVSelection`:
an inner stratified k-fold CV on the outer training fold only (the validation fold is never
seen), the candidate with the best mean inner C-index (AUROC) is refitted on the whole training
fold. :mod:`oncoweave.fusion.candidates` lists the candidates; cross-validation and ablation are in
:mod:`oncoweave.fusion.cross_validation`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from oncoweave.fusion.modalities import ALL, ModalityMap
from oncoweave.fusion.survival_metrics import harrell_c, response_metrics, survival_array

log = logging.getLogger(__name__)


# Every survival model has fit(X, time, event) and predict_risk(X) (a log hazard
# ratio); every response model fit(X, y) and predict_proba(X). Learned state ends in "_".

class XGBSurvival(BaseEstimator):
    """Gradient-boosted Cox model (xgboost ``survival:cox``); NaN handled natively.

    Defaults suit a few hundred patients: shallow trees, slow learning, row and column
    subsampling and a minimum hessian per leaf against splitting on a handful of patients.
    """

    def __init__(self, n_estimators: int = 300, max_depth: int = 2, learning_rate: float = 0.03,
                 subsample: float = 0.8, colsample_bytree: float = 0.5,
                 min_child_weight: float = 2.0, reg_lambda: float = 1.0, seed: int = 0,
                 n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.seed = seed
        self.n_jobs = n_jobs

    def _booster(self, objective: str, **extra) -> dict:
        # n_jobs=1: on a small table extra threads only contend (20x slower on a busy 2 cores).
        return dict(objective=objective, n_estimators=self.n_estimators,
                    max_depth=self.max_depth, learning_rate=self.learning_rate,
                    subsample=self.subsample, colsample_bytree=self.colsample_bytree,
                    min_child_weight=self.min_child_weight, reg_lambda=self.reg_lambda,
                    random_state=self.seed, n_jobs=self.n_jobs, tree_method="hist", **extra)

    def fit(self, X: pd.DataFrame, time, event) -> "XGBSurvival":
        import xgboost

        time = np.asarray(time, dtype=float)
        event = np.asarray(event).astype(bool)
        # survival:cox reads negative labels as censored; a censored time 0 must stay negative.
        label = np.where(event, time, -np.maximum(time, 1e-9))
        self.feature_names_in_ = list(X.columns)
        self.model_ = xgboost.XGBRegressor(**self._booster("survival:cox")).fit(
            _as_float(X), label)
        return self

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(_as_float(X[self.feature_names_in_]), output_margin=True)


class XGBResponse(XGBSurvival):
    """Gradient-boosted logistic model (xgboost ``binary:logistic``); NaN handled natively."""

    def fit(self, X: pd.DataFrame, y) -> "XGBResponse":
        import xgboost

        self.feature_names_in_ = list(X.columns)
        self.classes_ = np.array([0, 1])
        self.model_ = xgboost.XGBClassifier(**self._booster("binary:logistic")).fit(
            _as_float(X), np.asarray(y).astype(int))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(_as_float(X[self.feature_names_in_]))

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1]


class PenalisedCox(BaseEstimator):
    """Elastic-net Cox (sksurv ``CoxnetSurvivalAnalysis``) after median imputation and
    standardisation fitted on the training rows: the linear baseline to compare with.

    The penalty is relative, as in glmnet: ``alpha_ratio`` times the smallest alpha that zeroes
    every coefficient on these rows, reached along a warm-started path of ``n_alphas`` (one
    fixed alpha converges badly and means different things for different tables).
    """

    def __init__(self, alpha_ratio: float = 0.3, l1_ratio: float = 0.5, n_alphas: int = 20):
        self.alpha_ratio = alpha_ratio
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas

    def fit(self, X: pd.DataFrame, time, event) -> "PenalisedCox":
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sksurv.linear_model import CoxnetSurvivalAnalysis

        self.feature_names_in_ = list(X.columns)
        self.model_ = make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
            CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=self.n_alphas,
                                   alpha_min_ratio=self.alpha_ratio, max_iter=100000))
        with warnings.catch_warnings(record=True) as caught:
            # Early stops and an all-zero fit are legitimate outcomes of a strong penalty on a
            # small fold (the inner CV scores them); record them instead of flooding stderr.
            warnings.simplefilter("always")
            self.model_.fit(_as_float(X), survival_array(time, event))
        self.fit_warnings_ = sorted({str(w.message).split(",")[0] for w in caught})
        if self.fit_warnings_:
            log.debug("penalised Cox: %s", "; ".join(self.fit_warnings_))
        return self

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        # Coxnet predicts at the last (smallest) alpha of the path: alpha_ratio * alpha_max.
        return self.model_.predict(_as_float(X[self.feature_names_in_]))


def _as_float(X: pd.DataFrame) -> np.ndarray:
    return np.asarray(X, dtype=float)


def univariate_cox_z(X: np.ndarray, time, event) -> np.ndarray:
    """Score-test z of each column in a univariate Cox model (at beta = 0, Breslow ties), each on
    the rows where it is observed; 0 for columns without variation among them.

    Vectorised over columns: risk-set sums are cumulative sums over rows sorted by descending
    time (a ~300 x 3000 table takes milliseconds, against seconds for a per-column C-index).
    """
    X = np.asarray(X, dtype=float)
    order = np.argsort(-np.asarray(time, dtype=float), kind="stable")
    t, e, x = np.asarray(time, dtype=float)[order], np.asarray(event).astype(bool)[order], X[order]
    observed = ~np.isnan(x)
    x = np.where(observed, x - _column_means(x), 0.0)  # centred: stable sums of squares
    # Row i's risk set is every row with time >= t_i: the rows up to the last one tied with it.
    last = np.searchsorted(-t, -t, side="right") - 1
    n_at_risk = np.cumsum(observed, axis=0)[last]
    s1, s2 = np.cumsum(x, axis=0)[last], np.cumsum(x * x, axis=0)[last]
    counted = observed & e[:, np.newaxis]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n_at_risk
        score = np.where(counted, x - mean, 0).sum(axis=0)
        information = np.where(counted, s2 / n_at_risk - mean ** 2, 0).sum(axis=0)
        z = score / np.sqrt(information)
    return np.where(information > 1e-12, z, 0.0)


def univariate_binary_z(X: np.ndarray, y) -> np.ndarray:
    """Correlation of each column with a 0/1 label times sqrt(n), on its observed rows."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)[:, np.newaxis]
    observed = ~np.isnan(X)
    n = observed.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(observed, X - _column_means(X), 0)
        yc = np.where(observed, y - (observed * y).sum(axis=0) / n, 0)
        r = (xc * yc).sum(axis=0) / np.sqrt((xc ** 2).sum(axis=0) * (yc ** 2).sum(axis=0))
    return np.nan_to_num(r * np.sqrt(n))


def _column_means(X: np.ndarray) -> np.ndarray:
    """Means over the observed values; NaN for an all-missing column (no warning)."""
    observed = ~np.isnan(X)
    counts = observed.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(observed, X, 0).sum(axis=0) / counts


class ModalityReducer(BaseEstimator):
    """Per-modality reduction fitted on the training rows only.

    Modalities with at most ``keep_whole_up_to`` columns pass through. Wider ones are reduced to
    ``n_keep`` columns: ``method="screen"`` keeps the columns with the largest |univariate z|
    (Cox score test for survival, label correlation for response); ``"pca"`` keeps principal
    components of the standardised columns (medians impute scattered gaps for PCA only; a patient
    without any value of the modality gets NaN components: still missing, not zero).
    """

    def __init__(self, modality_map: ModalityMap | None = None, method: str = "screen",
                 n_keep: int = 32, keep_whole_up_to: int = 32):
        self.modality_map = modality_map
        self.method = method
        self.n_keep = n_keep
        self.keep_whole_up_to = keep_whole_up_to

    def fit(self, X: pd.DataFrame, *target) -> "ModalityReducer":
        from sklearn.decomposition import PCA
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        groups = self.modality_map or ModalityMap({ALL: list(X.columns)})
        self.kept_, self.pca_ = {}, {}
        for name, columns in groups.items():
            columns = [c for c in columns if c in X.columns]
            if len(columns) <= max(self.keep_whole_up_to, self.n_keep):
                self.kept_[name] = columns
            elif self.method == "screen":
                z = (univariate_cox_z(X[columns], *target) if len(target) == 2
                     else univariate_binary_z(X[columns], *target))
                best = np.argsort(-np.abs(z), kind="stable")[:self.n_keep]
                self.kept_[name] = [columns[i] for i in sorted(best)]
            elif self.method == "pca":
                rows = X[columns].notna().any(axis=1).to_numpy()
                if rows.sum() < 2:  # no component can be fitted: the modality sits this fold out
                    self.kept_[name] = []
                    continue
                n_components = min(self.n_keep, int(rows.sum()) - 1, len(columns))
                self.pca_[name] = (columns, make_pipeline(
                    SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                    PCA(n_components, svd_solver="full")).fit(_as_float(X.loc[rows, columns])))
            else:
                raise ValueError(f"unknown reduction method {self.method!r}")
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        parts = [X[columns] for columns in self.kept_.values()]
        for name, (columns, pipeline) in self.pca_.items():
            rows = X[columns].notna().any(axis=1).to_numpy()
            components = np.full((len(X), pipeline[-1].n_components_), np.nan)
            if rows.any():
                components[rows] = pipeline.transform(_as_float(X.loc[rows, columns]))
            parts.append(pd.DataFrame(components, index=X.index,
                                      columns=[f"{name}_pc{i + 1:02d}"
                                               for i in range(components.shape[1])]))
        return pd.concat(parts, axis=1)


class NoFeatures(BaseEstimator):
    """The model of a fold without features: the same risk for everyone, the training
    responder rate as every patient's probability."""

    def fit(self, X: pd.DataFrame, *target) -> "NoFeatures":
        self.rate_ = float(np.mean(target[-1])) if len(target) == 1 else 0.0
        self.classes_ = np.array([0, 1])
        return self

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.tile([1.0 - self.rate_, self.rate_], (len(X), 1))


class Reduced(BaseEstimator):
    """A reducer then a model, both fitted on the same (training) rows."""

    def __init__(self, reducer: ModalityReducer, model: BaseEstimator):
        self.reducer = reducer
        self.model = model

    def fit(self, X: pd.DataFrame, *target) -> "Reduced":
        self.reducer_ = clone(self.reducer).fit(X, *target)
        reduced = self.reducer_.transform(X)
        # A training fold where the modalities have no value left: predict no difference.
        model = self.model if reduced.shape[1] else NoFeatures()
        self.model_ = clone(model).fit(reduced, *target)
        return self

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_risk(self.reducer_.transform(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self.reducer_.transform(X))


class InnerCVSelection(BaseEstimator):
    """The candidate with the best mean inner-CV score on the rows it is fitted on, refitted on
    all of them: Harrell's C for fit(X, time, event), AUROC for fit(X, y). The inner folds are
    stratified by event / label and seeded; ties go to the earlier candidate."""

    def __init__(self, candidates: Mapping[str, BaseEstimator] | None = None, n_folds: int = 3,
                 seed: int = 0):
        self.candidates = candidates
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, X: pd.DataFrame, *target) -> "InnerCVSelection":
        self._score_candidates(X, target)
        self.chosen_ = max(self.inner_scores_, key=self.inner_scores_.get)
        self.model_ = clone(self.candidates[self.chosen_]).fit(X, *target)
        return self

    def _score_candidates(self, X: pd.DataFrame, target) -> None:
        """``inner_scores_``: each candidate's mean score over the inner folds;
        ``inner_predictions_``: its predictions on each inner validation fold (risk or
        probability), ``inner_folds_``: the (train, validation) row positions."""
        from sklearn.model_selection import StratifiedKFold

        target = [np.asarray(t) for t in target]
        strata = target[-1].astype(int)
        splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed)
        inner = self.inner_folds_ = list(splitter.split(X, strata))
        self.inner_scores_, self.inner_predictions_ = {}, {}
        # Candidates that share a reducer (screen16 before xgb and both Cox models, say) share
        # its fit on each inner training fold: the same fit, so the same columns and scores.
        reduced: dict[tuple, tuple[pd.DataFrame, pd.DataFrame]] = {}
        for name, candidate in self.candidates.items():
            predictions = []
            for k, (train, val) in enumerate(inner):
                fold_target, val_target = [t[train] for t in target], [t[val] for t in target]
                if not isinstance(candidate, Reduced):
                    model = clone(candidate).fit(X.iloc[train], *fold_target)
                    predictions.append(_prediction(model, X.iloc[val], val_target))
                    continue
                key = (k, _estimator_key(candidate.reducer))
                if key not in reduced:
                    reducer = clone(candidate.reducer).fit(X.iloc[train], *fold_target)
                    reduced[key] = (reducer.transform(X.iloc[train]),
                                    reducer.transform(X.iloc[val]))
                X_train, X_val = reduced[key]
                model = clone(candidate.model).fit(X_train, *fold_target)
                predictions.append(_prediction(model, X_val, val_target))
            self.inner_predictions_[name] = predictions
            self.inner_scores_[name] = float(np.mean([
                score_prediction(prediction, [t[val] for t in target])
                for prediction, (_, val) in zip(predictions, inner)]))

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_risk(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(X)


def _estimator_key(estimator: BaseEstimator) -> tuple:
    """Hashable identity of an unfitted estimator: its class and parameters (mappings such as
    a ModalityMap as their items)."""
    def frozen(value):
        if isinstance(value, Mapping):
            return tuple((k, frozen(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return tuple(frozen(v) for v in value)
        if isinstance(value, BaseEstimator):
            return _estimator_key(value)
        return value
    return (type(estimator).__name__, frozen(estimator.get_params(deep=False)))


def _score(model, X: pd.DataFrame, target: list[np.ndarray]) -> float:
    return score_prediction(_prediction(model, X, target), target)


def _prediction(model, X: pd.DataFrame, target: list[np.ndarray]) -> np.ndarray:
    """The risk (survival: target is time, event) or the probability (response)."""
    return model.predict_risk(X) if len(target) == 2 else model.predict_proba(X)[:, 1]


def score_prediction(prediction: np.ndarray, target: list[np.ndarray]) -> float:
    if len(target) == 2:
        return harrell_c(target[0], target[1], prediction)
    return response_metrics(target[0], prediction)["auroc"]


class FusionNetSurvival(BaseEstimator):
    """The torch fusion network (:class:`oncoweave.fusion.net.FusionSurvivalModel`: an encoder per
    modality, modality dropout, Cox head) behind the ``fit(X, time, event)`` / ``predict_risk(X)``
    interface of the cross-validation. torch is imported only when it is used."""

    def __init__(self, modality_map: Mapping[str, Sequence[str]] | None = None, seed: int = 0,
                 settings: Mapping | None = None):
        self.modality_map = modality_map
        self.seed = seed
        self.settings = settings

    def fit(self, X: pd.DataFrame, time, event) -> FusionNetSurvival:
        from oncoweave.fusion.net import FusionSurvivalModel
        from oncoweave.fusion.net_settings import FusionNetSettings

        settings = FusionNetSettings.from_config({"seed": self.seed, **(self.settings or {})})
        groups = {name: list(columns) for name, columns in self.modality_map.items()}
        self.model_ = FusionSurvivalModel(settings).fit(X, groups, time, event)
        return self

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_risk(X)
