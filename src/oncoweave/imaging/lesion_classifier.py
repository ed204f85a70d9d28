"""A supervised 3D CNN lesion classifier, cross-validated like (and against) the radiomics model.

``LesionCNN`` is a scikit-learn-style classifier of lesion crops (``lesion_crops``): a small
``monai.networks.nets.Classifier`` (one stride-2 convolution, instance norm, PReLU and dropout
per entry of ``channels``: 8, 16, 32; ~19 k weights at 24^3) trained with Adam on a
class-weighted binary cross-entropy (``pos_weight`` = negatives / positives of the training
crops), 30 epochs: about 1.6 s per fit on 40 lesions on one CPU thread. ``cross_validate`` gives the
out-of-fold probabilities of given (train, test) splits; ``patient_splits`` makes seeded repeated
stratified splits over patients (for one lesion per patient exactly the radiomics model's
``RepeatedStratifiedKFold`` splits). ``train_classifier_or_say_why`` is the workflow's step: out-of-
fold probabilities per lesion, and a bundle with the model refitted on every labelled lesion, or a
not-fitted bundle and an empty table that say why.

Training is seeded (torch, numpy, ``monai.utils.set_determinism``, the augmentation and the batch
order) and deterministic on CPU (``torch.use_deterministic_algorithms``): the same seed on the same
machine and thread count (``torch_threads``, recorded) gives byte-identical bundles and tables.
No early stopping: a fixed epoch count.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave import __version__
from oncoweave.core.devices import select_device, torch_threads
from oncoweave.core.errors import InputError
from oncoweave.core.tables import schema_field, write_parquet
# The bundle layout (models/model.pt, configs/metadata.json, configs/inference.json): one for all.
from oncoweave.imaging.bundle import INFERENCE_FILE, METADATA_FILE, MODEL_FILE, write_fitted_bundle
from oncoweave.imaging.encoder import seeded
from oncoweave.imaging.encoder_inputs import (
    augmentation_specs,
    check_cases,
    compose,
    plain_tensor,
)
from oncoweave.imaging.lesion_crops import ClassifierSettings, describe_transforms, lesion_crops
from oncoweave.imaging.lesion_map_files import write_lesion_maps
from oncoweave.imaging.lesion_maps import OVERLAP, lesion_map_slices, mask_voxels

if TYPE_CHECKING:  # torch and MONAI are imported where used: the CLI starts without them
    import torch

log = logging.getLogger(__name__)

NETWORK_CLASS = "monai.networks.nets.Classifier"
MIN_LESIONS = 2
INPUT_CHANNELS = {"0": "image, normalised per modality (CT/PET window to 0..1, MR z-score)",
                  "1": "lesion mask (1 inside the lesion, 0 outside)"}

PREDICTIONS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("lesion", pa.string(), "Lesion id"),
    schema_field("modality", pa.string(), "CT, MR or PT"),
    schema_field("label", pa.int8(), "1 when the patient's label value is one of the positive "
                 "values (imaging.classifier.positive), else 0"),
    schema_field("fold", pa.int16(), "Cross-validation fold (0-based) whose test set held the "
                 "lesion's patient, first repeat"),
    schema_field("probability", pa.float64(), "Out-of-fold probability of class 1 from the CNN "
                 "trained without the lesion's patient"),
])


def network_args(settings: ClassifierSettings) -> dict[str, Any]:
    return dict(in_shape=[2, *settings.crop_size], classes=1, channels=list(settings.channels),
                strides=[2] * len(settings.channels), num_res_units=0,
                dropout=settings.dropout or None)


def build_network(settings: ClassifierSettings) -> torch.nn.Module:
    from monai.networks.nets import Classifier

    return Classifier(**network_args(settings))


class LesionCNN:
    """``fit(crops, y)`` / ``predict_proba(crops)`` on (n, 2, *crop_size) arrays; y in {0, 1}."""

    def __init__(self, settings: ClassifierSettings | None = None, device: str | None = None):
        self.settings = settings or ClassifierSettings()
        self.device = device

    def fit(self, crops: np.ndarray, y: Sequence[int]) -> LesionCNN:
        import torch

        settings = self.settings
        settings.validate()
        crops, y = _checked_crops(crops, settings), np.array(y, dtype=int)  # writable copy
        if len(crops) != len(y):
            raise InputError(f"{len(crops)} crops but {len(y)} labels")
        if set(np.unique(y)) != {0, 1}:
            raise InputError(f"the classifier needs labels of both classes 0 and 1, got "
                             f"{sorted(set(y.tolist()))}")
        self.device_ = select_device(self.device)
        augment = compose(augmentation_specs(settings) if settings.augmentation else [])
        augment.set_random_state(seed=settings.seed)
        self.pos_weight_ = float((y == 0).sum() / (y == 1).sum())
        with seeded(settings.seed, self.device_), torch_threads(settings.torch_threads):
            self.torch_threads_ = torch.get_num_threads()
            network = build_network(settings).to(self.device_)
            optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate,
                                         weight_decay=settings.weight_decay)
            loss_function = torch.nn.BCEWithLogitsLoss(
                pos_weight=torch.tensor([self.pos_weight_], device=self.device_))
            order = torch.Generator().manual_seed(settings.seed)
            targets = torch.as_tensor(y, dtype=torch.float32)
            self.loss_curve_ = []
            network.train()
            for _ in range(settings.epochs):
                total = 0.0
                for batch in torch.randperm(len(y), generator=order).split(settings.batch_size):
                    inputs = torch.stack([_augmented(crops[index], augment)
                                          for index in batch.tolist()]).to(self.device_)
                    optimiser.zero_grad()
                    loss = loss_function(network(inputs)[:, 0], targets[batch].to(self.device_))
                    loss.backward()
                    optimiser.step()
                    total += loss.item() * len(batch)
                self.loss_curve_.append(total / len(y))
                if not np.isfinite(self.loss_curve_[-1]):
                    raise InputError("training diverged (loss not finite); lower learning_rate")
        self.network_ = network.eval()
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """(n, 2): probabilities of class 0 and class 1, one crop at a time (no augmentation)."""
        import torch

        if not hasattr(self, "network_"):
            raise InputError("the lesion classifier is not fitted; call fit first")
        crops = _checked_crops(crops, self.settings)
        with torch.inference_mode(), torch_threads(self.settings.torch_threads):
            inputs = torch.as_tensor(crops).to(self.device_)
            logits = torch.cat([self.network_(one[None])[:, 0] for one in inputs]) \
                if len(inputs) else torch.zeros(0)
        positive = torch.sigmoid(logits.double()).cpu().numpy()
        return np.column_stack([1 - positive, positive])


def _checked_crops(crops: np.ndarray, settings: ClassifierSettings) -> np.ndarray:
    crops = np.asarray(crops, dtype=np.float32)
    expected = (2, *settings.crop_size)
    if crops.ndim != 5 or crops.shape[1:] != expected:
        raise InputError(f"crops must be an (n, {', '.join(map(str, expected))}) array, "
                         f"got shape {crops.shape}")
    return crops


def _augmented(crop: np.ndarray, augment) -> torch.Tensor:
    import torch

    item = augment({"image": torch.as_tensor(crop[:1]), "mask": torch.as_tensor(crop[1:])})
    return torch.cat([plain_tensor(item["image"]), plain_tensor(item["mask"])]).float()


# ---------------------------------------------------------------------------------------------
# Cross-validation

def class_blocker(patient_labels: Mapping[str, int], folds: int) -> str | None:
    """Why patients with these 0/1 labels cannot be cross-validated in ``folds`` folds, or None."""
    counts = pd.Series(list(patient_labels.values()), dtype=int).value_counts()
    if len(counts) < 2:
        only = f"class {counts.index[0]}" if len(counts) else "no labelled patient"
        return f"all {len(patient_labels)} labelled patients are in one class ({only})"
    if counts.min() < folds:
        return (f"class {counts.idxmin()} has {counts.min()} patient(s), fewer than the "
                f"{folds} folds")
    return None


def patient_splits(patients: Sequence[str], y: Sequence[int], folds: int, repeats: int,
                   seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded repeated stratified k-fold over patients, as (train, test) lesion indices.

    Patients in first-seen order; with one lesion per patient these are exactly
    ``RepeatedStratifiedKFold(folds, repeats, seed).split(X, y)``'s splits (the radiomics model's).
    InputError when a patient has two labels or a class has fewer patients than folds.
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    patients, y = np.asarray(patients, dtype=str), np.asarray(y, dtype=int)
    label_of: dict[str, int] = {}
    for patient, label in zip(patients, y):
        if label_of.setdefault(patient, int(label)) != label:
            raise InputError(f"patient {patient} has lesions with different labels")
    reason = class_blocker(label_of, folds)
    if reason:
        raise InputError(f"cannot cross-validate the lesion classifier: {reason}")
    names = list(label_of)
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    splits = []
    for train, test in cv.split(np.zeros(len(names)), [label_of[name] for name in names]):
        test_patients = {names[index] for index in test}
        in_test = np.array([patient in test_patients for patient in patients])
        splits.append((np.flatnonzero(~in_test), np.flatnonzero(in_test)))
    return splits


def cross_validate(crops: np.ndarray, y: Sequence[int],
                   splits: Sequence[tuple[np.ndarray, np.ndarray]],
                   settings: ClassifierSettings | None = None, device: str | None = None,
                   on_fold: Callable[[LesionCNN, np.ndarray, int], None] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, folds), both (repeats, n): each lesion's out-of-fold probability of class 1
    in each repeat of ``splits``, and the fold number (within its repeat) that tested it.

    A split's repeat is the number of earlier splits that tested its lesions (splits in
    RepeatedStratifiedKFold's order); a lesion no split tests is an InputError. ``on_fold(model,
    test, repeat)`` is called with each fold's fitted model while it is in memory (the fold
    models are not kept): the occlusion maps of its held-out lesions are made there.
    """
    y = np.asarray(y, dtype=int)
    seen = np.zeros(len(y), dtype=int)
    repeats = int(sum(np.bincount(test, minlength=len(y)) for _, test in splits).max())
    probabilities = np.full((repeats, len(y)), np.nan)
    folds = np.full((repeats, len(y)), -1, dtype=int)
    fold_in_repeat = [0] * repeats
    for number, (train, test) in enumerate(splits):
        repeat = int(seen[test].max())
        started = time.perf_counter()
        model = LesionCNN(settings, device).fit(crops[train], y[train])
        probabilities[repeat, test] = model.predict_proba(crops[test])[:, 1]
        if on_fold is not None:
            on_fold(model, test, repeat)
        folds[repeat, test] = fold_in_repeat[repeat]
        fold_in_repeat[repeat] += 1
        seen[test] += 1
        log.info("split %d/%d: %d training, %d test lesions, %.1f s", number + 1, len(splits),
                 len(train), len(test), time.perf_counter() - started)
    if np.isnan(probabilities).any():
        untested = int(np.isnan(probabilities).any(axis=0).sum())
        raise InputError(f"{untested} lesion(s) are not tested in every repeat of the splits")
    return probabilities, folds


