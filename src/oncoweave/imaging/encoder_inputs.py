"""What the image encoder sees: its settings, the lesion cases and the transforms that crop them.

Why these choices:

* Input: 2 channels, the image windowed to 0..1 (CT: fixed HU window, PT: fixed SUV window, MR:
  per-image percentiles, since MR intensities have no absolute scale) and the lesion mask, both
  resampled to a fixed isotropic grid (``spacing_mm``) so a voxel is the same size for every
  lesion.
* Crop: ``CropForegroundd`` on the mask with a margin of half a crop on every side (the box may
  run past the image edge, which is padded with 0 = the bottom of the window), then
  ``CenterSpatialCropd`` to ``crop_size``. The crop is therefore centred on the centre of the
  lesion's bounding box (the mask centroid for a convex lesion), always holds real surroundings,
  and is never resized: the lesion's physical size stays visible to the network (up to the crop's
  extent, crop_size x spacing_mm = 64 mm by default; larger lesions fill the crop).

Each transform is a MONAI dictionary transform named with its arguments, so that the model's
metadata lists exactly what ran. MONAI and torch are imported where used.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.settings import settings_from_config
from oncoweave.imaging.defaults import MODALITIES

if TYPE_CHECKING:  # torch and MONAI are imported where used: the CLI starts without them
    import torch

CASE_COLUMNS = ("patient", "lesion", "modality", "image", "mask")


# ---------------------------------------------------------------------------------------------
# Settings

@dataclass(frozen=True)
class EncoderSettings:
    """Everything that decides the preprocessing, the network and its training."""

    seed: int = 0
    epochs: int = 30
    batch_size: int = 4
    learning_rate: float = 1e-3
    spacing_mm: tuple[float, float, float] = (2.0, 2.0, 2.0)
    crop_size: tuple[int, int, int] = (32, 32, 32)
    channels: tuple[int, ...] = (8, 16, 32)
    strides: tuple[int, ...] = (2, 2, 2)
    latent_dim: int = 16
    kl_weight: float = 1e-3  # weight of the KL term against the per-voxel MSE
    augmentation: bool = True
    ct_window: tuple[float, float] = (-1000.0, 1000.0)  # HU mapped to 0..1, clipped
    pt_window: tuple[float, float] = (0.0, 20.0)  # SUV mapped to 0..1, clipped
    mr_percentiles: tuple[float, float] = (0.5, 99.5)  # per-image percentiles mapped to 0..1
    # CPU threads (0: torch's default). A setting, not the job's threads, so that the encoder
    # and its features do not change with the cores a run gets; one is as fast for this network.
    torch_threads: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None,
                    source: str | Path | None = None) -> EncoderSettings:
        """Settings from a dict (e.g. a YAML section); unknown keys and bad values are refused."""
        settings = settings_from_config(cls, config, "encoder", source,
                                        repeated_scalars=("spacing_mm", "crop_size"))
        settings.validate(source)
        return settings

    def validate(self, source: str | Path | None = None) -> None:
        problems = []
        for name in ("epochs", "batch_size", "latent_dim"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            problems.append("learning_rate must be > 0")
        if self.kl_weight < 0:
            problems.append("kl_weight must be >= 0")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            problems.append("spacing_mm must be 3 numbers > 0")
        if len(self.channels) < 2 or min(self.channels) < 1:
            problems.append("channels must be >= 2 numbers >= 1")
        if len(self.strides) != len(self.channels) or min(self.strides, default=1) < 1:
            problems.append("strides must be as many numbers >= 1 as channels")
        downsampling = int(np.prod(self.strides)) if self.strides else 1
        if len(self.crop_size) != 3 or any(size < 1 or size % downsampling
                                           for size in self.crop_size):
            problems.append(f"crop_size must be 3 multiples of the strides' product "
                            f"({downsampling})")
        for name in ("ct_window", "pt_window", "mr_percentiles"):
            low, high = getattr(self, name)
            if not low < high:
                problems.append(f"{name} must be (low, high) with low < high")
        low, high = self.mr_percentiles
        if low < 0 or high > 100:
            problems.append("mr_percentiles must lie within 0..100")
        if self.torch_threads < 0:
            problems.append("torch_threads must be >= 0")
        if problems:
            raise InputError(f"bad encoder settings: {'; '.join(problems)}", path=source)

    def to_dict(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}


def read_settings(path: str | Path | None) -> EncoderSettings:
    """Settings from a YAML or JSON mapping of setting -> value; the defaults without a file."""
    from oncoweave.core.settings import read_settings_file

    return read_settings_file(EncoderSettings, path, "encoder")


# ---------------------------------------------------------------------------------------------
# Cases

def read_cases(path: str | Path) -> list[dict[str, str]]:
    """CASES.tsv (patient, lesion, modality, image, mask) -> case dicts.

    Paths are relative to the working directory, as in the other sheets.
    """
    path = Path(path)
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read cases sheet ({err})", path=path) from None
    missing = [column for column in CASE_COLUMNS if column not in sheet.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    for index, row in sheet.iterrows():
        for column in CASE_COLUMNS:
            if not row[column].strip():
                raise InputError("empty cell", path=path, row=int(index) + 2, column=column)
    return check_cases(sheet[list(CASE_COLUMNS)].to_dict("records"), source=path)


def check_cases(cases: Iterable[Mapping[str, Any]] | pd.DataFrame,
                source: str | Path | None = None) -> list[dict[str, str]]:
    """Cases as dicts with a known modality, unique (patient, lesion) and existing files."""
    records = cases.to_dict("records") if isinstance(cases, pd.DataFrame) else list(cases)
    checked, seen = [], set()
    for record in records:
        missing = [key for key in CASE_COLUMNS if key not in record]
        if missing:
            raise InputError(f"case {dict(record)} lacks {', '.join(missing)}", path=source)
        case = {key: str(record[key]).strip() for key in CASE_COLUMNS}
        case["modality"] = case["modality"].upper()
        name = case_name(case)
        if case["modality"] not in MODALITIES:
            raise InputError(f"{name}: modality must be one of {', '.join(MODALITIES)}, "
                             f"got {record['modality']!r}", path=source)
        if (case["patient"], case["lesion"]) in seen:
            raise InputError(f"{name}: listed twice", path=source)
        seen.add((case["patient"], case["lesion"]))
        for key in ("image", "mask"):
            if not Path(case[key]).is_file():
                raise InputError(f"{name}: {key} file not found", path=case[key])
        checked.append(case)
    return checked


def case_name(case: Mapping[str, Any]) -> str:
    return f"patient {case['patient']} lesion {case['lesion']}"


# ---------------------------------------------------------------------------------------------
# Transforms

def load_transform_specs(settings: EncoderSettings, modality: str) -> list[tuple[str, dict]]:
    """Load, reorient, resample to the model grid and window the intensities."""
    if modality == "CT":
        low, high = settings.ct_window
        scale = ("ScaleIntensityRanged", dict(keys="image", a_min=low, a_max=high, b_min=0.0,
                                              b_max=1.0, clip=True))
    elif modality == "PT":
        low, high = settings.pt_window
        scale = ("ScaleIntensityRanged", dict(keys="image", a_min=low, a_max=high, b_min=0.0,
                                              b_max=1.0, clip=True))
    else:
        low, high = settings.mr_percentiles
        scale = ("ScaleIntensityRangePercentilesd", dict(keys="image", lower=low, upper=high,
                                                         b_min=0.0, b_max=1.0, clip=True))
    return [
        ("LoadImaged", dict(keys=["image", "mask"], reader="NibabelReader", image_only=True)),
        ("EnsureChannelFirstd", dict(keys=["image", "mask"])),
        # Labels given so that the RAS codes mean what nibabel's RAS affines mean, in every MONAI.
        ("Orientationd", dict(keys=["image", "mask"], axcodes="RAS",
                              labels=[["L", "R"], ["P", "A"], ["I", "S"]])),
        ("Spacingd", dict(keys=["image", "mask"], pixdim=list(settings.spacing_mm),
                          mode=["bilinear", "nearest"])),
        ("AsDiscreted", dict(keys="mask", threshold=0.5)),
        scale,
    ]


def crop_transform_specs(settings: EncoderSettings) -> list[tuple[str, dict]]:
    """The fixed-size, never-resized crop around the lesion (see the module docstring)."""
    crop = list(settings.crop_size)
    return [
        ("CropForegroundd", dict(keys=["image", "mask"], source_key="mask",
                                 margin=[size // 2 for size in crop], allow_smaller=False)),
        ("SpatialPadd", dict(keys=["image", "mask"], spatial_size=crop)),
        ("CenterSpatialCropd", dict(keys=["image", "mask"], roi_size=crop)),
    ]


def augmentation_specs(settings: EncoderSettings) -> list[tuple[str, dict]]:
    """Training-only, mild: flips, in-plane quarter turns, noise and intensity jitter."""
    spatial = ["image", "mask"]
    specs: list[tuple[str, dict]] = [
        ("RandFlipd", dict(keys=spatial, prob=0.2, spatial_axis=axis)) for axis in range(3)]
    if settings.crop_size[0] == settings.crop_size[1]:  # a quarter turn keeps the shape
        specs.append(("RandRotate90d", dict(keys=spatial, prob=0.2, max_k=3,
                                            spatial_axes=[0, 1])))
    specs += [
        ("RandGaussianNoised", dict(keys="image", prob=0.2, mean=0.0, std=0.02)),
        ("RandScaleIntensityd", dict(keys="image", factors=0.1, prob=0.2)),
        ("RandShiftIntensityd", dict(keys="image", offsets=0.05, prob=0.2)),
    ]
    return specs


CONCAT_SPEC = ("ConcatItemsd", dict(keys=["image", "mask"], name="input", dim=0))


def compose(specs: Sequence[tuple[str, dict]]):
    import monai.transforms

    return monai.transforms.Compose([getattr(monai.transforms, name)(**args)
                                     for name, args in specs])


def describe_transforms(settings: EncoderSettings) -> dict[str, Any]:
    """The transforms by stage, as names and arguments (for the metadata and inference.json)."""
    def listed(specs):
        return [{"name": name, "args": args} for name, args in specs]

    return {
        "preprocessing": {modality: listed(load_transform_specs(settings, modality)
                                           + crop_transform_specs(settings))
                          for modality in MODALITIES},
        "training_augmentation": listed(augmentation_specs(settings))
        if settings.augmentation else [],
        "to_network_input": listed([CONCAT_SPEC]),
    }


@functools.lru_cache(maxsize=8)
def _load_pipeline(settings: EncoderSettings, modality: str):
    return compose_loading(load_transform_specs(settings, modality))  # once per modality


def compose_loading(specs):
    """``compose(specs)`` for a pipeline that starts with LoadImaged: it sets up every MONAI
    reader, and the DICOM one warns that the optional nvImageCodec GPU decoder is missing, which
    reading NIfTI never needs; that warning is silenced."""
    plugin_log = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    level = plugin_log.level
    plugin_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*nvImageCodec", category=UserWarning)
            return compose(specs)
    finally:
        plugin_log.setLevel(level)


@functools.lru_cache(maxsize=8)
def _crop_pipeline(settings: EncoderSettings):
    return compose(crop_transform_specs(settings))


def preprocess_case(case: Mapping[str, str], settings: EncoderSettings) -> dict[str, torch.Tensor]:
    """{"image", "mask"}: (1, *crop_size) float32 tensors of one lesion, ready for the network.

    Raises InputError naming the lesion and the file when a file cannot be read, when the mask
    holds no lesion (before or after resampling) or when image and mask grids differ.
    """
    import torch

    name = case_name(case)
    load = _load_pipeline(settings, case["modality"])
    try:
        data = load({"image": case["image"], "mask": case["mask"]})
    except RuntimeError as err:
        key, reason = _unreadable_file(case) or ("image or mask", root_cause(err))
        raise InputError(f"{name}: cannot read the {key} ({reason})",
                         path=case.get(key, case["image"])) from None
    image, mask = data["image"], data["mask"]
    if tuple(image.shape) != tuple(mask.shape) or not torch.allclose(
            image.affine.double(), mask.affine.double(), atol=1e-3):
        raise InputError(f"{name}: image and mask are on different grids (shapes "
                         f"{tuple(image.shape[1:])} and {tuple(mask.shape[1:])})",
                         path=case["mask"])
    if not bool(mask.any()):
        raise InputError(f"{name}: the mask has no lesion voxel"
                         f"{_after_resampling(case, settings)}", path=case["mask"])
    cropped = _crop_pipeline(settings)(data)
    if not bool(cropped["mask"].any()):
        raise InputError(f"{name}: the lesion crop is empty", path=case["mask"])
    return {key: plain_tensor(cropped[key]).float().contiguous() for key in ("image", "mask")}


def plain_tensor(data) -> torch.Tensor:
    """A torch tensor without MONAI's metadata (which the network does not need)."""
    from monai.utils import convert_to_tensor

    return convert_to_tensor(data, track_meta=False)


def _unreadable_file(case: Mapping[str, str]) -> tuple[str, str] | None:
    """("image" or "mask", nibabel's complaint) for the first file nibabel cannot read."""
    import nibabel

    for key in ("image", "mask"):
        try:
            nibabel.load(case[key]).get_fdata()
        except Exception as err:  # noqa: BLE001 - any failure names the file to blame
            return key, f"not a readable NIfTI: {root_cause(err)}"
    return None


def root_cause(err: BaseException) -> str:
    """'Type: first line' of the innermost cause of ``err`` (what MONAI wrapped)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def _after_resampling(case: Mapping[str, str], settings: EncoderSettings) -> str:
    import nibabel

    if np.asarray(nibabel.load(case["mask"]).dataobj).any():
        spacing = "x".join(f"{value:g}" for value in settings.spacing_mm)
        return f" after resampling to {spacing} mm voxels (the lesion is too small)"
    return ""
