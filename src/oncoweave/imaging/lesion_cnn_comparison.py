"""The lesion CNN against radiomics on one cohort (the STS benchmark, ``oncoweave lesion-cnn-cv``):
out-of-fold AUROC of the CNN, of the radiomics model and of their mean, on the same patient
splits and the same bootstrap resamples."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.imaging.lesion_classifier import cross_validate, patient_splits
from oncoweave.imaging.lesion_crops import ClassifierSettings, lesion_crops

log = logging.getLogger(__name__)


def compare_with_radiomics(cases: Iterable[Mapping[str, Any]], labels: pd.Series,
                           radiomics: pd.DataFrame, settings: ClassifierSettings | None = None,
                           k_best: int = 10, n_bootstrap: int = 1000,
                           device: str | None = None) -> dict:
    """Out-of-fold AUROC of the CNN, of the radiomics model (``radiomics_model``) and of their
    mean probability, on the same splits and the same bootstrap resamples.

    ``cases``: one lesion per patient; ``labels``: 0/1 by patient; ``radiomics``: one row per
    patient (index = patient). Patients lacking any of the three are left out (logged).
    """
    from oncoweave.imaging.radiomics_model import (
        auroc_summary,
        bootstrap_samples,
        out_of_fold_scores,
        percentile_ci,
        radiomics_model,
    )

    settings = settings or ClassifierSettings()
    cases = [case for case in cases
             if case["patient"] in labels.index and case["patient"] in radiomics.index]
    patients = [case["patient"] for case in cases]
    if len(set(patients)) < len(patients):
        raise InputError("the comparison needs one lesion per patient (as the radiomics model)")
    if len(cases) < len(labels):
        log.warning("%d labelled patient(s) without a lesion or radiomics features left out",
                    len(labels) - len(cases))
    cases, crops = lesion_crops(cases, settings)
    y = labels.loc[patients].astype(int).to_numpy()
    splits = patient_splits(patients, y, settings.folds, settings.repeats, settings.seed)
    started = time.perf_counter()
    cnn, _ = cross_validate(crops, y, splits, settings, device)
    cnn_seconds = time.perf_counter() - started
    X = radiomics.loc[patients].select_dtypes("number").replace([np.inf, -np.inf], np.nan)
    model = radiomics_model(min(k_best, X.shape[1]), settings.seed)
    scores, _ = out_of_fold_scores(model, X, y, splits, settings.repeats)
    samples = bootstrap_samples(y, n_bootstrap, np.random.default_rng(settings.seed))
    summaries = {name: auroc_summary(y, values, samples) for name, values in
                 (("cnn", cnn), ("radiomics", scores), ("combined", (cnn + scores) / 2))}
    boot = {name: summary.pop("bootstrap") for name, summary in summaries.items()}
    return {
        "n_patients": len(y), "n_positive": int(y.sum()), "n_features": int(X.shape[1]),
        "folds": settings.folds, "repeats": settings.repeats, "seed": settings.seed,
        "n_bootstrap": len(samples), "cnn_seconds": cnn_seconds,
        **summaries,
        "combined_description": "mean of the CNN's and the radiomics model's out-of-fold "
                                "probabilities",
        "radiomics_description": f"SelectKBest(k={min(k_best, X.shape[1])}) + L2 logistic "
                                 "regression fitted inside the same folds",
        "cnn_minus_radiomics": {"auroc": summaries["cnn"]["auroc"]
                                - summaries["radiomics"]["auroc"],
                                "auroc_ci95": percentile_ci(boot["cnn"] - boot["radiomics"])},
        "combined_minus_radiomics": {
            "auroc": summaries["combined"]["auroc"] - summaries["radiomics"]["auroc"],
            "auroc_ci95": percentile_ci(boot["combined"] - boot["radiomics"])},
        "settings": settings.to_dict(),
    }
