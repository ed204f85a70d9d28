"""The lesion segmenter cross-validated over patients, the workflow's step and the benchmark.

``cross_validate`` fits ``segmenter.LesionSegmenter`` in a seeded patient-level K-fold
(``KFold(folds, shuffle=True, random_state=seed)`` over the patients in first-seen order) and
scores each held-out lesion **on its context crop's grid** (the lesion-centred ``context_size``
crop of ``lesion_crops`` at ``spacing_mm``, predicted in sliding windows of ``crop_size``):
``monai.metrics.DiceMetric`` and ``HausdorffDistanceMetric(percentile=95)`` in mm
(``spacing=spacing_mm``), lesion channel only, of the largest connected component of the
prediction (what ``propose_mask`` writes). The context crop (192 mm by default) is centred on
the given mask, so these figures know roughly where the lesion is; ``segmentation_benchmark`` also
scores the whole-image proposals (``segmenter.propose_mask``) on the image's own grid, where the
model has to find the lesion itself. A held-out lesion with an empty prediction has Dice 0 and no
HD95 (counted in ``n_empty``; the fold's HD95 is the mean over the others).

``train_segmenter_or_say_why`` writes the per-fold table and a bundle with the model refitted on
every lesion, or a not-fitted bundle and an empty table that say why (fewer than ``MIN_LESIONS``
lesions, fewer patients than folds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.tables import schema_field, write_parquet
# The bundle layout (models/model.pt, configs/metadata.json, configs/inference.json): one for all.
from oncoweave.imaging.bundle import INFERENCE_FILE, METADATA_FILE, MODEL_FILE, write_fitted_bundle
from oncoweave.imaging.encoder_inputs import check_cases
from oncoweave.imaging.segmenter import (
    NETWORK_CLASS,
    LesionSegmenter,
    SegmenterSettings,
    image_transform_specs,
    largest_component,
    network_args,
)

log = logging.getLogger(__name__)

MIN_LESIONS = 2
METRICS_DESCRIPTION = ("per held-out lesion on its context crop's grid (spacing_mm, "
                       "context_size centred on the given mask, sliding windows, largest "
                       "connected component): DiceMetric and "
                       "HausdorffDistanceMetric(percentile=95) in mm of the lesion class; a "
                       "fold's value is the mean over its lesions")

FOLDS_SCHEMA = pa.schema([
    schema_field("fold", pa.int16(), "Cross-validation fold (0-based), patient-level K-fold"),
    schema_field("n_train", pa.int32(), "Lesions the fold's model was trained on"),
    schema_field("n_test", pa.int32(), "Held-out lesions of the fold's patients"),
    schema_field("dice", pa.float64(), "Mean Dice of the held-out lesions (context grid); an empty "
                 "prediction counts 0"),
    schema_field("hd95_mm", pa.float64(), "Mean 95th-percentile Hausdorff distance (mm, context "
                 "grid) of the held-out lesions with a non-empty prediction; null if none",
                 nullable=True),
    schema_field("n_empty", pa.int32(), "Held-out lesions whose prediction is empty"),
])


def patient_folds(patients: Sequence[str], folds: int, seed: int
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded K-fold over patients (first-seen order) as (train, test) lesion indices."""
    from sklearn.model_selection import KFold

    patients = np.asarray(patients, dtype=str)
    names = list(dict.fromkeys(patients.tolist()))
    if len(names) < folds:
        raise InputError(f"{len(names)} patient(s), fewer than the {folds} folds")
    splits = []
    for _, test in KFold(folds, shuffle=True, random_state=seed).split(names):
        in_test = np.isin(patients, [names[index] for index in test])
        splits.append((np.flatnonzero(~in_test), np.flatnonzero(in_test)))
    return splits


