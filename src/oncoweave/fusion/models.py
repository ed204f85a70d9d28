"""Early fusion of patient modalities for survival and response, its cross-validated evaluation
and ablation, and the ``oncoweave fusion`` command.

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
fold. :func:`default_candidates` lists the candidates.

:func:`cross_validate_survival` / :func:`cross_validate_response` give out-of-fold predictions
and per-fold metrics; :func:`ablation` runs every modality alone, all of them (early fusion) and
all-but-one. Per-fold Harrell's C mean and sd are what MCAT and most papers report; the 95 %
interval is a seeded bootstrap of that mean over the validation patients.

Outputs (:func:`write_outputs`): ``predictions.parquet`` (PREDICTIONS_SCHEMA or
RESPONSE_PREDICTIONS_SCHEMA), ``metrics.json`` (every number, the settings, seeds, versions,
runtimes) and PNG plots.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import sys
import time as clock
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import sklearn
import sksurv
import xgboost
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxnetSurvivalAnalysis
from threadpoolctl import threadpool_limits

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import file_sha256, replaced_on_success
from oncoweave.core.tables import read_parquet, schema_field, write_parquet
from oncoweave.fusion.survival_metrics import (
    BOOTSTRAP_RESAMPLES,
    bootstrap_ci,
    breslow_survival,
    calibration_bins,
    harrell_c,
    integrated_brier,
    response_metrics,
    survival_array,
    time_dependent_auc,
)

log = logging.getLogger(__name__)

# Column groups of the patient feature table (build_patient_features); columns matching none
# join the "clinical" group.
DEFAULT_AFFIXES = {"genomic": "gen_", "radiomics": "rad_", "deep": "deep_", "clinical": "clin_"}
REST_MODALITY = "clinical"
ALL = "all"

PREDICTIONS_SCHEMA = pa.schema([
    schema_field("id", pa.string(), "Patient id"),
    schema_field("model", pa.string(), "Modalities the model saw: one name, 'all' (early fusion) "
                 "or 'all-minus-<name>'"),
    schema_field("fold", pa.int64(), "Cross-validation fold whose validation set held the patient"),
    schema_field("risk", pa.float64(), "Predicted log hazard ratio (higher = earlier event) from "
                 "the fold's model; scales differ between folds"),
    schema_field("risk_group", pa.string(), "high or low: above or below the median risk the "
                 "fold's model gives its own training patients"),
    schema_field("risk_percentile", pa.float64(), "Percent of the fold's training patients the "
                 "fold's model gives a lower risk (ties half): comparable across folds"),
    schema_field("time", pa.float64(), "Observed follow-up (event or censoring time)"),
    schema_field("event", pa.int64(), "1 = event observed, 0 = censored"),
])
RESPONSE_PREDICTIONS_SCHEMA = pa.schema([
    schema_field("id", pa.string(), "Patient id"),
    schema_field("model", pa.string(), "Modalities the model saw: one name, 'all' (early fusion) "
                 "or 'all-minus-<name>'"),
    schema_field("fold", pa.int64(), "Cross-validation fold whose validation set held the patient"),
    schema_field("probability", pa.float64(), "Predicted probability of response"),
    schema_field("response", pa.int64(), "Observed response: 1 responder, 0 non-responder"),
])


# ---------------------------------------------------------------------------------------------
# Modality maps.

class ModalityMap(Mapping):
    """Modality name -> its feature columns (a column belongs to one modality at most)."""

    def __init__(self, groups: Mapping[str, Sequence[str]]):
        self._groups = {str(name): tuple(columns) for name, columns in groups.items() if columns}
        owners: dict[str, str] = {}
        for name, columns in self._groups.items():
            for column in columns:
                if column in owners:
                    raise ValueError(f"column {column} is in modalities {owners[column]} and "
                                     f"{name}")
                owners[column] = name

    @classmethod
    def from_affixes(cls, columns: Sequence[str], affixes: Mapping[str, str] = DEFAULT_AFFIXES,
                     rest: str = REST_MODALITY) -> "ModalityMap":
        """Group columns by prefix or suffix (a column starting or ending with a modality's
        affix belongs to it; the first matching modality wins); unmatched columns go to
        ``rest``."""
        groups: dict[str, list[str]] = {name: [] for name in affixes}
        groups.setdefault(rest, [])
        for column in columns:
            name = next((name for name, affix in affixes.items()
                         if column.startswith(affix) or column.endswith(affix)), rest)
            groups[name].append(column)
        return cls(groups)

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._groups[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def __repr__(self) -> str:
        return "ModalityMap(" + ", ".join(f"{n}: {len(c)} columns"
                                          for n, c in self._groups.items()) + ")"

    def columns(self, names: Sequence[str] | None = None) -> list[str]:
        """The columns of ``names`` (default: every modality), in map order."""
        return [c for name in (names if names is not None else self) for c in self[name]]

    def subset(self, names: Sequence[str]) -> "ModalityMap":
        return ModalityMap({name: self[name] for name in names})

    def expanded(self, encoded: Mapping[str, Sequence[str]]) -> "ModalityMap":
        """The map after one-hot encoding: each column replaced by its encoded columns."""
        return ModalityMap({name: [e for c in columns for e in encoded.get(c, [c])]
                            for name, columns in self._groups.items()})


def encode_features(table: pd.DataFrame, columns: Sequence[str]
                    ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Float feature matrix: numeric and boolean columns as they are, other columns one-hot
    encoded as ``<column>=<value>``. A missing category stays missing in every indicator.

    Returns (features, {source column: its indicator columns} for the encoded ones).
    """
    parts, encoded = [], {}
    for column in columns:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            parts.append(values.astype(float).rename(column))
            continue
        dummies = pd.get_dummies(values.astype("string"), prefix=column, prefix_sep="=",
                                 dtype=float)
        dummies[values.isna().to_numpy()] = np.nan
        encoded[column] = list(dummies.columns)
        parts.append(dummies)
    features = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=table.index)
    return features, encoded


