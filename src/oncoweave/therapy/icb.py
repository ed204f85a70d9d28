"""Response to immune checkpoint blockade (ICB): calibrated models, their model card, predictions.

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
``model_card.json`` (data, features, versions, seed, metrics, the sha256 of ``model.joblib``).
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import sklearn
import xgboost
from scipy.special import logit
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import file_sha256, replaced_on_success
from oncoweave.core.paths import REPO_ROOT
from oncoweave.core.tables import schema_field, write_parquet

BUNDLED_TRAINING_TABLE = REPO_ROOT / "resources" / "icb" / "chowell_train.csv"
BUNDLED_MODEL_DIR = REPO_ROOT / "resources" / "models" / "icb"
MODEL_FILE, CARD_FILE = "model.joblib", "model_card.json"

OUTCOME = "Response"
ID_COLUMNS = ("patient", "SAMPLE_ID")  # the first one present names the patient
CANCER_TYPE = "CancerType"
LORIS_NUMERIC = ("TMB", "Systemic_therapy_history", "Albumin", "NLR", "Age")
CHOWELL_NUMERIC = LORIS_NUMERIC + ("FCNA", "HED", "HLA_LOH", "MSI", "BMI", "Platelets", "HGB",
                                   "Sex", "Stage", "Drug")
# LORIS caps: beyond these values the training data are too sparse to extrapolate.
CAPS = {"TMB": 50.0, "NLR": 25.0, "Age": 85.0}
# Plausible values (low, high, unit); anything outside is bad input (a unit mix-up, a typo).
VALID_RANGES = {
    "TMB": (0.0, 1000.0, "mutations/Mb"), "Albumin": (0.5, 7.0, "g/dL"), "NLR": (0.0, 500.0, ""),
    "Age": (0.0, 130.0, "years"), "FCNA": (0.0, 1.0, "fraction"), "HED": (0.0, 100.0, ""),
    "BMI": (5.0, 150.0, "kg/m2"), "Platelets": (0.0, 5000.0, "10^9/L"),
    "HGB": (1.0, 30.0, "g/dL"), "Drug": (0.0, 2.0, ""),
}
# Columns without a range above (these and the outcome) must be 0 or 1.
BINARY = ("Systemic_therapy_history", "HLA_LOH", "MSI", "Sex", "Stage")
INTEGER_CODED = ("Drug",)

# Columns of the training table left out of every model, and why (written into the model card).
EXCLUDED_COLUMNS = {
    "SAMPLE_ID": "identifier",
    "Year of ICI treatment start": "calendar year, not a property of the patient",
    "PDL1_TPS(%)": "missing for 747 of 964 patients (169 of the 217 measured are NSCLC)",
    "CancerType_grouped": "coarser re-coding of CancerType",
    "CancerType1..18": "one-hot re-coding of CancerType",
    "PFS_Event": "outcome (leaks the response)", "PFS_Months": "outcome (leaks the response)",
    "OS_Event": "outcome (leaks the response)", "OS_Months": "outcome (leaks the response)",
}

ICB_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id (patient, else SAMPLE_ID, of the input)"),
    schema_field("response_probability", pa.float64(),
           "Calibrated probability of response to ICB; null when not available", True),
    schema_field("low", pa.float64(), "Lower end of the bootstrap interval (model card: uncertainty)",
           True),
    schema_field("high", pa.float64(), "Upper end of the bootstrap interval", True),
    schema_field("model", pa.string(), "Model name and oncoweave version that scored the patient"),
    schema_field("missing_features", pa.string(), "Comma-separated model features missing; '' if none"),
    schema_field("reason", pa.string(), "Why no probability was given; null when one was", True),
])


@dataclass(frozen=True)
class Candidate:
    name: str
    numeric: tuple[str, ...]
    learner: str  # "logistic" or "xgboost"

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + (CANCER_TYPE,)


CANDIDATES = {c.name: c for c in (
    Candidate("loris_logistic", LORIS_NUMERIC, "logistic"),
    Candidate("loris_xgboost", LORIS_NUMERIC, "xgboost"),
    Candidate("chowell16_logistic", CHOWELL_NUMERIC, "logistic"),
    Candidate("chowell16_xgboost", CHOWELL_NUMERIC, "xgboost"),
)}
# Six features that clinics record routinely, and LORIS generalised better than the 16-feature
# models on external cohorts (Chang et al. 2024); here no candidate's CV AUROC beats it beyond
# chance (paired bootstrap CIs of the difference all include 0).
DEFAULT_CANDIDATE = "loris_logistic"
INTERVAL_COVERAGE = 0.90
CV_SPLITS, METRIC_BOOTSTRAPS = 5, 1000


def _single_threaded_blas() -> threadpool_limits:
    """BLAS limited to one thread: on a 964 x 21 matrix extra threads only contend (10x slower
    logistic fits on a busy 2-core machine)."""
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------
# Input parsing: one clear error for bad values, NaN for missing ones.

def parse_features(table: pd.DataFrame, features: tuple[str, ...],
                   path: str | Path | None = None) -> pd.DataFrame:
    """The model features of ``table`` (absent columns become all-missing), validated.

    Numbers are parsed and range-checked; a non-numeric or implausible value is an InputError
    naming the line (header = line 1) and column. Missing values stay NaN / None.
    """
    parsed = pd.DataFrame(index=table.index)
    for name in features:
        column = table[name] if name in table.columns else pd.Series(None, index=table.index,
                                                                     dtype=object)
        parsed[name] = (_parse_cancer_type(column) if name == CANCER_TYPE
                        else _parse_numeric(column, name, path))
    return parsed


def _text_or_none(value: object) -> str | None:
    """The stripped text of a cell; None for a missing or blank one."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None