def lesion_metrics(predicted: np.ndarray, truth: np.ndarray,
                   spacing_mm: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(dice, hd95_mm) per lesion of (n, 1, *spatial) binary masks; HD95 NaN where the
    prediction is empty (Dice 0 there)."""
    import torch
    from monai.metrics import DiceMetric, HausdorffDistanceMetric

    def one_hot(masks):
        masks = torch.as_tensor(np.asarray(masks) > 0.5)
        return torch.cat([~masks, masks], dim=1).float()

    predicted_hot, truth_hot = one_hot(predicted), one_hot(truth)
    dice = DiceMetric(include_background=False, reduction="none", ignore_empty=False)(
        predicted_hot, truth_hot).numpy()[:, 0]
    empty = ~(np.asarray(predicted) > 0.5).reshape(len(predicted), -1).any(axis=1)
    hd95 = np.full(len(predicted), np.nan)
    if (~empty).any():
        keep = torch.as_tensor(~empty)
        hd95[~empty] = HausdorffDistanceMetric(include_background=False, percentile=95,
                                               reduction="none")(
            predicted_hot[keep], truth_hot[keep], spacing=list(spacing_mm)).numpy()[:, 0]
    return np.where(empty, 0.0, dice), hd95


def cross_validate(crops: np.ndarray, patients: Sequence[str],
                   settings: SegmenterSettings | None = None, device: str | None = None
                   ) -> tuple[pd.DataFrame, list[tuple[LesionSegmenter, np.ndarray]]]:
    """(per-fold table of ``FOLDS_SCHEMA``, [(fold model, its test lesion indices)]) on
    (n, 2, *context_size) crops (image, mask) of ``context_crops``."""
    settings = settings or SegmenterSettings()
    rows, models = [], []
    images, masks = crops[:, :1], crops[:, 1:]
    for fold, (train, test) in enumerate(patient_folds(patients, settings.folds,
                                                       settings.seed)):
        started = time.perf_counter()
        model = LesionSegmenter(settings, device).fit(images[train], masks[train])
        # Scored as propose_mask writes it: the largest connected component.
        predicted = np.stack([largest_component(mask[0])[0][None]
                              for mask in model.predict(images[test])])
        dice, hd95 = lesion_metrics(predicted, masks[test], settings.spacing_mm)
        rows.append({"fold": fold, "n_train": len(train), "n_test": len(test),
                     "dice": float(dice.mean()),
                     "hd95_mm": float(np.nanmean(hd95)) if np.isfinite(hd95).any() else None,
                     "n_empty": int(np.isnan(hd95).sum())})
        models.append((model, test))
        log.info("fold %d/%d: %d training, %d test lesions, Dice %.3f, %.1f s", fold + 1,
                 settings.folds, len(train), len(test), rows[-1]["dice"],
                 time.perf_counter() - started)
    return pd.DataFrame(rows, columns=FOLDS_SCHEMA.names), models


def context_crops(cases: Iterable[Mapping[str, Any]], settings: SegmenterSettings
                  ) -> tuple[list[dict[str, str]], np.ndarray]:
    """(checked cases, float32 n x 2 x context_size): ``lesion_crops`` with the context field."""
    import dataclasses

    from oncoweave.imaging.lesion_crops import lesion_crops

    context = dataclasses.replace(settings, crop_size=settings.context_size)
    return lesion_crops(cases, context)  # type: ignore[arg-type]



def segmenter_blocker(cases: Sequence[Mapping[str, Any]], settings: SegmenterSettings
                      ) -> str | None:
    """Why the segmenter cannot be cross-validated on these lesions, or None."""
    if len(cases) < MIN_LESIONS:
        return f"the cohort has {len(cases)} lesion(s); the segmenter learns from at least " \
               f"{MIN_LESIONS}"
    patients = len({case["patient"] for case in cases})
    if patients < settings.folds:
        return f"{patients} patient(s), fewer than the {settings.folds} folds"
    return None


def _versions() -> dict[str, str]:
    import monai
    import torch

    return {"oncoweave_version": __version__, "monai_version": monai.__version__,
            "pytorch_version": torch.__version__, "numpy_version": np.__version__}


def train_segmenter_or_say_why(cases: Iterable[Mapping[str, Any]] | pd.DataFrame,
                               bundle_dir: str | Path, table_path: str | Path,
                               settings: SegmenterSettings | None = None,
                               device: str | None = None) -> dict:
    """Cross-validate on the lesions, write the per-fold table at ``table_path`` and the bundle
    (the model refitted on all of them) at ``bundle_dir``; on a cohort it cannot learn from, a
    not-fitted bundle and an empty table whose metadata say why. Returns the bundle's metadata."""
    from oncoweave.core.model_status import NOT_FITTED_KEY, write_not_fitted_bundle
    settings = settings or SegmenterSettings()
    settings.validate()
    cases = check_cases(cases)
    reason = segmenter_blocker(cases, settings)
    versions = _versions()
    if reason is not None:
        log.warning("lesion segmenter not fitted: %s", reason)
        metadata = write_not_fitted_bundle(bundle_dir, reason, {
            "schema": "oncoweave lesion segmenter metadata (modelled on a MONAI bundle's "
                      "metadata.json)", "version": __version__, **versions,
            "network": NETWORK_CLASS, "seed": settings.seed, "n_cases": len(cases),
            "settings": settings.to_dict()})
        write_parquet(pd.DataFrame(columns=FOLDS_SCHEMA.names), table_path, FOLDS_SCHEMA,
                      {NOT_FITTED_KEY: reason, "seed": settings.seed, **versions})
        return metadata
    cases, crops = context_crops(cases, settings)
    started = time.perf_counter()
    table, _ = cross_validate(crops, [case["patient"] for case in cases], settings, device)
    final = LesionSegmenter(settings, device).fit(crops[:, :1], crops[:, 1:])
    metrics = {"cv_dice": float(table["dice"].mean()),
               "cv_hd95_mm": float(table["hd95_mm"].mean()),
               "per_fold": table.to_dict("records"), "folds": settings.folds,
               "splits": "KFold over patients (scikit-learn, shuffled, seed)",
               "description": METRICS_DESCRIPTION}
    log.info("cross-validated Dice %.3f, HD95 %.1f mm; trained in %.1f s", metrics["cv_dice"],
             metrics["cv_hd95_mm"], time.perf_counter() - started)
    metadata = _metadata(cases, settings, final, metrics, versions)
    _write_bundle(bundle_dir, final, metadata, settings)
    write_parquet(table, table_path, FOLDS_SCHEMA,
                  {"seed": settings.seed, "cv_dice": str(metrics["cv_dice"]),
                   "cv_hd95_mm": str(metrics["cv_hd95_mm"]), "metrics": METRICS_DESCRIPTION,
                   "model_sha256": metadata["model_sha256"], **versions})
    return metadata


def _metadata(cases: list[dict[str, str]], settings: SegmenterSettings,
              final: LesionSegmenter, metrics: dict, versions: dict) -> dict:
    return {
        "schema": "oncoweave lesion segmenter metadata (modelled on a MONAI bundle's "
                  "metadata.json)",
        "version": __version__, **versions,
        "task": "Binary segmentation of lesions in 3D images (lesion vs background)",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "format": "magnitude",
                                 "modality": "CT, MR or PT", "num_channels": 1,
                                 "spatial_shape": list(settings.crop_size), "dtype": "float32",
                                 "value_range": "CT/PET window to 0..1, MR z-score",
                                 "is_patch_data": True, "spacing_mm": list(settings.spacing_mm),
                                 "orientation": "RAS"}},
            "outputs": {"pred": {"type": "image", "format": "segmentation", "num_channels": 2,
                                 "dtype": "float32",
                                 "channel_def": {"0": "background", "1": "lesion"}}}},
        "seed": settings.seed,
        "device": final.device_.type,
        "deterministic": final.device_.type == "cpu",
        "torch_threads": final.torch_threads_,
        "n_cases": len(cases),
        "training_cases": [f"{case['patient']}/{case['lesion']}" for case in cases],
        "modalities": sorted({case["modality"] for case in cases}),
        "loss": "monai.losses.DiceCELoss(to_onehot_y=True, softmax=True)",
        "loss_curve": final.loss_curve_,
        "metrics": metrics,
        "settings": settings.to_dict(),
        "network": {"class": NETWORK_CLASS, "args": network_args(settings)},
    }