def auroc_with_ci(y: Sequence[int], probabilities: np.ndarray, n_bootstrap: int = 1000,
                  seed: int = 0, samples: np.ndarray | None = None) -> dict:
    """Mean over repeats of the out-of-fold AUROC (``roc_auc_score``) and its 95% bootstrap
    percentile CI over ``n_bootstrap`` seeded patient resamples (the radiomics model's method)."""
    from oncoweave.imaging.radiomics_model import auroc_summary, bootstrap_samples

    y = np.asarray(y, dtype=int)
    if samples is None:
        samples = bootstrap_samples(y, n_bootstrap, np.random.default_rng(seed))
    return auroc_summary(y, np.atleast_2d(probabilities), samples)


# ---------------------------------------------------------------------------------------------
# The workflow's step: labels from the clinical sheet, out-of-fold table, bundle

def outcome_labels(cells: Mapping[str, Any] | None, settings: ClassifierSettings
                   ) -> dict[str, int]:
    """Patient -> 1 (cell one of ``settings.positive``) or 0 (another non-empty cell)."""
    positive = set(settings.positive)
    return {str(patient): int(str(cell).strip() in positive)
            for patient, cell in (cells or {}).items()
            if cell is not None and str(cell).strip() not in ("", "nan")}


def clinical_labels(path: str | Path | None, settings: ClassifierSettings
                    ) -> dict[str, int] | None:
    """The 0/1 labels (``outcome_labels``) of the clinical sheet's ``settings.label`` column;
    None without a sheet or without that column (the cohort cannot be learnt from)."""
    if not path:
        return None
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the clinical sheet ({err})", path=path) from None
    if settings.label not in sheet.columns or "patient" not in sheet.columns:
        return None
    return outcome_labels(dict(zip(sheet["patient"], sheet[settings.label])), settings)