# ---------------------------------------------------------------------------------------------
# Folds.

@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    source: str | None = None  # the split file it came from


def split_folds(ids: Sequence[str], splits_dir: str | Path | None = None, n_folds: int = 5,
                seed: int = 0, stratify: Sequence | None = None) -> list[Fold]:
    """Folds read from ``splits_dir`` (files ``splits_<k>.csv`` with columns train and val of
    ids, NaN-padded, as MCAT/CLAM write them), else seeded stratified k folds (each id in exactly
    one validation fold; ``stratify``: the event or response of each id)."""
    if splits_dir is not None:
        return read_splits(splits_dir, ids)
    ids = np.asarray([str(i) for i in ids])
    labels = np.zeros(len(ids)) if stratify is None else np.asarray(stratify)
    smallest = pd.Series(labels).value_counts().min()
    if smallest < n_folds:
        raise InputError(f"{n_folds} stratified folds need >= {n_folds} patients of each outcome "
                         f"class; the smallest has {smallest} (use fewer --n-folds)")
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return [Fold(k, tuple(ids[train]), tuple(ids[val]))
            for k, (train, val) in enumerate(splitter.split(ids, labels))]


def read_splits(splits_dir: str | Path, ids: Sequence[str]) -> list[Fold]:
    """Folds of a split folder; every id it names must be in ``ids``."""
    splits_dir = Path(splits_dir)
    numbered = {int(m.group(1)): path for path in splits_dir.glob("splits_*.csv")
                if (m := re.fullmatch(r"splits_(\d+)\.csv", path.name))}
    files = [numbered[k] for k in sorted(numbered)]
    if not files:
        raise InputError("no splits_<k>.csv files", path=splits_dir)
    known = set(map(str, ids))
    return [_read_split_file(path, k, known) for k, path in enumerate(files)]


def _read_split_file(path: Path, index: int, known: set[str]) -> Fold:
    try:
        split = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read split file ({err})", path=path) from None
    sets = {}
    for column in ("train", "val"):
        if column not in split.columns:
            raise InputError("missing column(s) " + column, path=path)
        values = split[column]
        for row, value in values.items():
            if pd.notna(value) and value not in known:
                raise InputError(f"id {value} is not in the table (or has no outcome)",
                                 path=path, row=int(row) + 2, column=column)
        sets[column] = tuple(values.dropna())
    both = set(sets["train"]) & set(sets["val"])
    if both:
        raise InputError(f"{len(both)} id(s) in both train and val, e.g. {sorted(both)[0]}",
                         path=path)
    return Fold(index, sets["train"], sets["val"], str(path))


# ---------------------------------------------------------------------------------------------
# Models. Every survival model has fit(X, time, event) and predict_risk(X) (a log hazard
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