def _write_bundle(bundle_dir: str | Path, model: LesionSegmenter, metadata: dict,
                  settings: SegmenterSettings) -> None:
    write_fitted_bundle(bundle_dir, model.network_, metadata, {
        "network_def": {"_target_": NETWORK_CLASS, **network_args(settings)},
        "settings": settings.to_dict(),
        "preprocessing": {modality: [{"name": name, "args": args} for name, args in
                                     image_transform_specs(settings, modality)]
                          for modality in ("CT", "MR", "PT")},
        "inferer": {"_target_": "monai.inferers.SlidingWindowInferer",
                    "roi_size": list(settings.crop_size), "overlap": settings.overlap,
                    "mode": "gaussian"},
        "postprocessing": "softmax; lesion probability resampled to the image grid, > 0.5, "
                          "largest connected component (26-connectivity)"})


# ---------------------------------------------------------------------------------------------
# Benchmark: the held-out folds' whole-image proposals, and radiomics on them

COMPARED_FEATURES = {"SUVmax": "original_firstorder_Maximum",
                     "volume_ml": "original_shape_MeshVolume",
                     "glcm_JointEntropy": "original_glcm_JointEntropy"}


def segmentation_benchmark(cases: Iterable[Mapping[str, Any]], params_path: str | Path,
                           work_dir: str | Path, settings: SegmenterSettings | None = None,
                           device: str | None = None) -> dict:
    """Per-fold context-grid Dice/HD95; each held-out image segmented whole by its fold's model
    (``propose_mask``), its Dice with the given mask on the image grid, and pyradiomics features
    on the proposed vs the given masks (Spearman correlation, median relative difference)."""
    import nibabel
    from scipy.stats import spearmanr

    from oncoweave.imaging.radiomics import extract_features
    from oncoweave.imaging.segmenter import propose_mask

    settings = settings or SegmenterSettings()
    cases, crops = context_crops(check_cases(cases), settings)
    started = time.perf_counter()
    table, models = cross_validate(crops, [case["patient"] for case in cases], settings, device)
    cv_seconds = time.perf_counter() - started
    rows = []
    for model, test in models:
        for index in test.tolist():
            case = cases[index]
            out = Path(work_dir) / f"{case['patient']}_{case['lesion']}_proposed.nii.gz"
            found = propose_mask(model, case["image"], out, case["modality"])
            row = {"patient": case["patient"], "found": found["found"], "image_dice": 0.0}
            if found["found"]:
                proposed = np.asarray(nibabel.load(out).dataobj) > 0
                given = np.asarray(nibabel.load(case["mask"]).dataobj) > 0.5
                row["image_dice"] = float(2 * (proposed & given).sum()
                                          / (proposed.sum() + given.sum()))
                try:
                    on_proposed = extract_features(case["image"], out, params_path)
                except InputError as err:  # e.g. a one-voxel proposal pyradiomics refuses
                    log.warning("%s: no radiomics on the proposed mask (%s)", case["patient"],
                                err)
                    on_proposed = None
                if on_proposed is not None:
                    on_given = extract_features(case["image"], case["mask"], params_path)
                    for short, name in COMPARED_FEATURES.items():
                        row[f"{short}_given"], row[f"{short}_proposed"] = (on_given[name],
                                                                           on_proposed[name])
            rows.append(row)
    lesions = pd.DataFrame(rows)
    features = {}
    for short in COMPARED_FEATURES:
        if f"{short}_given" not in lesions:
            continue
        pairs = lesions[[f"{short}_given", f"{short}_proposed"]].dropna()
        given, proposed = pairs.iloc[:, 0].to_numpy(), pairs.iloc[:, 1].to_numpy()
        features[short] = {
            "n": len(pairs),
            "spearman": float(spearmanr(given, proposed).statistic) if len(pairs) > 2 else None,
            "median_relative_difference": float(np.median((proposed - given) / np.abs(given)))
            if len(pairs) else None}
    return {"n_lesions": len(cases), "folds": settings.folds, "seed": settings.seed,
            "per_fold": table.to_dict("records"), "cv_dice": float(table["dice"].mean()),
            "cv_hd95_mm": float(table["hd95_mm"].mean()), "cv_seconds": cv_seconds,
            "whole_image": {"found": int(lesions["found"].sum()),
                            "dice_mean": float(lesions["image_dice"].mean()),
                            "dice_median": float(lesions["image_dice"].median())},
            "radiomics": features, "radiomics_features": COMPARED_FEATURES,
            "settings": settings.to_dict()}