def classifier_blocker(cases: Sequence[Mapping[str, Any]], labels: Mapping[str, int] | None,
                       settings: ClassifierSettings) -> str | None:
    """Why the classifier cannot be cross-validated on these lesions and labels, or None."""
    if labels is None:
        return f"no clinical sheet with a {settings.label!r} column to learn from"
    labelled = [case for case in cases if case["patient"] in labels]
    if len(labelled) < MIN_LESIONS:
        return (f"{len(labelled)} lesion(s) have a {settings.label!r} label; the classifier "
                f"learns from at least {MIN_LESIONS}")
    reason = class_blocker({case["patient"]: labels[case["patient"]] for case in labelled},
                           settings.folds)
    return f"{settings.label!r} (positive: {', '.join(settings.positive)}): {reason}" \
        if reason else None


def train_classifier_or_say_why(cases: Iterable[Mapping[str, Any]] | pd.DataFrame,
                                labels: Mapping[str, int] | None, bundle_dir: str | Path,
                                table_path: str | Path,
                                settings: ClassifierSettings | None = None,
                                device: str | None = None,
                                maps_dir: str | Path | None = None) -> dict:
    """Cross-validate on the labelled lesions, write their out-of-fold table at ``table_path``
    and the bundle (the model refitted on all of them) at ``bundle_dir``; on a cohort it cannot
    learn from (``labels`` None: no label column), a not-fitted bundle and an empty table whose
    metadata say why. With ``maps_dir``, each lesion's occlusion map from the fold model that held
    it out (``lesion_maps``), or an empty index saying why. Returns the bundle's metadata."""
    import monai
    import torch

    from oncoweave.core.model_status import NOT_FITTED_KEY, write_not_fitted_bundle

    settings = settings or ClassifierSettings()
    settings.validate()
    cases = check_cases(cases)
    reason = classifier_blocker(cases, labels, settings)
    versions = {"oncoweave_version": __version__, "monai_version": monai.__version__,
                "pytorch_version": torch.__version__, "numpy_version": np.__version__}
    if reason is not None:
        log.warning("lesion classifier not fitted: %s", reason)
        metadata = write_not_fitted_bundle(bundle_dir, reason, {
            "schema": "oncoweave lesion classifier metadata (modelled on a MONAI bundle's "
                      "metadata.json)", "version": __version__, **versions,
            "network": NETWORK_CLASS, "seed": settings.seed, "n_cases": len(cases),
            "settings": settings.to_dict()})
        write_parquet(pd.DataFrame(columns=PREDICTIONS_SCHEMA.names), table_path,
                      PREDICTIONS_SCHEMA, {NOT_FITTED_KEY: reason, "seed": settings.seed,
                                           **versions})
        if maps_dir is not None:
            write_lesion_maps(maps_dir, [], {NOT_FITTED_KEY: reason, **_label(settings),
                                             **versions})
        return metadata
    labelled = [case for case in cases if case["patient"] in labels]
    if len(labelled) < len(cases):
        log.warning("%d lesion(s) without a %r label left out", len(cases) - len(labelled),
                    settings.label)
    labelled, crops = lesion_crops(labelled, settings)
    y = np.array([labels[case["patient"]] for case in labelled])
    patients = [case["patient"] for case in labelled]
    splits = patient_splits(patients, y, settings.folds, settings.repeats, settings.seed)
    started = time.perf_counter()
    slices: dict[int, dict] = {}
    map_seconds = [0.0]

    def keep_maps(model: LesionCNN, test: np.ndarray, repeat: int) -> None:
        if maps_dir is None or repeat:  # the table holds the first repeat: so do the maps
            return
        begun = time.perf_counter()
        with torch_threads(settings.torch_threads):
            for index in test.tolist():
                slices[index] = lesion_map_slices(model.network_, crops[index])
        map_seconds[0] += time.perf_counter() - begun

    probabilities, folds = cross_validate(crops, y, splits, settings, device, keep_maps)
    metrics = auroc_with_ci(y, probabilities, seed=settings.seed)
    metrics.pop("bootstrap")
    final = LesionCNN(settings, device).fit(crops, y)
    log.info("cross-validated AUROC %.3f [%.3f-%.3f]; trained in %.1f s", metrics["auroc"],
             *metrics["auroc_ci95"], time.perf_counter() - started)
    metadata = _metadata(labelled, y, settings, final, metrics, versions)
    _write_bundle(bundle_dir, final, metadata, settings)
    table = pd.DataFrame({"patient": patients, "lesion": [case["lesion"] for case in labelled],
                          "modality": [case["modality"] for case in labelled], "label": y,
                          "fold": folds[0], "probability": probabilities[0]})
    write_parquet(table, table_path, PREDICTIONS_SCHEMA,
                  {"seed": settings.seed, "auroc": metrics["auroc"],
                   "auroc_ci95": json.dumps(metrics["auroc_ci95"]),
                   "model_sha256": metadata["model_sha256"], **versions})
    if maps_dir is not None:
        log.info("occlusion maps of %d lesions in %.1f s", len(slices), map_seconds[0])
        write_lesion_maps(maps_dir, [
            {**table.iloc[index][["patient", "lesion", "modality", "fold",
                                  "probability"]].to_dict(), **slices[index]}
            for index in range(len(table))],
            {"seed": str(settings.seed), "overlap": str(OVERLAP), **_label(settings),
             "mask_voxels": "x".join(map(str, mask_voxels(settings.crop_size))), **versions})
    return metadata


