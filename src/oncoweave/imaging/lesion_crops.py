"""What the supervised lesion classifier sees: its settings and the lesion-centred crops.

Why these choices (the classifier's own, next to the encoder's in ``encoder_inputs``):

* Crop: a fixed physical field, ``crop_size`` x ``spacing_mm`` (24 x 4 mm = 96 mm by default),
  centred on the centre of the mask's bounding box (``CropForegroundd`` with half a crop of
  margin, then ``CenterSpatialCropd``; past the image edge it is padded with 0). Image and mask
  are resampled to the isotropic ``spacing_mm`` grid first, so a voxel is the same size for every
  lesion and the lesion's physical size stays visible (up to the field's extent). 96 mm rather
  than the encoder's 64 mm because PET/CT primaries are often 5-10 cm across; 4 mm voxels (about
  a PET scanner's resolution) keep the grid at 24^3, which trains in well under a minute per
  fold for ~50 lesions on 2 CPU cores (32^3 at 3 mm was 5x slower per epoch).
* Channels: the normalised image and the mask as a second channel (not a multiplier): the
  network sees the lesion's outline and its surroundings (a multiplier would erase the rim,
  where uptake heterogeneity and invasion show).
* Intensities per modality: CT a fixed HU window and PET a fixed SUV window, mapped to 0..1 and
  clipped (both are absolute scales), MR a per-image z-score (MR has no absolute scale).
* Augmentation on training crops only, seeded: flips, in-plane quarter turns, Gaussian noise and
  mild intensity jitter (``encoder_inputs.augmentation_specs``).

MONAI and torch are imported where used.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoweave.core.errors import InputError
from oncoweave.core.settings import settings_from_config
from oncoweave.imaging.encoder_inputs import (
    augmentation_specs,
    case_name,
    check_cases,
    compose,
    compose_loading,
    crop_transform_specs,
    plain_tensor,
    root_cause,
)

if TYPE_CHECKING:  # torch and MONAI are imported where used: the CLI starts without them
    import torch


@dataclass(frozen=True)
class ClassifierSettings:
    """The label, the preprocessing, the network and its training (chosen once, for a cohort of
    tens of lesions trained on 2 CPU cores; not tuned to any cohort's AUROC)."""

    label: str = "response"  # clinical column (workflow); the CLI takes 0/1 labels directly
    positive: tuple[str, ...] = ("CR", "PR")  # its values counted as class 1; others class 0
    seed: int = 0
    folds: int = 5
    repeats: int = 1  # repeated stratified CV; the workflow's table holds the first repeat
    epochs: int = 30
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    spacing_mm: tuple[float, float, float] = (4.0, 4.0, 4.0)
    crop_size: tuple[int, int, int] = (24, 24, 24)
    channels: tuple[int, ...] = (8, 16, 32)  # monai Classifier, one stride-2 conv level each
    dropout: float = 0.2
    augmentation: bool = True
    ct_window: tuple[float, float] = (-1000.0, 1000.0)  # HU mapped to 0..1, clipped
    pt_window: tuple[float, float] = (0.0, 20.0)  # SUV mapped to 0..1, clipped
    # CPU threads while fitting and predicting (0: torch's default). The network is small: one
    # thread is as fast, and far faster when other jobs share the cores (OpenMP spin-waits).
    torch_threads: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None,
                    source: str | Path | None = None) -> ClassifierSettings:
        """Settings from a dict (``imaging.classifier``); unknown keys and bad values refused."""
        config = dict(config or {})
        # settings_from_config coerces numbers; the two text fields are checked here.
        text = {key: config.pop(key) for key in ("label", "positive") if key in config}
        settings = settings_from_config(cls, config, "classifier", source,
                                        repeated_scalars=("spacing_mm", "crop_size"))
        if "label" in text:
            if not isinstance(text["label"], str) or not text["label"].strip():
                raise InputError("classifier setting label: expected a column name",
                                 path=source)
            settings = dataclasses.replace(settings, label=text["label"].strip())
        if "positive" in text:
            values = text["positive"]
            values = [values] if isinstance(values, (str, int)) else values
            if (not isinstance(values, (list, tuple))
                    or any(isinstance(value, (bool, float)) for value in values)):
                raise InputError("classifier setting positive: expected a list of label values",
                                 path=source)
            settings = dataclasses.replace(settings,
                                           positive=tuple(str(value) for value in values))
        settings.validate(source)
        return settings

    def validate(self, source: str | Path | None = None) -> None:
        problems = []
        for name in ("epochs", "batch_size", "repeats"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.torch_threads < 0:
            problems.append("torch_threads must be >= 0 (0: torch's default)")
        if self.folds < 2:
            problems.append("folds must be >= 2")
        if not self.positive or any(not value.strip() for value in self.positive):
            problems.append("positive must list at least one non-empty value")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            problems.append("learning_rate must be > 0")
        if self.weight_decay < 0:
            problems.append("weight_decay must be >= 0")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            problems.append("spacing_mm must be 3 numbers > 0")
        if not self.channels or min(self.channels) < 1:
            problems.append("channels must be >= 1 numbers >= 1")
        downsampling = 2 ** len(self.channels)
        if len(self.crop_size) != 3 or any(size < 1 or size % downsampling
                                           for size in self.crop_size):
            problems.append(f"crop_size must be 3 multiples of 2^len(channels) ({downsampling})")
        for name in ("ct_window", "pt_window"):
            window = getattr(self, name)
            if len(window) != 2 or not window[0] < window[1]:
                problems.append(f"{name} must be (low, high) with low < high")
        if problems:
            raise InputError(f"bad classifier settings: {'; '.join(problems)}", path=source)

    def to_dict(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}


def load_transform_specs(settings: ClassifierSettings, modality: str) -> list[tuple[str, dict]]:
    """Load, reorient, resample to the model grid and normalise the intensities per modality."""
    if modality in ("CT", "PT"):
        low, high = settings.ct_window if modality == "CT" else settings.pt_window
        scale = ("ScaleIntensityRanged", dict(keys="image", a_min=low, a_max=high, b_min=0.0,
                                              b_max=1.0, clip=True))
    else:
        scale = ("NormalizeIntensityd", dict(keys="image"))  # z-score over the image
    return [
        ("LoadImaged", dict(keys=["image", "mask"], reader="NibabelReader", image_only=True)),
        ("EnsureChannelFirstd", dict(keys=["image", "mask"])),
        ("Orientationd", dict(keys=["image", "mask"], axcodes="RAS",
                              labels=[["L", "R"], ["P", "A"], ["I", "S"]])),
        ("Spacingd", dict(keys=["image", "mask"], pixdim=list(settings.spacing_mm),
                          mode=["bilinear", "nearest"])),
        ("AsDiscreted", dict(keys="mask", threshold=0.5)),
        scale,
    ]


def describe_transforms(settings: ClassifierSettings) -> dict[str, Any]:
    """The transforms by stage, as names and arguments (for the bundle's metadata)."""
    def listed(specs):
        return [{"name": name, "args": args} for name, args in specs]

    return {
        "preprocessing": {modality: listed(load_transform_specs(settings, modality)
                                           + crop_transform_specs(settings))
                          for modality in ("CT", "MR", "PT")},
        "training_augmentation": listed(augmentation_specs(settings))
        if settings.augmentation else [],
        "to_network_input": "image and mask stacked as channels 0 and 1",
    }


@functools.lru_cache(maxsize=8)
def _load_pipeline(settings: ClassifierSettings, modality: str):
    return compose_loading(load_transform_specs(settings, modality))


def lesion_crop(case: Mapping[str, str], settings: ClassifierSettings) -> torch.Tensor:
    """(2, *crop_size) float32: the normalised image and the mask of one lesion.

    InputError naming the lesion and file for an unreadable file, different image and mask
    grids, or a mask without a lesion voxel (before or after resampling).
    """
    import torch

    name = case_name(case)
    try:
        data = _load_pipeline(settings, case["modality"])({"image": case["image"],
                                                           "mask": case["mask"]})
    except RuntimeError as err:
        raise InputError(f"{name}: cannot read the image or mask ({root_cause(err)})",
                         path=case["image"]) from None
    image, mask = data["image"], data["mask"]
    if tuple(image.shape) != tuple(mask.shape) or not torch.allclose(
            image.affine.double(), mask.affine.double(), atol=1e-3):
        raise InputError(f"{name}: image and mask are on different grids", path=case["mask"])
    if not bool(mask.any()):
        import nibabel

        resampled = bool(np.asarray(nibabel.load(case["mask"]).dataobj).any())
        raise InputError(f"{name}: the mask has no lesion voxel"
                         + (" after resampling (the lesion is too small)" if resampled else ""),
                         path=case["mask"])
    cropped = compose(crop_transform_specs(settings))(data)
    return torch.cat([plain_tensor(cropped["image"]).float(),
                      plain_tensor(cropped["mask"]).float()]).contiguous()


def lesion_crops(cases: Iterable[Mapping[str, Any]], settings: ClassifierSettings
                 ) -> tuple[list[dict[str, str]], np.ndarray]:
    """(checked cases, float32 array n x 2 x crop) of the lesions, in the cases' order."""
    cases = check_cases(cases)
    if not cases:
        return cases, np.zeros((0, 2, *settings.crop_size), dtype=np.float32)
    return cases, np.stack([lesion_crop(case, settings).numpy() for case in cases])


def read_settings(path: str | Path | None) -> ClassifierSettings:
    """Settings from a YAML or JSON mapping of setting -> value; the defaults without a file."""
    from oncoweave.core.settings import read_settings_file

    return read_settings_file(ClassifierSettings, path, "classifier")
