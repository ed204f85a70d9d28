"""What the ICB model's two fallbacks cost in accuracy, on the training cohort (real outcomes):

- leave one cancer type out: fit on the other types, score the held-out type through the
  pan-cancer "other" level (as a patient of an unseen type is scored), pooled over all types;
- imputed predictor: 5-fold CV (the folds of the candidate comparison) with one predictor, all
  of them, or the cancer type masked for every test patient, i.e. filled from the training fold
  (median, "other" level) exactly as :meth:`ICBResponseModel.completed` does at prediction.

Each AUROC has a patient-bootstrap 95 % CI; the masked ones also the paired difference to the
unmasked AUROC. Models here are fitted without the bootstrap refits (the interval is not scored).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oncoweave.therapy.icb import ICBResponseModel
from oncoweave.therapy.icb_candidates import (
    CANCER_TYPE,
    CANDIDATES,
    CV_SPLITS,
    DEFAULT_CANDIDATE,
    NEVER_IMPUTED,
    OTHER_CANCER_TYPE,
)
from oncoweave.therapy.icb_metrics import auroc_difference, calibration_summary, metrics_with_ci

ALL_IMPUTABLE = "all imputable"


def leave_one_cancer_type_out(X: pd.DataFrame, y: np.ndarray, candidate: str = DEFAULT_CANDIDATE,
                              seed: int = 0) -> dict:
    """Pooled metrics of the held-out types scored through "other", and each type's AUROC."""
    from sklearn.metrics import roc_auc_score

    probability = np.empty(len(y))
    per_type = {}
    for cancer_type in sorted(X[CANCER_TYPE].unique()):
        held_out = (X[CANCER_TYPE] == cancer_type).to_numpy()
        model = ICBResponseModel(candidate, 0, seed).fit(X[~held_out], y[~held_out])
        probability[held_out] = model.predict_proba(X[held_out])[:, 1]
        labels = y[held_out]
        per_type[cancer_type] = {
            "patients": int(held_out.sum()), "responders": int(labels.sum()),
            # Within one type the "other" level is a constant: this AUROC is the numeric terms'.
            "auroc": (round(float(roc_auc_score(labels, probability[held_out])), 4)
                      if 0 < labels.sum() < len(labels) else None),
            "mean_predicted": round(float(probability[held_out].mean()), 4),
        }
    return {"candidate": candidate, **metrics_with_ci(y, probability, seed),
            "calibration": calibration_summary(y, probability), "per_type": per_type}


def imputed_predictor_auroc(X: pd.DataFrame, y: np.ndarray, candidate: str = DEFAULT_CANDIDATE,
                            seed: int = 0) -> dict:
    """CV AUROC with nothing masked and with each fallback forced on every test patient."""
    from sklearn.model_selection import StratifiedKFold

    features = list(CANDIDATES[candidate].features)
    imputable = [name for name in CANDIDATES[candidate].numeric if name not in NEVER_IMPUTED]
    masks = {"none": [], **{name: [name] for name in imputable}, ALL_IMPUTABLE: imputable,
             CANCER_TYPE: [CANCER_TYPE]}
    probability = {name: np.empty(len(y)) for name in masks}
    folds = StratifiedKFold(CV_SPLITS, shuffle=True, random_state=seed)
    for train_rows, test_rows in folds.split(X, y):
        model = ICBResponseModel(candidate, 0, seed).fit(X.iloc[train_rows], y[train_rows])
        for name, masked in masks.items():
            test = X.iloc[test_rows][features].copy()
            for column in masked:
                test[column] = OTHER_CANCER_TYPE if column == CANCER_TYPE else np.nan
            probability[name][test_rows] = model.predict_proba(test)[:, 1]
    result = {}
    for name, scores in probability.items():
        result[name] = {"auroc": metrics_with_ci(y, scores, seed)["auroc"]}
        if name != "none":
            result[name]["auroc_minus_none"] = auroc_difference(y, scores, probability["none"],
                                                                seed)
    return {"candidate": candidate, "masked": result}


def pan_cancer_validation(X: pd.DataFrame, y: np.ndarray, candidate: str = DEFAULT_CANDIDATE,
                          seed: int = 0) -> dict:
    """Both checks, as the model card keeps them."""
    return {
        "scheme": f"seed {seed}; leave_one_cancer_type_out: one fit per training type on the "
                  "others, the held-out type scored through the 'other' level, metrics pooled; "
                  f"imputed_predictor: stratified {CV_SPLITS}-fold CV, the named feature(s) "
                  "masked for every test patient and filled from the training fold",
        "leave_one_cancer_type_out": leave_one_cancer_type_out(X, y, candidate, seed),
        "imputed_predictor": imputed_predictor_auroc(X, y, candidate, seed),
    }