def _label(settings: ClassifierSettings) -> dict[str, str]:
    return {"label": settings.label, "positive": ", ".join(settings.positive)}


def _metadata(cases: list[dict[str, str]], y: np.ndarray, settings: ClassifierSettings,
              final: LesionCNN, metrics: dict, versions: dict) -> dict:
    crop = list(settings.crop_size)
    return {
        "schema": "oncoweave lesion classifier metadata (modelled on a MONAI bundle's "
                  "metadata.json)",
        "version": __version__, **versions,
        "task": f"Binary classification of lesion-centred 3D crops: {settings.label} in "
                f"{{{', '.join(settings.positive)}}}",
        "network_data_format": {
            "inputs": {"image": {"type": "image", "format": "magnitude",
                                 "modality": "CT, MR or PT", "num_channels": 2,
                                 "spatial_shape": crop, "dtype": "float32",
                                 "is_patch_data": True, "channel_def": INPUT_CHANNELS,
                                 "spacing_mm": list(settings.spacing_mm), "orientation": "RAS"}},
            "outputs": {"pred": {"type": "probabilities", "format": "classes",
                                 "num_channels": 1, "dtype": "float32",
                                 "description": "logit of class 1; sigmoid = probability"}}},
        "seed": settings.seed,
        "device": final.device_.type,
        "deterministic": final.device_.type == "cpu",
        "torch_threads": final.torch_threads_,
        "n_cases": len(cases), "n_positive": int(y.sum()),
        "training_cases": [f"{case['patient']}/{case['lesion']}" for case in cases],
        "modalities": sorted({case["modality"] for case in cases}),
        "loss": "binary cross-entropy, pos_weight = negatives / positives",
        "pos_weight": final.pos_weight_,
        "loss_curve": final.loss_curve_,
        "metrics": {"cv_auroc": metrics["auroc"], "cv_auroc_ci95": metrics["auroc_ci95"],
                    "cv_auroc_sd_over_repeats": metrics["auroc_sd_over_repeats"],
                    "folds": settings.folds, "repeats": settings.repeats,
                    "splits": "repeated stratified k-fold over patients (scikit-learn, seed)",
                    "ci": "95% percentile bootstrap over patients, 1000 resamples"},
        "settings": settings.to_dict(),
        "network": {"class": NETWORK_CLASS, "args": network_args(settings)},
        "transforms": describe_transforms(settings),
    }


def _write_bundle(bundle_dir: str | Path, model: LesionCNN, metadata: dict,
                  settings: ClassifierSettings) -> None:
    write_fitted_bundle(bundle_dir, model.network_, metadata, {
        "network_def": {"_target_": NETWORK_CLASS, **network_args(settings)},
        "settings": settings.to_dict(),
        "preprocessing": describe_transforms(settings)["preprocessing"],
        "prediction": "sigmoid(network(input)[:, 0]), network in eval mode"})
