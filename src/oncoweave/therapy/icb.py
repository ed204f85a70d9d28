"""Response to immune checkpoint blockade (ICB): the calibrated model, its directory, predictions.

Trained on the Chowell et al. (Nat Biotechnol 2022) MSK-IMPACT cohort as re-used by LORIS
(Chang et al., Nat Cancer 2024): 964 patients, 282 responders. The candidates are compared by
stratified, seeded 5-fold cross-validation (AUROC, AUPRC, Brier, each with a patient-bootstrap
95 % CI): logistic regressions and xgboost models, on the six LORIS features and on the sixteen
of Chowell et al. Every candidate is wrapped in a sigmoid ``CalibratedClassifierCV``.

Every patient with a TMB is scored. A cancer type that is not a training type (or none) is
scored with the pan-cancer "other" level: all one-hot cancer-type terms 0, the model's reference
level (as LORIS does for types outside its training set). Any other missing feature takes the
training cohort's median. Both are flagged per patient (``cancer_type_used``,
``cancer_type_flag``, ``imputed_features``); only a missing TMB gives no probability, with the
reason. ``therapy.icb_validation`` measures both fallbacks (leave-one-cancer-type-out and
masked-predictor AUROC). The uncertainty is a percentile interval over models refitted on
bootstrap resamples of the training cohort.

A model directory holds ``model.joblib`` (the fitted :class:`ICBResponseModel`) and
``model_card.json`` (data, features, versions, seed, metrics, the sha256 of ``model.joblib``);
``therapy.icb_training`` cross-validates the candidates and writes one. The bundled model pickles
``ICBResponseModel`` and ``_cap`` by their place in this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from oncoweave.core.errors import InputError
from oncoweave.core.io import file_sha256, replaced_on_success
from oncoweave.core.tables import write_parquet
from oncoweave.core.threads import single_threaded_blas
from oncoweave.therapy.icb_candidates import (
    BUNDLED_MODEL_DIR,
    CANCER_TYPE,
    CANDIDATES,
    CAPS,
    CV_SPLITS,
    DEFAULT_CANDIDATE,
    INNER_CV_C_GRID,
    INTERVAL_COVERAGE,
    NEVER_IMPUTED,
    OTHER_CANCER_TYPE,
    Candidate,
)
from oncoweave.therapy.icb_tables import ICB_SCHEMA, parse_features, patient_ids

MODEL_FILE, CARD_FILE = "model.joblib", "model_card.json"


def _cap(values: pd.DataFrame) -> pd.DataFrame:
    capped = values.copy()
    for name, cap in CAPS.items():
        if name in capped.columns:
            capped[name] = capped[name].clip(upper=cap)
    return capped


def _learner(kind: str, seed: int) -> BaseEstimator:
    if kind == "logistic":
        # C=0.1 as in LORIS (there with an L1 penalty); L2 keeps all cancer-type terms.
        return LogisticRegression(C=0.1, max_iter=5000)
    if kind == "logistic_inner_cv":
        from sklearn.model_selection import StratifiedKFold as InnerFolds

        # C chosen by AUROC in an inner CV of the rows this learner is fitted on.
        return LogisticRegressionCV(Cs=list(INNER_CV_C_GRID), l1_ratios=(0.0,),  # 0.0: L2
                                    scoring="roc_auc", max_iter=5000,
                                    use_legacy_attributes=False,
                                    cv=InnerFolds(CV_SPLITS, shuffle=True, random_state=seed))
    import xgboost

    # Shallow, few trees: 964 patients do not support more (deeper/longer scored lower in CV).
    return xgboost.XGBClassifier(n_estimators=100, max_depth=2, learning_rate=0.05,
                                 subsample=0.8, colsample_bytree=0.8, random_state=seed,
                                 n_jobs=1)


def calibrated_pipeline(candidate: Candidate, seed: int = 0) -> CalibratedClassifierCV:
    """Cap -> scale numbers, one-hot cancer type -> learner, sigmoid-calibrated by 5-fold CV."""
    numeric = make_pipeline(FunctionTransformer(_cap, feature_names_out="one-to-one"),
                            StandardScaler())
    columns = ColumnTransformer([
        ("numeric", numeric, list(candidate.numeric)),
        ("cancer_type", OneHotEncoder(handle_unknown="ignore"), [CANCER_TYPE]),
    ])
    pipeline = Pipeline([("columns", columns), ("learner", _learner(candidate.learner, seed))])
    folds = StratifiedKFold(CV_SPLITS, shuffle=True, random_state=seed)
    # ensemble=False: one pipeline fitted on all rows, its sigmoid fitted on out-of-fold scores
    # (one model to apply instead of five; the bootstrap interval applies hundreds).
    return CalibratedClassifierCV(pipeline, method="sigmoid", cv=folds, ensemble=False)


class ICBResponseModel(ClassifierMixin, BaseEstimator):
    """A calibrated candidate plus ``n_bootstrap`` refits on bootstrap resamples (the interval)."""

    def __init__(self, candidate: str = DEFAULT_CANDIDATE, n_bootstrap: int = 200,
                 random_state: int = 0):
        self.candidate = candidate
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "ICBResponseModel":
        spec = CANDIDATES[self.candidate]
        X = X[list(spec.features)]
        y = np.asarray(y, dtype=int)
        self.features_ = spec.features
        self.cancer_types_ = tuple(sorted(X[CANCER_TYPE].unique()))
        # The training medians a missing feature takes at prediction (a 0/1 feature's is its mode).
        self.imputation_values_ = {name: float(X[name].median()) for name in spec.numeric
                                   if name not in NEVER_IMPUTED}
        self.classes_ = np.array([0, 1])
        rng = np.random.default_rng(self.random_state)
        with single_threaded_blas():
            self.estimator_ = calibrated_pipeline(spec, self.random_state).fit(X, y)
            self.bootstrap_estimators_ = []
            for _ in range(self.n_bootstrap):
                rows = rng.integers(0, len(y), len(y))
                refit = calibrated_pipeline(spec, int(rng.integers(2**31)))
                self.bootstrap_estimators_.append(refit.fit(X.iloc[rows], y[rows]))
        return self

    def completed(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model features of ``X`` as scored: a cancer type outside the training types (or
        none) becomes OTHER_CANCER_TYPE (all one-hot terms 0), a missing feature other than
        NEVER_IMPUTED takes its training median. A missing NEVER_IMPUTED feature is an error."""
        X = X[list(self.features_)].copy()
        unimputable = [name for name in NEVER_IMPUTED if name in X and X[name].isna().any()]
        if unimputable:
            raise InputError(f"cannot score rows missing {', '.join(unimputable)} (never imputed)")
        known = X[CANCER_TYPE].isin(self.cancer_types_)
        X[CANCER_TYPE] = X[CANCER_TYPE].where(known, OTHER_CANCER_TYPE).astype(object)
        return X.fillna(self.imputation_values_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        with single_threaded_blas():
            return self.estimator_.predict_proba(self.completed(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def predict_interval(self, X: pd.DataFrame,
                         coverage: float = INTERVAL_COVERAGE) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of the bootstrap refits' probabilities (model uncertainty)."""
        X = self.completed(X)
        with single_threaded_blas():
            draws = np.stack([model.predict_proba(X)[:, 1]
                              for model in self.bootstrap_estimators_])
        tail = (1 - coverage) / 2
        return np.quantile(draws, tail, axis=0), np.quantile(draws, 1 - tail, axis=0)


# ---------------------------------------------------------------------------------------------
# The model directory.

def save_model(model: ICBResponseModel, card: dict, output_dir: str | Path) -> None:
    """Write model.joblib and model_card.json (with the model file's sha256), each atomically."""
    output_dir = Path(output_dir)
    with replaced_on_success(output_dir / MODEL_FILE) as temporary:
        joblib.dump(model, temporary, compress=3)
        card = {**card, "model_file": {"name": MODEL_FILE, "sha256": file_sha256(temporary)}}
    with replaced_on_success(output_dir / CARD_FILE) as temporary:
        temporary.write_text(json.dumps(card, indent=2) + "\n")


def load_model(model_dir: str | Path = BUNDLED_MODEL_DIR) -> tuple[ICBResponseModel, dict]:
    """(model, card); the model file must match the sha256 its card records."""
    model_dir = Path(model_dir)
    card_path, model_path = model_dir / CARD_FILE, model_dir / MODEL_FILE
    for path in (card_path, model_path):
        if not path.exists():
            raise InputError("model file not found", path=path)
    card = json.loads(card_path.read_text())
    if file_sha256(model_path) != card["model_file"]["sha256"]:
        raise InputError(f"sha256 differs from the one in {CARD_FILE}", path=model_path)
    return joblib.load(model_path), card


# ---------------------------------------------------------------------------------------------
# Prediction.

def predict_response(features: pd.DataFrame, model_dir: str | Path = BUNDLED_MODEL_DIR,
                     path: str | Path | None = None) -> pd.DataFrame:
    """One ICB_SCHEMA row per input row, in input order.

    ``features`` has a ``patient`` (or ``SAMPLE_ID``) column and the training table's feature
    columns; absent columns count as missing. ``path`` only names the source in errors.
    """
    model, card = load_model(model_dir)
    patients = patient_ids(features, path)
    X = parse_features(features, model.features_, path)
    X[CANCER_TYPE] = _canonical_cancer_types(X[CANCER_TYPE], model.cancer_types_)
    missing = [[name for name, gone in zip(X.columns, row) if gone]
               for row in X.isna().to_numpy()]
    scorable = X[list(NEVER_IMPUTED)].notna().all(axis=1).to_numpy()
    known_type = X[CANCER_TYPE].isin(model.cancer_types_).to_numpy()
    result = pd.DataFrame({
        "patient": patients, "response_probability": np.nan, "low": np.nan, "high": np.nan,
        "model": f"{card['name']} (oncoweave {card['versions']['oncoweave']})",
        "missing_features": [",".join(gone) for gone in missing],
        "imputed_features": [",".join(name for name in gone if name in model.imputation_values_)
                             if ok else "" for gone, ok in zip(missing, scorable)],
        "cancer_type_used": np.where(known_type, X[CANCER_TYPE], OTHER_CANCER_TYPE),
        "cancer_type_flag": [None if known else _other_type_flag(cancer_type)
                             for cancer_type, known in zip(X[CANCER_TYPE], known_type)],
        "reason": [None if ok else _reason(gone) for gone, ok in zip(missing, scorable)],
    })
    result.loc[~scorable, ["cancer_type_used", "cancer_type_flag"]] = None
    if scorable.any():
        low, high = model.predict_interval(X[scorable])
        result.loc[scorable, "response_probability"] = model.predict_proba(X[scorable])[:, 1]
        result.loc[scorable, "low"], result.loc[scorable, "high"] = low, high
    return result


def _canonical_cancer_types(cancer_types: pd.Series, known: tuple[str, ...]) -> pd.Series:
    """Known names whatever their case (clinical sheets write 'nsclc', 'melanoma' ...)."""
    by_lower = {name.lower(): name for name in known}
    return cancer_types.map(lambda name: by_lower.get(name.lower(), name) if isinstance(name, str)
                            else None)


def _other_type_flag(cancer_type: str | None) -> str:
    given = "no cancer type given" if pd.isna(cancer_type) else (
        f"cancer type {cancer_type!r} is not a training type")
    return f"{given}: scored with the pan-cancer {OTHER_CANCER_TYPE!r} level"


def _reason(missing: list[str]) -> str:
    absent = [name for name in NEVER_IMPUTED if name in missing]
    return (f"not available: missing {', '.join(absent)} (the model's main predictor; never "
            "imputed)")


def write_predictions(predictions: pd.DataFrame, output: str | Path,
                      model_dir: str | Path = BUNDLED_MODEL_DIR) -> None:
    """Write ICB predictions as Parquet, with the model card's name and model sha256."""
    card = json.loads((Path(model_dir) / CARD_FILE).read_text())
    write_parquet(predictions, output, ICB_SCHEMA,
                  {"icb_model": card["name"], "icb_model_sha256": card["model_file"]["sha256"]})