def _parse_cancer_type(column: pd.Series) -> pd.Series:
    return pd.Series([_text_or_none(value) for value in column], index=column.index,
                     dtype=object)


def _parse_numeric(column: pd.Series, name: str, path: str | Path | None) -> pd.Series:
    text = pd.Series([_text_or_none(value) for value in column], index=column.index,
                     dtype=object)
    numbers = pd.to_numeric(text, errors="coerce").astype(float)
    unreadable = numbers.isna() & text.notna()
    if unreadable.any():
        _raise_at(unreadable, f"not a number: {text[unreadable].iloc[0]!r}", name, path)
    low, high, unit = VALID_RANGES.get(name, (0.0, 1.0, ""))
    binary = name not in VALID_RANGES
    fractional = numbers.notna() & (numbers % 1 != 0)
    outside = (numbers < low) | (numbers > high) | (fractional if binary else False)
    if outside.any():
        expected = ("is not 0 or 1" if binary
                    else f"is outside {low:g}-{high:g}{' ' + unit if unit else ''}")
        _raise_at(outside, f"{numbers[outside].iloc[0]:g} {expected}", name, path)
    if name in INTEGER_CODED and fractional.any():
        _raise_at(fractional, f"{numbers[fractional].iloc[0]:g} is not a whole code",
                  name, path)
    return numbers


def _raise_at(bad: pd.Series, message: str, name: str, path: str | Path | None) -> None:
    """InputError at the first ``bad`` row, as a file line (the header is line 1)."""
    position = int(np.flatnonzero(bad.to_numpy())[0])
    raise InputError(message, path=path, row=position + 2, column=name)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (or .tsv) as text, empty cells as missing; unreadable files are an InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError("table not found", path=path)
    try:
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read table ({err})", path=path) from None


