"""Response to immune checkpoint blockade (ICB): the calibrated model, its directory, predictions.

Trained on the Chowell et al. (Nat Biotechnol 2022) MSK-IMPACT cohort as re-used by LORIS
(Chang et al., Nat Cancer 2024): 964 patients, 282 responders. Four candidates are compared by
stratified, seeded 5-fold cross-validation (AUROC, AUPRC, Brier, each with a patient-bootstrap
95 % CI): a logistic regression and an xgboost model, each on the six LORIS features and on the
sixteen of Chowell et al. Every candidate is wrapped in a sigmoid ``CalibratedClassifierCV``.

A patient is scored only when every feature of the model is present and valid: the models were
fitted on complete cases, so nothing is imputed; a patient lacking features gets no probability
and a reason naming them. The uncertainty is a percentile interval over models refitted on
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
from sklearn.linear_model import LogisticRegression
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
    INTERVAL_COVERAGE,
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

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        with single_threaded_blas():
            return self.estimator_.predict_proba(X[list(self.features_)])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def predict_interval(self, X: pd.DataFrame,
                         coverage: float = INTERVAL_COVERAGE) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of the bootstrap refits' probabilities (model uncertainty)."""
        with single_threaded_blas():
            draws = np.stack([model.predict_proba(X[list(self.features_)])[:, 1]
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
    unknown_type = X[CANCER_TYPE].notna() & ~X[CANCER_TYPE].isin(model.cancer_types_)
    scorable = np.array([not gone for gone in missing], dtype=bool) & ~unknown_type.to_numpy()
    result = pd.DataFrame({
        "patient": patients, "response_probability": np.nan, "low": np.nan, "high": np.nan,
        "model": f"{card['name']} (oncoweave {card['versions']['oncoweave']})",
        "missing_features": [",".join(gone) for gone in missing],
        "reason": [_reason(gone, cancer_type if unknown else None, model.cancer_types_)
                   for gone, cancer_type, unknown in zip(missing, X[CANCER_TYPE], unknown_type)],
    })
    if scorable.any():
        low, high = model.predict_interval(X[scorable])
        result.loc[scorable, "response_probability"] = model.predict_proba(X[scorable])[:, 1]
        result.loc[scorable, "low"], result.loc[scorable, "high"] = low, high
    return result


def _canonical_cancer_types(cancer_types: pd.Series, known: tuple[str, ...]) -> pd.Series:
    """Known names whatever their case (clinical sheets write 'nsclc', 'melanoma' ...)."""
    by_lower = {name.lower(): name for name in known}
    return cancer_types.map(lambda name: name if name is None else by_lower.get(name.lower(), name))


def _reason(missing: list[str], unknown_cancer_type: str | None,
            known: tuple[str, ...]) -> str | None:
    reasons = []
    if missing:
        reasons.append(f"missing {', '.join(missing)} (the model imputes nothing)")
    if unknown_cancer_type is not None:
        reasons.append(f"cancer type {unknown_cancer_type!r} is not one the model was trained on "
                       f"({', '.join(known)})")
    return "not available: " + "; ".join(reasons) if reasons else None


def write_predictions(predictions: pd.DataFrame, output: str | Path,
                      model_dir: str | Path = BUNDLED_MODEL_DIR) -> None:
    """Write ICB predictions as Parquet, with the model card's name and model sha256."""
    card = json.loads((Path(model_dir) / CARD_FILE).read_text())
    write_parquet(predictions, output, ICB_SCHEMA,
                  {"icb_model": card["name"], "icb_model_sha256": card["model_file"]["sha256"]})
