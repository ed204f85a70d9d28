"""The radiomics outcome model: cross-validated AUROC of radiomics features against one feature.

``cross_validated_auroc`` fits the model (impute, drop constant, scale, SelectKBest, L2 logistic
regression) inside repeated stratified CV folds and reports the out-of-fold AUROC with a
bootstrap CI, against a one-feature baseline (default SUVmax); ``read_outcome_labels`` and
``patient_features`` turn a labels CSV and a radiomics table into its inputs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.tables import require_columns
from oncoweave.imaging.defaults import DEFAULT_BASELINE_FEATURE
from oncoweave.imaging.radiomics import feature_columns

log = logging.getLogger(__name__)


def radiomics_model(k_best: int = 10, seed: int = 0):
    """Impute -> drop constant -> scale -> SelectKBest(ANOVA F) -> L2 logistic regression.

    Every step is fitted inside the CV folds, the feature selection included.
    """
    from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("drop_constant", VarianceThreshold(0.0)),
        ("scale", StandardScaler()),
        ("select", SelectKBest(f_classif, k=k_best)),
        ("classify", LogisticRegression(class_weight="balanced", solver="liblinear",
                                        random_state=seed)),
    ])


def _baseline_model(seed: int):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                     ("classify", LogisticRegression(class_weight="balanced", solver="liblinear",
                                                     random_state=seed))])


def cross_validated_auroc(features: pd.DataFrame, labels: pd.Series, *,
                          baseline_feature: str = DEFAULT_BASELINE_FEATURE, folds: int = 5,
                          repeats: int = 10, k_best: int = 10, n_bootstrap: int = 1000,
                          seed: int = 0) -> dict:
    """Out-of-fold AUROC of the radiomics model and of a one-feature baseline.

    ``features``: one row per patient (index = patient id), numeric feature columns;
    ``labels``: 0/1 per patient id. Only patients in both are used. Repeated stratified
    ``folds``-fold CV with seed ``seed``; the AUROC is the mean over repeats of the out-of-fold
    AUROC, its 95% CI the percentile interval over ``n_bootstrap`` resamples of the patients (the
    same resamples for the model, the baseline and their difference). The baseline is also
    given without fitting ("apparent": the feature itself as the score).
    """
    X, y = _aligned_xy(features, labels)
    if baseline_feature not in X.columns:
        raise InputError(f"baseline feature {baseline_feature} is not a feature column")
    splits = _splits(y, folds, repeats, seed)
    model_scores, selected = out_of_fold_scores(radiomics_model(min(k_best, X.shape[1]), seed),
                                                 X, y, splits, repeats)
    baseline_scores, _ = out_of_fold_scores(_baseline_model(seed), X[[baseline_feature]], y,
                                             splits, repeats)
    samples = bootstrap_samples(y, n_bootstrap, np.random.default_rng(seed))
    model = auroc_summary(y, model_scores, samples)
    baseline = auroc_summary(y, baseline_scores, samples)
    difference = model.pop("bootstrap") - baseline.pop("bootstrap")
    raw = X[baseline_feature].fillna(X[baseline_feature].median()).to_numpy()
    apparent = auroc_summary(y, raw[None, :], samples)
    apparent.pop("bootstrap")
    counts = pd.Series(selected).value_counts()
    return {
        "n_patients": int(len(y)), "n_positive": int(y.sum()), "n_features": int(X.shape[1]),
        "folds": folds, "repeats": repeats, "seed": seed, "n_bootstrap": len(samples),
        "model": {"description": f"median impute, drop constant, standardise, SelectKBest "
                                 f"(ANOVA F, k={min(k_best, X.shape[1])}), L2 logistic "
                                 "regression (balanced classes)", **model,
                  "most_selected_features": {name: int(n) for name, n in counts.head(10).items()}},
        "baseline": {"feature": baseline_feature, **baseline,
                     "apparent_auroc": apparent["auroc"],
                     "apparent_auroc_ci95": apparent["auroc_ci95"]},
        "model_minus_baseline": {"auroc": model["auroc"] - baseline["auroc"],
                                 "auroc_ci95": percentile_ci(difference)},
    }


def _aligned_xy(features: pd.DataFrame, labels: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    numeric = features.select_dtypes("number").replace([np.inf, -np.inf], np.nan)
    common = [patient for patient in numeric.index if patient in labels.index]
    unlabelled = len(numeric) - len(common)
    if unlabelled:
        log.warning("%d patient(s) with features but no label left out", unlabelled)
    y = labels.loc[common].astype(int).to_numpy()
    if len(common) < 10 or min(y.sum(), len(y) - y.sum()) < 2:
        raise InputError(f"too few labelled patients for cross-validation ({len(common)}, "
                         f"{int(y.sum())} positive)")
    return numeric.loc[common], y


def _splits(y: np.ndarray, folds: int, repeats: int, seed: int) -> list:
    from sklearn.model_selection import RepeatedStratifiedKFold

    if min(y.sum(), len(y) - y.sum()) < folds:
        raise InputError(f"fewer patients in a class than folds ({folds})")
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y))


def out_of_fold_scores(model, X: pd.DataFrame, y: np.ndarray, splits: list,
                        repeats: int) -> tuple[np.ndarray, list[str]]:
    from sklearn.base import clone

    scores = np.full((repeats, len(y)), np.nan)
    folds = len(splits) // repeats
    selected: list[str] = []
    for number, (train, test) in enumerate(splits):
        fitted = clone(model).fit(X.iloc[train], y[train])
        scores[number // folds, test] = fitted.predict_proba(X.iloc[test])[:, 1]
        if "select" in fitted.named_steps:
            selected += list(fitted[:-1].get_feature_names_out())
    return scores, selected


def bootstrap_samples(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` x len(y) resampled patient indices, each resample holding both classes."""
    samples = []
    while len(samples) < n:
        sample = rng.integers(0, len(y), len(y))
        if 0 < y[sample].sum() < len(sample):  # an AUROC needs both classes
            samples.append(sample)
    return np.array(samples).reshape(n, len(y))