def training_data(table: pd.DataFrame, features: tuple[str, ...],
                  path: str | Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """(features, 0/1 outcome) of a training table; every row must be complete."""
    absent = [name for name in (*features, OUTCOME) if name not in table.columns]
    if absent:
        raise InputError(f"training table lacks column(s) {', '.join(absent)}", path=path)
    X = parse_features(table, features, path)
    outcome = _parse_numeric(table[OUTCOME], OUTCOME, path)
    for name, column in (*X.items(), (OUTCOME, outcome)):
        if column.isna().any():
            _raise_at(column.isna(), "missing value (training needs complete rows)",
                      name, path)
    if outcome.nunique() < 2:
        raise InputError(f"{OUTCOME} has one class only", path=path, column=OUTCOME)
    return X, outcome.to_numpy(dtype=int)


# ---------------------------------------------------------------------------------------------
# Models.

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
        with _single_threaded_blas():
            self.estimator_ = calibrated_pipeline(spec, self.random_state).fit(X, y)
            self.bootstrap_estimators_ = []
            for _ in range(self.n_bootstrap):
                rows = rng.integers(0, len(y), len(y))
                refit = calibrated_pipeline(spec, int(rng.integers(2**31)))
                self.bootstrap_estimators_.append(refit.fit(X.iloc[rows], y[rows]))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        with _single_threaded_blas():
            return self.estimator_.predict_proba(X[list(self.features_)])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def predict_interval(self, X: pd.DataFrame,
                         coverage: float = INTERVAL_COVERAGE) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of the bootstrap refits' probabilities (model uncertainty)."""
        with _single_threaded_blas():
            draws = np.stack([model.predict_proba(X[list(self.features_)])[:, 1]
                              for model in self.bootstrap_estimators_])
        tail = (1 - coverage) / 2
        return np.quantile(draws, tail, axis=0), np.quantile(draws, 1 - tail, axis=0)


# ---------------------------------------------------------------------------------------------
# Cross-validated metrics with bootstrap CIs.

def out_of_fold_probabilities(candidate: str, X: pd.DataFrame, y: np.ndarray,
                              seed: int = 0) -> np.ndarray:
    """Response probabilities of each patient from the fold model that did not see them."""
    spec = CANDIDATES[candidate]
    folds = StratifiedKFold(CV_SPLITS, shuffle=True, random_state=seed)
    with _single_threaded_blas():
        return cross_val_predict(calibrated_pipeline(spec, seed), X[list(spec.features)], y,
                                 cv=folds, method="predict_proba")[:, 1]


def metrics_with_ci(y: np.ndarray, probability: np.ndarray, seed: int = 0,
                    n_bootstrap: int = METRIC_BOOTSTRAPS) -> dict[str, dict]:
    """AUROC, AUPRC and Brier, each with a 95 % percentile CI over patient bootstrap resamples."""
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
    ranks = rankdata(scores, axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    u = (ranks * labels).sum(axis=1) - positives * (positives + 1) / 2
    return u / (positives * negatives)


def calibration_summary(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """Calibration slope (1 = ideal; < 1 over-confident) and mean predicted vs observed rate."""
    log_odds = logit(np.clip(probability, 1e-6, 1 - 1e-6)).reshape(-1, 1)
    slope = LogisticRegression(C=1e6).fit(log_odds, y).coef_[0, 0]  # C: unpenalised
    return {"slope": round(float(slope), 4), "mean_predicted": round(float(probability.mean()), 4),
            "observed_rate": round(float(y.mean()), 4)}


def cross_validate_candidates(X: pd.DataFrame, y: np.ndarray, seed: int = 0,
                              candidates: tuple[str, ...] = tuple(CANDIDATES)) -> dict[str, dict]:
    """Per candidate: features, CV metrics, calibration and the paired AUROC difference to the
    default candidate (same folds and bootstrap resamples for all)."""
    probabilities = {name: out_of_fold_probabilities(name, X, y, seed) for name in candidates}
    reference = probabilities.get(DEFAULT_CANDIDATE)
    comparison = {}
    for name, probability in probabilities.items():
        comparison[name] = {"features": list(CANDIDATES[name].features),
                            "learner": CANDIDATES[name].learner,
                            **metrics_with_ci(y, probability, seed),
                            "calibration": calibration_summary(y, probability)}
        if reference is not None and name != DEFAULT_CANDIDATE:
            comparison[name][f"auroc_minus_{DEFAULT_CANDIDATE}"] = auroc_difference(
                y, probability, reference, seed)
    return comparison


# ---------------------------------------------------------------------------------------------
# Training, saving and loading a model directory.

def train(table_path: str | Path, output_dir: str | Path, candidate: str = DEFAULT_CANDIDATE,
          seed: int = 0, n_bootstrap: int = 200) -> dict:
    """Cross-validate all candidates, fit ``candidate`` on the whole table, save it; the card."""
    table_path = Path(table_path)
    every_feature = tuple(dict.fromkeys(f for c in CANDIDATES.values() for f in c.features))
    X, y = training_data(read_table(table_path), every_feature, table_path)
    comparison = cross_validate_candidates(X, y, seed)
    model = ICBResponseModel(candidate, n_bootstrap, seed).fit(X, y)
    card = model_card(model, comparison, table_path, y)
    save_model(model, card, output_dir)
    return card


def model_card(model: ICBResponseModel, comparison: Mapping[str, dict], table_path: Path,
               y: np.ndarray) -> dict:
    prevalence = float(y.mean())
    return {
        "name": f"oncoweave-icb-{model.candidate}",
        "task": "probability of response to immune checkpoint blockade (Response = 1, the "
                "responder label of Chowell et al. 2022)",
        "shipped_candidate": model.candidate,
        "selection": "LORIS features: routinely recorded, and LORIS generalised best externally "
                     "(Chang et al. 2024); no candidate's CV AUROC differs from it beyond chance "
                     f"(auroc_minus_{DEFAULT_CANDIDATE} in cross_validation)",
        "features": list(model.features_),
        "cancer_types": list(model.cancer_types_),
        "caps": CAPS,
        "valid_ranges": {name: list(bounds) for name, bounds in VALID_RANGES.items()},
        "binary_features": list(BINARY),
        "excluded_columns": EXCLUDED_COLUMNS,
        "missing_values": "no imputation: a patient missing any feature, or with a cancer type "
                          "not in cancer_types, gets no probability and a reason",
        "preprocessing": "caps, standard scaling, one-hot CancerType",
        "calibration": f"sigmoid CalibratedClassifierCV ({CV_SPLITS}-fold stratified, "
                       "ensemble=False: one pipeline on all rows, sigmoid on out-of-fold scores)",
        "uncertainty": f"low/high: {INTERVAL_COVERAGE:.0%} percentile interval of "
                       f"{model.n_bootstrap} refits on bootstrap resamples of the training data",
        "seed": model.random_state,
        "training_data": {"file": table_path.name, "sha256": file_sha256(table_path),
                          "patients": int(len(y)), "responders": int(y.sum()),
                          "source": "resources/icb/SOURCE.md"},
        "cross_validation": {
            "scheme": f"stratified {CV_SPLITS}-fold (shuffled, seed {model.random_state}), "
                      "out-of-fold probabilities of the calibrated pipeline; 95 % CIs from "
                      f"{METRIC_BOOTSTRAPS} patient bootstrap resamples; hyperparameters were "
                      "chosen on this cohort, so the estimates are slightly optimistic",
            "brier_of_prevalence": round(prevalence * (1 - prevalence), 4),
            "candidates": dict(comparison),
        },
        "versions": {"oncoweave": __version__, "python": platform.python_version(),
                     "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__},
    }


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
    patients = _patient_ids(features, path)
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


def _patient_ids(features: pd.DataFrame, path: str | Path | None) -> np.ndarray:
    id_column = next((name for name in ID_COLUMNS if name in features.columns), None)
    if id_column is None:
        raise InputError(f"no patient id column ({' or '.join(ID_COLUMNS)})", path=path)
    ids = features[id_column]
    if ids.isna().any():
        _raise_at(ids.isna(), "missing patient id", id_column, path)
    return ids.astype(str).to_numpy()


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


# ---------------------------------------------------------------------------------------------
# Command line.

def register(subparsers) -> None:
    parser = subparsers.add_parser("icb-response", help="train / apply the ICB response model")
    commands = parser.add_subparsers(dest="icb_command", required=True, metavar="<action>")
    fit = commands.add_parser("train", help="cross-validate the candidates, fit and save one")
    fit.add_argument("--table", default=str(BUNDLED_TRAINING_TABLE),
                     help="training CSV (default: %(default)s)")
    fit.add_argument("--output-dir", required=True, help="model directory to write")
    fit.add_argument("--model", choices=sorted(CANDIDATES), default=DEFAULT_CANDIDATE,
                     help="candidate to fit and save (default: %(default)s)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--n-bootstrap", type=int, default=200,
                     help="bootstrap refits behind the interval (default: %(default)s)")
    fit.set_defaults(func=_cmd_train)
    apply = commands.add_parser("predict", help="score a table with the training file's columns")
    apply.add_argument("--input", required=True, help="CSV (or .tsv) with patient or SAMPLE_ID")
    apply.add_argument("--output", required=True, help="Parquet to write (ICB_SCHEMA)")
    apply.add_argument("--model-dir", default=str(BUNDLED_MODEL_DIR),
                       help="model directory (default: %(default)s)")
    apply.set_defaults(func=_cmd_predict)


def _cmd_train(args: argparse.Namespace) -> int:
    card = train(args.table, args.output_dir, args.model, args.seed, args.n_bootstrap)
    for name, metrics in card["cross_validation"]["candidates"].items():
        print(f"{name}: " + ", ".join(f"{metric} {metrics[metric]['estimate']:.3f} "
                                      f"[{metrics[metric]['ci95'][0]:.3f}-"
                                      f"{metrics[metric]['ci95'][1]:.3f}]"
                                      for metric in ("auroc", "auprc", "brier")))
    print(f"{args.output_dir}: saved {card['shipped_candidate']}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    predictions = predict_response(read_table(args.input), args.model_dir, path=args.input)
    write_predictions(predictions, args.output, args.model_dir)
    scored = int(predictions["response_probability"].notna().sum())
    print(f"{args.output}: {scored} of {len(predictions)} patients scored")
    return 0