class Reduced(BaseEstimator):
    """A reducer then a model, both fitted on the same (training) rows."""

    def __init__(self, reducer: ModalityReducer, model: BaseEstimator):
        self.reducer = reducer
        self.model = model

    def fit(self, X: pd.DataFrame, *target) -> "Reduced":
        self.reducer_ = clone(self.reducer).fit(X, *target)
        self.model_ = clone(self.model).fit(self.reducer_.transform(X), *target)
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
        target = [np.asarray(t) for t in target]
        strata = target[-1].astype(int)
        splitter = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed)
        inner = list(splitter.split(X, strata))
        self.inner_scores_ = {}
        for name, candidate in self.candidates.items():
            scores = []
            for train, val in inner:
                model = clone(candidate).fit(X.iloc[train], *(t[train] for t in target))
                scores.append(_score(model, X.iloc[val], [t[val] for t in target]))
            self.inner_scores_[name] = float(np.mean(scores))
        self.chosen_ = max(self.inner_scores_, key=self.inner_scores_.get)
        self.model_ = clone(self.candidates[self.chosen_]).fit(X, *target)
        return self

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_risk(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(X)


def _score(model, X: pd.DataFrame, target: list[np.ndarray]) -> float:
    if len(target) == 2:
        return harrell_c(target[0], target[1], model.predict_risk(X))
    return response_metrics(target[0], model.predict_proba(X)[:, 1])["auroc"]


def default_candidates(modality_map: ModalityMap, task: str = "survival", seed: int = 0,
                       model: str = "auto") -> dict[str, BaseEstimator]:
    """The candidates :class:`InnerCVSelection` chooses from.

    ``model``: "xgb" (boosting only), "cox" (penalised Cox only, survival) or "auto" (both).
    Boosting: 300 depth-2 trees at learning rate 0.03 on ``screen`` 16 / 64 columns per wide
    modality or 8 principal components. Penalised Cox: elastic net (l1_ratio 0.5) at 0.1 and 0.3
    times the all-zero alpha, on 16 screened columns or 8 components. Candidates that would
    reduce nothing (every modality narrower than the reduction) collapse to one per learner.
    """
    learners: dict[str, BaseEstimator] = {}
    if model in ("xgb", "auto"):
        learners["xgb"] = (XGBSurvival if task == "survival" else XGBResponse)(seed=seed)
    if model in ("cox", "auto") and task == "survival":
        learners["cox_r0.1"] = PenalisedCox(alpha_ratio=0.1)
        learners["cox_r0.3"] = PenalisedCox(alpha_ratio=0.3)
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
        from oncoweave.fusion.net import FusionNetSettings, FusionSurvivalModel

        settings = FusionNetSettings.from_config({"seed": self.seed, **(self.settings or {})})
        groups = {name: list(columns) for name, columns in self.modality_map.items()}
        self.model_ = FusionSurvivalModel(settings).fit(X, groups, time, event)
        return self

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_risk(X)


def default_model_factory(task: str = "survival", seed: int = 0, model: str = "auto",
                          inner_folds: int = 3) -> Callable[[ModalityMap], BaseEstimator]:
    """modality map -> the inner-CV-tuned model :func:`cross_validate_survival` fits per fold
    ("net": the torch fusion network with its default settings, no inner CV)."""
    if model == "net":
        return lambda modality_map: FusionNetSurvival(modality_map, seed)

    def factory(modality_map: ModalityMap) -> BaseEstimator:
        candidates = default_candidates(modality_map, task, seed, model)
        if len(candidates) == 1:
            return next(iter(candidates.values()))
        return InnerCVSelection(candidates, inner_folds, seed)
    return factory


# ---------------------------------------------------------------------------------------------
# Cross-validation and ablation.

def single_threaded_blas() -> threadpool_limits:
    """BLAS on one thread: on tables of a few hundred rows extra threads only contend (a PCA of
    300 x 3000 took 7 s instead of 0.2 s on a busy 2-core machine)."""
    return threadpool_limits(limits=1, user_api="blas")


def cross_validate_survival(table: pd.DataFrame, modality_map: ModalityMap, time: str,
                            event: str, folds: Sequence[Fold],
                            model_factory: Callable[[ModalityMap], BaseEstimator]
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-fold predictions and per-fold metrics of ``model_factory(modality_map)``.

    ``table`` is indexed by patient id and holds the features and the ``time`` / ``event``
    columns. Returns (predictions [id, fold, risk, risk_group, risk_percentile, time, event],
    per-fold metrics
    [fold, n_train, n_val, events_val, cindex, td_auc, ibs, td_auc_times, td_auc_values,
    chosen, inner_scores, fit_seconds]).
    """
    X = table[modality_map.columns()]
    predictions, per_fold = [], []
    for fold in folds:
        started = clock.perf_counter()
        train, val = list(fold.train), list(fold.val)
        t_train, e_train = table.loc[train, time].to_numpy(float), table.loc[train, event]
        t_val, e_val = table.loc[val, time].to_numpy(float), table.loc[val, event]
        e_train, e_val = e_train.to_numpy(int), e_val.to_numpy(int)
        with single_threaded_blas():
            model = model_factory(modality_map).fit(X.loc[train], t_train, e_train)
        risk_train, risk_val = model.predict_risk(X.loc[train]), model.predict_risk(X.loc[val])
        times, auc, mean_auc = time_dependent_auc(t_train, e_train, t_val, e_val, risk_val)
        survival = breslow_survival(t_train, e_train, risk_train, risk_val, times)
        per_fold.append({
            "fold": fold.index, "n_train": len(train), "n_val": len(val),
            "events_val": int(e_val.sum()), "cindex": harrell_c(t_val, e_val, risk_val),
            "td_auc": mean_auc, "ibs": integrated_brier(t_train, e_train, t_val, e_val, survival,
                                                        times),
            "td_auc_times": times.tolist(), "td_auc_values": auc.tolist(),
            **_selection(model), "fit_seconds": round(clock.perf_counter() - started, 2)})
        predictions.append(pd.DataFrame({
            "id": val, "fold": fold.index, "risk": risk_val,
            "risk_group": np.where(risk_val > np.median(risk_train), "high", "low"),
            "risk_percentile": percentile_among(risk_train, risk_val),
            "time": t_val, "event": e_val}))
        log.info("fold %d: C-index %.3f (%s, %.1f s)", fold.index, per_fold[-1]["cindex"],
                 per_fold[-1]["chosen"], per_fold[-1]["fit_seconds"])
    return pd.concat(predictions, ignore_index=True), pd.DataFrame(per_fold)


def cross_validate_response(table: pd.DataFrame, modality_map: ModalityMap, response: str,
                            folds: Sequence[Fold],
                            model_factory: Callable[[ModalityMap], BaseEstimator]
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-fold probabilities [id, fold, probability, response] and per-fold AUROC, AUPRC and
    Brier of ``model_factory(modality_map)`` (a fit(X, y) / predict_proba model)."""
    X = table[modality_map.columns()]
    predictions, per_fold = [], []
    for fold in folds:
        started = clock.perf_counter()
        train, val = list(fold.train), list(fold.val)
        y_train, y_val = table.loc[train, response].to_numpy(int), table.loc[val, response]
        y_val = y_val.to_numpy(int)
        with single_threaded_blas():
            model = model_factory(modality_map).fit(X.loc[train], y_train)
        probability = model.predict_proba(X.loc[val])[:, 1]
        both_classes = len(set(y_val)) == 2
        metrics = (response_metrics(y_val, probability) if both_classes
                   else {"auroc": np.nan, "auprc": np.nan, "brier": np.nan})
        per_fold.append({"fold": fold.index, "n_train": len(train), "n_val": len(val),
                         "responders_val": int(y_val.sum()), **metrics, **_selection(model),
                         "fit_seconds": round(clock.perf_counter() - started, 2)})
        predictions.append(pd.DataFrame({"id": val, "fold": fold.index,
                                         "probability": probability, "response": y_val}))
        log.info("fold %d: AUROC %.3f (%s)", fold.index, metrics["auroc"], per_fold[-1]["chosen"])
    return pd.concat(predictions, ignore_index=True), pd.DataFrame(per_fold)


def percentile_among(reference, values) -> np.ndarray:
    """Percent of ``reference`` below each of ``values``, ties counted half."""
    reference = np.sort(np.asarray(reference, dtype=float))
    below = np.searchsorted(reference, values, side="left")
    at_or_below = np.searchsorted(reference, values, side="right")
    return 100.0 * (below + at_or_below) / (2 * len(reference))


def _selection(model) -> dict:
    return {"chosen": getattr(model, "chosen_", type(model).__name__),
            "inner_scores": getattr(model, "inner_scores_", {})}


def ablation_configs(modalities: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each modality alone, all together ('all'), and all but each ('all-minus-<name>', when
    that is not already a single modality)."""
    modalities = tuple(modalities)
    configs = {name: (name,) for name in modalities}
    if len(modalities) > 1:
        configs[ALL] = modalities
    if len(modalities) > 2:
        configs.update({f"all-minus-{name}": tuple(m for m in modalities if m != name)
                        for name in modalities})
    return configs


@dataclass
class AblationResult:
    task: str  # "survival" or "response"
    summary: pd.DataFrame  # one row per config, best first
    per_fold: pd.DataFrame  # the per-fold metrics of every config ("model" column)
    predictions: pd.DataFrame  # the out-of-fold predictions of every config ("model" column)
    settings: dict = field(default_factory=dict)


def ablation(table: pd.DataFrame, modality_map: ModalityMap, folds: Sequence[Fold],
             model_factory: Callable[[ModalityMap], BaseEstimator], *, time: str | None = None,
             event: str | None = None, response: str | None = None,
             configs: Mapping[str, Sequence[str]] | None = None,
             n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> AblationResult:
    """Cross-validate every config of :func:`ablation_configs` (survival with ``time`` and
    ``event``, response with ``response``) on the same folds; summary best first."""
    task = "response" if response is not None else "survival"
    configs = configs or ablation_configs(list(modality_map))
    summaries, all_folds, all_predictions = [], [], []
    for name, modalities in configs.items():
        log.info("%s: %s", name, ", ".join(modalities))
        started = clock.perf_counter()
        subset = modality_map.subset(modalities)
        if task == "survival":
            predictions, per_fold = cross_validate_survival(table, subset, time, event, folds,
                                                            model_factory)
            summary = summarise_survival(predictions, per_fold, n_bootstrap, seed)
        else:
            predictions, per_fold = cross_validate_response(table, subset, response, folds,
                                                            model_factory)
            summary = summarise_response(predictions, per_fold, n_bootstrap, seed)
        summaries.append({"model": name, "modalities": list(modalities),
                          "n_features": len(subset.columns()), **summary,
                          "seconds": round(clock.perf_counter() - started, 1)})
        all_folds.append(per_fold.assign(model=name))
        all_predictions.append(predictions.assign(model=name))
    key = "cindex_mean" if task == "survival" else "auroc_mean"
    summary = pd.DataFrame(summaries).sort_values(key, ascending=False, kind="stable")
    return AblationResult(task, summary.reset_index(drop=True),
                          pd.concat(all_folds, ignore_index=True),
                          pd.concat(all_predictions, ignore_index=True),
                          {"n_bootstrap": n_bootstrap, "seed": seed})


def mean_fold_cindex(fold, time, event, risk) -> float:
    """Mean over folds of each fold's Harrell's C (folds' risk scales may differ)."""
    return float(np.mean([harrell_c(time[fold == k], event[fold == k], risk[fold == k])
                          for k in np.unique(fold)]))


def summarise_survival(predictions: pd.DataFrame, per_fold: pd.DataFrame,
                       n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Per-fold mean and sd of C-index, td-AUC and IBS; a bootstrap 95 % CI of the mean C over
    the validation patients; the pooled out-of-fold C (as MCAT's cindex_pooled_all_folds)."""
    columns = [predictions[c].to_numpy() for c in ("fold", "time", "event", "risk")]
    interval = bootstrap_ci(mean_fold_cindex, *columns, n_bootstrap=n_bootstrap, seed=seed)
    return {"cindex_mean": float(per_fold["cindex"].mean()),
            "cindex_sd": float(per_fold["cindex"].std(ddof=1)),
            "cindex_ci95": interval["ci95"],
            "cindex_pooled": harrell_c(*columns[1:]),
            "td_auc_mean": float(per_fold["td_auc"].mean()),
            "td_auc_sd": float(per_fold["td_auc"].std(ddof=1)),
            "ibs_mean": float(per_fold["ibs"].mean()),
            "ibs_sd": float(per_fold["ibs"].std(ddof=1)),
            "cindex_folds": [round(float(c), 4) for c in per_fold["cindex"]]}


def summarise_response(predictions: pd.DataFrame, per_fold: pd.DataFrame,
                       n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Per-fold mean and sd of AUROC, AUPRC and Brier; pooled out-of-fold values (probabilities
    share one scale) with bootstrap 95 % CIs; pooled calibration bins."""
    y, p = predictions["response"].to_numpy(int), predictions["probability"].to_numpy(float)
    summary = {}
    for metric in ("auroc", "auprc", "brier"):
        summary[f"{metric}_mean"] = float(per_fold[metric].mean())
        summary[f"{metric}_sd"] = float(per_fold[metric].std(ddof=1))
        pooled = bootstrap_ci(lambda a, b, m=metric: response_metrics(a, b)[m], y, p,
                              n_bootstrap=n_bootstrap, seed=seed)
        summary[f"{metric}_pooled"] = pooled["estimate"]
        summary[f"{metric}_pooled_ci95"] = pooled["ci95"]
    summary["calibration"] = calibration_bins(y, p)
    summary["auroc_folds"] = [round(float(v), 4) for v in per_fold["auroc"]]
    return summary


# ---------------------------------------------------------------------------------------------
# Outputs.

def write_outputs(result: AblationResult, output_dir: str | Path, settings: Mapping,
                  provenance: Mapping[str, str] | None = None) -> dict:
    """predictions.parquet, metrics.json and the plots into ``output_dir``; returns the metrics."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    schema = PREDICTIONS_SCHEMA if result.task == "survival" else RESPONSE_PREDICTIONS_SCHEMA
    write_parquet(result.predictions[schema.names], output_dir / "predictions.parquet", schema,
                  {"task": result.task, **(provenance or {})})
    metrics = {"task": result.task, "settings": dict(settings), "versions": versions(),
               "ablation": _records(result.summary),
               "per_fold": _records(result.per_fold)}
    with replaced_on_success(output_dir / "metrics.json") as temporary:
        temporary.write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")
    plot_results(result, output_dir)
    return metrics


def versions() -> dict[str, str]:
    return {"oncoweave": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "scikit-survival": sksurv.__version__, "xgboost": xgboost.__version__}


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", double_precision=6))


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def plot_results(result: AblationResult, output_dir: Path) -> list[Path]:
    """The PNGs of a result: ablation bars and, for survival, Kaplan-Meier curves by predicted
    risk group and td-AUC over time; for response, ROC and calibration curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = ALL if ALL in set(result.summary["model"]) else result.summary["model"].iloc[0]
    drawers = [("ablation.png", _plot_ablation)]
    drawers += ([("km_risk_groups.png", _plot_km), ("td_auc.png", _plot_td_auc)]
                if result.task == "survival" else
                [("roc.png", _plot_roc), ("calibration.png", _plot_calibration)])
    written = []
    for name, draw in drawers:
        figure, axis = plt.subplots(figsize=(6, 4.5))
        draw(axis, result, best)
        figure.tight_layout()
        with replaced_on_success(output_dir / name) as temporary:
            figure.savefig(temporary, dpi=100, format="png")
        plt.close(figure)
        written.append(output_dir / name)
    return written


def _plot_ablation(axis, result: AblationResult, best: str) -> None:
    metric = "cindex" if result.task == "survival" else "auroc"
    summary = result.summary.iloc[::-1]
    axis.barh(summary["model"], summary[f"{metric}_mean"], xerr=summary[f"{metric}_sd"],
              color=["tab:red" if m == best else "tab:blue" for m in summary["model"]])
    axis.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    axis.set_xlim(0.3, 1.0)
    axis.set_xlabel(f"{'Harrell C-index' if metric == 'cindex' else 'AUROC'} "
                    "(per-fold mean ± sd)")
    axis.set_title("Modality ablation")


def _plot_km(axis, result: AblationResult, best: str) -> None:
    from sksurv.compare import compare_survival
    from sksurv.nonparametric import kaplan_meier_estimator
    predictions = result.predictions[result.predictions["model"] == best]
    for group, colour in (("low", "tab:blue"), ("high", "tab:red")):
        rows = predictions[predictions["risk_group"] == group]
        if len(rows):
            times, survival = kaplan_meier_estimator(rows["event"].astype(bool),
                                                     rows["time"].astype(float))
            axis.step(times, survival, where="post", color=colour,
                      label=f"{group} risk (n={len(rows)})")
    title = f"Out-of-fold risk groups, model '{best}'"
    if predictions["risk_group"].nunique() == 2:
        _, p_value = compare_survival(
            survival_array(predictions["time"], predictions["event"]),
            predictions["risk_group"].to_numpy())
        title += f"\nlog-rank p = {p_value:.2g}"
    axis.set(xlabel="time", ylabel="survival probability", ylim=(0, 1.02), title=title)
    axis.legend()


def _plot_td_auc(axis, result: AblationResult, best: str) -> None:
    for name in result.summary["model"]:
        folds = result.per_fold[result.per_fold["model"] == name]
        curves = [(np.asarray(t), np.asarray(a)) for t, a in
                  zip(folds["td_auc_times"], folds["td_auc_values"]) if len(t) > 1]
        if not curves:
            continue
        # The folds' evaluation times differ: average their curves on the common time range.
        grid = np.linspace(max(t[0] for t, _ in curves), min(t[-1] for t, _ in curves), 25)
        mean = np.mean([np.interp(grid, t, a) for t, a in curves], axis=0)
        axis.plot(grid, mean, linewidth=2.5 if name == best else 1.2, label=name)
    axis.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="time", ylabel="cumulative/dynamic AUC (mean over folds)",
             title="Time-dependent AUC")
    axis.legend(fontsize=7)


def _plot_roc(axis, result: AblationResult, best: str) -> None:
    from sklearn.metrics import roc_curve
    for name in result.summary["model"]:
        rows = result.predictions[result.predictions["model"] == name]
        fpr, tpr, _ = roc_curve(rows["response"], rows["probability"])
        axis.plot(fpr, tpr, linewidth=2.5 if name == best else 1.2, label=name)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="false positive rate", ylabel="true positive rate",
             title="ROC, pooled out-of-fold")
    axis.legend(fontsize=7)


def _plot_calibration(axis, result: AblationResult, best: str) -> None:
    rows = result.predictions[result.predictions["model"] == best]
    bins = calibration_bins(rows["response"], rows["probability"])
    axis.plot(bins["mean_predicted"], bins["observed_fraction"], marker="o", label=best)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="mean predicted probability", ylabel="observed fraction of responders",
             title="Calibration, pooled out-of-fold (quantile bins)")
    axis.legend()


# ---------------------------------------------------------------------------------------------
# Reading and checking a table for the command line.

@dataclass
class PreparedTable:
    table: pd.DataFrame  # indexed by id: features plus the outcome column(s)
    modality_map: ModalityMap
    encoded: dict[str, list[str]]  # one-hot encoded source column -> its indicators
    outcome: dict[str, str]  # {"time", "event"} or {"response"} -> column in ``table``
    dropped_rows: int  # rows without an outcome


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (optionally gzipped) or Parquet table."""
    path = Path(path)
    if not path.exists():
        raise InputError("table not found", path=path)
    if path.suffix == ".parquet":
        return read_parquet(path)[0]
    try:
        return pd.read_csv(path, low_memory=False)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read table ({err})", path=path) from None


def _file_row(path: Path, index: int) -> int:
    """The row a user finds a record at: the CSV line (header is line 1), or the Parquet row."""
    return index + 1 if path.suffix == ".parquet" else index + 2


def _cell(value) -> str:
    """A cell as the user wrote it: text quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _numeric_column(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna() | ~np.isfinite(values.fillna(0))
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"not a number: {_cell(df[column].iloc[index])}", path=path,
                         row=_file_row(path, index), column=column)
    return values


def _binary_column(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = _numeric_column(df, column, path)
    bad = values.notna() & ~values.isin([0, 1])
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"must be 0 or 1, got {_cell(df[column].iloc[index])}", path=path,
                         row=_file_row(path, index), column=column)
    return values


def prepare_table(df: pd.DataFrame, path: str | Path, id_column: str, *,
                  time: str | None = None, event: str | None = None,
                  censorship: str | None = None, response: str | None = None,
                  drop: Sequence[str] = (), affixes: Mapping[str, str] | None = None,
                  one_row_per_id: str | None = None) -> PreparedTable:
    """Checked, one-row-per-id table of features and outcome.

    Survival: ``time`` with ``event`` (1 = observed) or ``censorship`` (1 = censored, as MCAT
    tables: event = 1 - censorship); response: ``response`` (0/1). Rows without an outcome are
    left out. Every other column not in ``drop`` is a feature; non-numeric ones are one-hot
    encoded. Repeated ids (several slides of one case) need ``one_row_per_id="first"`` and
    identical feature and outcome values.
    """
    path = Path(path)
    outcome_columns = [c for c in (time, event, censorship, response) if c is not None]
    missing = [c for c in [id_column, *outcome_columns, *drop] if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    if df[id_column].isna().any():
        index = int(np.flatnonzero(df[id_column].isna().to_numpy())[0])
        raise InputError("missing id", path=path, row=_file_row(path, index), column=id_column)
    df = df.reset_index(drop=True)
    outcome = pd.DataFrame(index=df.index)
    if response is not None:
        outcome["response"] = _binary_column(df, response, path)
    else:
        outcome["time"] = _numeric_column(df, time, path)
        if (outcome["time"] < 0).any():
            index = int(np.flatnonzero((outcome["time"] < 0).to_numpy())[0])
            raise InputError(f"negative time {_cell(df[time].iloc[index])}", path=path,
                             row=_file_row(path, index), column=time)
        indicator = _binary_column(df, event or censorship, path)
        outcome["event"] = indicator if event is not None else 1 - indicator
    feature_columns = [c for c in df.columns
                       if c not in {id_column, *outcome_columns, *drop}]
    ids = df[id_column].astype(str)
    df = _one_row_per_id(df.assign(**{id_column: ids}), id_column,
                         feature_columns + outcome_columns, path, one_row_per_id)
    outcome = outcome.loc[df.index]
    features, encoded = encode_features(df, feature_columns)
    if encoded:
        log.info("one-hot encoded non-numeric column(s): %s", ", ".join(encoded))
    table = pd.concat([features, outcome], axis=1)
    table.index = pd.Index(df[id_column], name="id")
    has_outcome = outcome.notna().all(axis=1).to_numpy()
    if not has_outcome.all():
        log.warning("%d patient(s) without an outcome are left out", int((~has_outcome).sum()))
    table = table[has_outcome]
    if response is None and table["event"].sum() == 0:
        raise InputError("no observed event", path=path, column=event or censorship)
    outcome_names = {"response": "response"} if response is not None else {"time": "time",
                                                                          "event": "event"}
    affixes = affixes or DEFAULT_AFFIXES
    modality_map = ModalityMap.from_affixes(feature_columns, affixes)
    unmatched = [c for c in modality_map.get(REST_MODALITY, ())
                 if not c.startswith(affixes.get(REST_MODALITY, "\0"))]
    if unmatched:
        # An outcome left in the table (a response column in a survival run) would leak here.
        log.info("features matching no modality affix, in '%s': %s", REST_MODALITY,
                 ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else ""))
    return PreparedTable(table, modality_map.expanded(encoded), encoded, outcome_names,
                         int((~has_outcome).sum()))


def _one_row_per_id(df: pd.DataFrame, id_column: str, checked: list[str], path: Path,
                    mode: str | None) -> pd.DataFrame:
    repeated = df[id_column].duplicated(keep=False)
    if not repeated.any():
        return df
    if mode != "first":
        index = int(np.flatnonzero(df[id_column].duplicated().to_numpy())[0])
        raise InputError(f"id {df[id_column].iloc[index]} is repeated (use --one-row-per-id "
                         "first when repeats are copies, e.g. one row per slide)", path=path,
                         row=_file_row(path, index), column=id_column)
    repeats = df[repeated]
    differing = repeats.groupby(id_column, sort=False)[checked].nunique(dropna=False) > 1
    if differing.to_numpy().any():
        case, column = differing.stack().loc[lambda s: s].index[0]
        index = int(np.flatnonzero((df[id_column] == case).to_numpy())[1])
        raise InputError(f"id {case} has rows with different values (drop the column with "
                         "--drop if it is per row, e.g. a slide id)", path=path,
                         row=_file_row(path, index), column=column)
    return df[~df[id_column].duplicated()]


def parse_affixes(specs: Sequence[str]) -> dict[str, str]:
    """['rna=_rnaseq', 'cnv=_cnv'] -> {'rna': '_rnaseq', 'cnv': '_cnv'}."""
    affixes = {}
    for spec in specs:
        name, _, affix = spec.partition("=")
        if not name or not affix:
            raise InputError(f"--modality must be NAME=SUFFIX_OR_PREFIX, got {spec!r}")
        affixes[name] = affix
    return affixes


# ---------------------------------------------------------------------------------------------
# Command line.

def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fusion", help="cross-validated early-fusion survival (or response) models, ablation",
        description="Early-fusion xgboost survival (or response) model over modality column "
                    "groups: per-fold C-index, td-AUC, IBS and an ablation of the modalities. "
                    "Every column except id, outcome and --drop is a feature; non-numeric ones "
                    "are one-hot encoded. Missing values stay missing (xgboost handles them).")
    parser.add_argument("--table", required=True, help="CSV, CSV.gz or Parquet, one row per "
                        "patient (or per slide with --one-row-per-id first)")
    parser.add_argument("--id", required=True, dest="id_column", help="patient id column")
    parser.add_argument("--time", help="follow-up time column (survival)")
    outcome = parser.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--event", help="event column: 1 = event observed, 0 = censored")
    outcome.add_argument("--censorship", help="censorship column: 1 = censored (MCAT tables)")
    outcome.add_argument("--response", help="binary response column (1/0) instead of survival")
    parser.add_argument("--splits", help="folder of splits_<k>.csv (columns train, val of ids); "
                        "default: stratified folds")
    parser.add_argument("--n-folds", type=int, default=5, help="folds without --splits "
                        "(default %(default)s)")
    parser.add_argument("--modality", action="append", default=[], metavar="NAME=AFFIX",
                        help="columns starting or ending with AFFIX form modality NAME (repeat); "
                        "the rest form 'clinical'. Default: gen_, rad_, deep_, clin_")
    parser.add_argument("--drop", action="extend", nargs="+", default=[], metavar="COL",
                        help="columns that are not features (ids per row, flags)")
    parser.add_argument("--one-row-per-id", choices=["first"],
                        help="collapse repeated ids (their values must agree)")
    parser.add_argument("--model", choices=["auto", "xgb", "cox", "net"], default="auto",
                        help="candidates the inner CV chooses from, or net: the torch fusion "
                        "network (default %(default)s)")
    parser.add_argument("--inner-folds", type=int, default=3,
                        help="inner CV folds on each training fold (default %(default)s)")
    parser.add_argument("--no-ablation", action="store_true",
                        help="only the all-modality model")
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP_RESAMPLES,
                        help="bootstrap resamples for CIs (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="output folder")
    parser.set_defaults(func=_cmd_fusion)


def _cmd_fusion(args: argparse.Namespace) -> int:
    _log_to_stderr()
    started = clock.perf_counter()
    if args.response is None and args.time is None:
        raise InputError("survival needs --time (or give --response)")
    if args.response is not None and args.model in ("cox", "net"):
        raise InputError(f"--model {args.model} is a survival model here; use xgb or auto with "
                         "--response")
    path = Path(args.table)
    prepared = prepare_table(read_table(path), path, args.id_column, time=args.time,
                             event=args.event, censorship=args.censorship,
                             response=args.response, drop=args.drop,
                             affixes=parse_affixes(args.modality) or None,
                             one_row_per_id=args.one_row_per_id)
    table, modality_map = prepared.table, prepared.modality_map
    task = "response" if args.response else "survival"
    label = table["response" if args.response else "event"].astype(int)
    folds = split_folds(table.index, args.splits, args.n_folds, args.seed, label)
    factory = default_model_factory(task, args.seed, args.model, args.inner_folds)
    configs = (ablation_configs(list(modality_map)) if not args.no_ablation
               else {ALL: tuple(modality_map)})
    result = ablation(table, modality_map, folds, factory,
                      **({"response": "response"} if args.response else
                         {"time": "time", "event": "event"}),
                      configs=configs, n_bootstrap=args.bootstrap, seed=args.seed)
    settings = {**{k: v for k, v in vars(args).items() if k != "func"},
                "task": task, "n_patients": len(table),
                "n_events" if task == "survival" else "n_responders": int(label.sum()),
                "patients_without_outcome": prepared.dropped_rows,
                "modalities": {name: len(columns) for name, columns in modality_map.items()},
                "one_hot_encoded": prepared.encoded,
                "folds": [{"index": f.index, "n_train": len(f.train), "n_val": len(f.val),
                           "source": f.source} for f in folds],
                "table_sha256": file_sha256(path), "seconds": round(clock.perf_counter() - started, 1),
                "candidates": (["FusionNetSurvival"] if args.model == "net" else
                               list(default_candidates(modality_map, task, args.seed, args.model)))}
    write_outputs(result, args.output, settings, {"table": path.name, "seed": str(args.seed)})
    print(format_report(result, args.output))
    return 0


def format_report(result: AblationResult, output_dir: str | Path) -> str:
    metric = "cindex" if result.task == "survival" else "auroc"
    best = ALL if ALL in set(result.summary["model"]) else result.summary["model"].iloc[0]
    folds = result.per_fold[result.per_fold["model"] == best]
    outcome_count = "events_val" if result.task == "survival" else "responders_val"
    lines = [f"Per-fold {metric} of model '{best}':",
             folds[["fold", "n_val", outcome_count, metric, "chosen"]].to_string(
                 index=False, float_format="%.4f"), "", "Ablation (per-fold mean ± sd):"]
    extra = ["td_auc_mean", "ibs_mean"] if result.task == "survival" else ["auprc_mean",
                                                                          "brier_mean"]
    table = result.summary[["model", "n_features", f"{metric}_mean", f"{metric}_sd", *extra]]
    lines += [table.to_string(index=False, float_format="%.4f"), "",
              f"wrote {Path(output_dir) / 'predictions.parquet'}, metrics.json and plots"]
    return "\n".join(lines)


def _log_to_stderr() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