def bootstrap_aurocs(y: np.ndarray, scores: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """AUROC of ``scores`` on each resample (rows of ``samples``), all resamples at once.

    The Mann-Whitney form of roc_auc_score (ties count half), vectorised with scipy's rankdata:
    1000 resamples x 10 repeats one by one through roc_auc_score take ~10 s.
    """
    from scipy.stats import rankdata

    labels = y[samples].astype(bool)
    ranks = rankdata(scores[samples], axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    rank_sum = np.where(labels, ranks, 0.0).sum(axis=1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def auroc_summary(y: np.ndarray, scores: np.ndarray, samples: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    per_repeat = [roc_auc_score(y, repeat) for repeat in scores]
    bootstrap = np.mean([bootstrap_aurocs(y, repeat, samples) for repeat in scores], axis=0)
    return {"auroc": float(np.mean(per_repeat)), "auroc_ci95": percentile_ci(bootstrap),
            "auroc_sd_over_repeats": float(np.std(per_repeat)), "bootstrap": bootstrap}


def percentile_ci(values) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def read_outcome_labels(path: str | Path, id_column: str, label_column: str) -> pd.Series:
    """0/1 labels by patient id from a CSV; InputError naming the row of a bad value."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read labels ({err})", path=path) from None
    require_columns(df, (id_column, label_column), path)
    for row, value in enumerate(df[label_column], start=1):
        if value.strip() not in ("0", "1"):
            raise InputError(f"label '{value}' is not 0 or 1", path=path, row=row,
                             column=label_column)
    if df[id_column].duplicated().any():
        repeated = df[id_column][df[id_column].duplicated()].iloc[0]
        raise InputError(f"patient {repeated} has more than one label", path=path,
                         column=id_column)
    return pd.Series(df[label_column].astype(int).to_numpy(), index=df[id_column].str.strip(),
                     name=label_column)


def patient_features(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """A radiomics table as one row per patient (index = patient); several lesions refused."""
    repeated = df["patient"][df["patient"].duplicated()]
    if len(repeated):
        raise InputError(f"patient {repeated.iloc[0]} has more than one lesion; the outcome model "
                         "needs one row per patient (select one lesion per patient)", path=path)
    return df.set_index("patient")[feature_columns(df)]
