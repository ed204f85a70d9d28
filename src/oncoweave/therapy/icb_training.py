"""Training the ICB response model: seeded, stratified cross-validation of the candidates
(AUROC, AUPRC and Brier with patient-bootstrap 95 % CIs, calibration, the paired AUROC difference
to the default), fitting the chosen one on the whole table, the cost of its fallbacks
(``icb_validation``: unseen cancer type, imputed predictor), and its model card."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from oncoweave import __version__
from oncoweave.core.io import file_sha256
from oncoweave.core.threads import single_threaded_blas
from oncoweave.therapy.icb import ICBResponseModel, calibrated_pipeline, save_model
from oncoweave.therapy.icb_candidates import (
    BINARY,
    CANDIDATES,
    CAPS,
    CV_SPLITS,
    DEFAULT_CANDIDATE,
    EXCLUDED_COLUMNS,
    INNER_CV_C_GRID,
    INTERVAL_COVERAGE,
    METRIC_BOOTSTRAPS,
    NEVER_IMPUTED,
    OTHER_CANCER_TYPE,
    VALID_RANGES,
)
from oncoweave.therapy.icb_metrics import auroc_difference, calibration_summary, metrics_with_ci
from oncoweave.therapy.icb_tables import read_table, training_data

# ---------------------------------------------------------------------------------------------
# Cross-validated metrics with bootstrap CIs.

def out_of_fold_probabilities(candidate: str, X: pd.DataFrame, y: np.ndarray,
                              seed: int = 0) -> np.ndarray:
    """Response probabilities of each patient from the fold model that did not see them."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    spec = CANDIDATES[candidate]
    folds = StratifiedKFold(CV_SPLITS, shuffle=True, random_state=seed)
    with single_threaded_blas():
        return cross_val_predict(calibrated_pipeline(spec, seed), X[list(spec.features)], y,
                                 cv=folds, method="predict_proba")[:, 1]


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
# Training and the model card.

def train(table_path: str | Path, output_dir: str | Path, candidate: str = DEFAULT_CANDIDATE,
          seed: int = 0, n_bootstrap: int = 200) -> dict:
    """Cross-validate all candidates, fit ``candidate`` on the whole table, measure its
    fallbacks, save it; the card."""
    from oncoweave.therapy.icb_validation import pan_cancer_validation

    table_path = Path(table_path)
    X, y = training_table(table_path)
    comparison = cross_validate_candidates(X, y, seed)
    model = ICBResponseModel(candidate, n_bootstrap, seed).fit(X, y)
    card = model_card(model, comparison, pan_cancer_validation(X, y, candidate, seed),
                      table_path, y)
    save_model(model, card, output_dir)
    return card


def training_table(table_path: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Every candidate's features and the outcome of a training CSV."""
    every_feature = tuple(dict.fromkeys(f for c in CANDIDATES.values() for f in c.features))
    return training_data(read_table(table_path), every_feature, table_path)


def model_card(model: ICBResponseModel, comparison: Mapping[str, dict],
               fallbacks: Mapping[str, dict], table_path: Path, y: np.ndarray) -> dict:
    import sklearn
    import xgboost

    prevalence = float(y.mean())
    return {
        "name": f"oncoweave-icb-{model.candidate}",
        "task": "probability of response to immune checkpoint blockade (Response = 1, the "
                "responder label of Chowell et al. 2022)",
        "shipped_candidate": model.candidate,
        "selection": "LORIS features: routinely recorded, and LORIS generalised best externally "
                     "(Chang et al. 2024); no candidate's CV AUROC differs from it beyond chance "
                     f"(auroc_minus_{DEFAULT_CANDIDATE} in cross_validation), the L2 "
                     "strength chosen by inner CV (loris_logistic_inner_cv, inner_cv_c_grid) "
                     "included",
        "features": list(model.features_),
        "cancer_types": list(model.cancer_types_),
        "caps": CAPS,
        "valid_ranges": {name: list(bounds) for name, bounds in VALID_RANGES.items()},
        "binary_features": list(BINARY),
        "excluded_columns": EXCLUDED_COLUMNS,
        "missing_values": f"{', '.join(NEVER_IMPUTED)} is never imputed: a patient without it "
                          "gets no probability and a reason. Any other missing feature takes "
                          "its training median (imputation_values; for 0/1 features the mode) "
                          "and is named in imputed_features. Cost measured in "
                          "pan_cancer_validation.imputed_predictor",
        "imputation_values": dict(model.imputation_values_),
        "other_cancer_type": f"a cancer type not in cancer_types (or none) is scored as "
                             f"{OTHER_CANCER_TYPE!r}: every one-hot cancer-type term 0, the "
                             "reference level (the intercept; with the L2 penalty on all "
                             "types, the pooled baseline of the training cohort), as LORIS "
                             "scores types outside its training set; flagged in "
                             "cancer_type_used / cancer_type_flag. Accuracy in "
                             "pan_cancer_validation.leave_one_cancer_type_out",
        "inner_cv_c_grid": list(INNER_CV_C_GRID),
        "preprocessing": "caps, standard scaling, one-hot CancerType",
        "calibration": f"sigmoid CalibratedClassifierCV ({CV_SPLITS}-fold stratified, "
                       "ensemble=False: one pipeline on all rows, sigmoid on out-of-fold scores)",
        "uncertainty": f"low/high: {INTERVAL_COVERAGE:.0%} percentile interval of "
                       f"{model.n_bootstrap} refits on bootstrap resamples of the training data",
        "seed": model.random_state,
        "training_data": {"file": table_path.name, "sha256": file_sha256(table_path),
                          "patients": len(y), "responders": int(y.sum()),
                          "source": "resources/icb/SOURCE.md"},
        "cross_validation": {
            "scheme": f"stratified {CV_SPLITS}-fold (shuffled, seed {model.random_state}), "
                      "out-of-fold probabilities of the calibrated pipeline; 95 % CIs from "
                      f"{METRIC_BOOTSTRAPS} patient bootstrap resamples; hyperparameters were "
                      "chosen on this cohort, so the estimates are slightly optimistic",
            "brier_of_prevalence": round(prevalence * (1 - prevalence), 4),
            "candidates": dict(comparison),
        },
        "pan_cancer_validation": dict(fallbacks),
        "versions": {"oncoweave": __version__, "python": platform.python_version(),
                     "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__},
    }
