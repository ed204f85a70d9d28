"""Deep image features: a self-supervised MONAI 3D encoder trained on the cohort's lesions.

No pretrained weights exist for this cohort's crops (and nothing may be downloaded), so the
encoder is trained on the cohort itself, without labels: a variational autoencoder
(``monai.networks.nets.VarAutoEncoder``) learns to reconstruct lesion-centred crops, and the
embedding of a lesion is the posterior mean ``mu`` of its latent vector (``latent_dim`` floats).

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
* Embedding = ``mu``, not a global average of the encoder's feature map: averaging would throw
  away where in the crop the signal lies (i.e. the lesion's extent and shape), whereas ``mu`` is a
  learned linear map of the whole feature map. The KL term keeps each latent coordinate on a unit
  scale, so distances between embeddings are comparable across coordinates. At inference the
  network is in eval mode and returns ``mu`` (``use_mean_at_inference``): no sampling, no
  augmentation, one lesion at a time, so a lesion's embedding does not depend on the others.

Training is seeded (``torch.manual_seed``, ``monai.utils.set_determinism``, the augmentation
``Compose`` and the DataLoader's shuffling generator) and, on CPU, runs with
``torch.use_deterministic_algorithms(True)``: two trainings with the same seed on the same machine
give bit-identical weights. On CUDA some kernels are not bit-reproducible; the metadata records
the device. The model directory is MONAI-bundle-like: ``models/model.pt`` (state_dict),
``configs/metadata.json`` (versions, seed, loss curve, data format, transforms) and
``configs/inference.json`` (how to rebuild the network and its preprocessing).

Default settings (crop 32^3, channels (8, 16, 32), 30 epochs, batch 4) train on 8 lesions in about
1 s on 2 CPU cores, after about 1 s loading and resampling them (small 48 x 48 x 40 volumes).
Bit-identical reruns need the same machine and thread count (``torch_threads`` is recorded).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import math
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from oncoweave import __version__
from oncoweave.core.devices import select_device
from oncoweave.core.errors import InputError
from oncoweave.core.io import directory_replaced_on_success, file_sha256
from oncoweave.core.settings import settings_from_config
from oncoweave.core.tables import schema_field, write_parquet

if TYPE_CHECKING:  # torch and MONAI are imported where used: the CLI starts without them
    import torch

log = logging.getLogger(__name__)

MODALITIES = ("CT", "MR", "PT")
CASE_COLUMNS = ("patient", "lesion", "modality", "image", "mask")
NETWORK_CLASS = "monai.networks.nets.VarAutoEncoder"
MODEL_FILE = Path("models") / "model.pt"
METADATA_FILE = Path("configs") / "metadata.json"
INFERENCE_FILE = Path("configs") / "inference.json"
INPUT_CHANNELS = {"0": "image, windowed to 0..1 (modality-dependent window)",
                  "1": "lesion mask (1 inside the lesion, 0 outside)"}


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
        if problems:
            raise InputError(f"bad encoder settings: {'; '.join(problems)}", path=source)

    def to_dict(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}


def read_settings(path: str | Path | None) -> EncoderSettings:
    """Settings from a YAML or JSON file (a mapping of setting -> value); defaults without one."""
    if path is None:
        return EncoderSettings()
    path = Path(path)
    try:
        text = path.read_text()
        config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise InputError(f"cannot read encoder settings ({err})", path=path) from None
    if config is not None and not isinstance(config, dict):
        raise InputError("encoder settings must be a mapping of setting: value", path=path)
    return EncoderSettings.from_config(config, source=path)


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
# Transforms (each a MONAI dictionary transform named with its arguments, so that the metadata
# lists exactly what ran)

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
    # Built once per modality: LoadImaged sets up every MONAI reader, and the DICOM one warns
    # that the optional nvImageCodec GPU decoder is missing, which reading NIfTI never needs.
    plugin_log = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    level = plugin_log.level
    plugin_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*nvImageCodec", category=UserWarning)
            return compose(load_transform_specs(settings, modality))
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
        key, reason = _unreadable_file(case) or ("image or mask", _root_cause(err))
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
            return key, f"not a readable NIfTI: {_root_cause(err)}"
    return None


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"


def _after_resampling(case: Mapping[str, str], settings: EncoderSettings) -> str:
    import nibabel

    if np.asarray(nibabel.load(case["mask"]).dataobj).any():
        spacing = "x".join(f"{value:g}" for value in settings.spacing_mm)
        return f" after resampling to {spacing} mm voxels (the lesion is too small)"
    return ""


# ---------------------------------------------------------------------------------------------
# Network, device, determinism

def network_args(settings: EncoderSettings) -> dict[str, Any]:
    return dict(spatial_dims=3, in_shape=[2, *settings.crop_size], out_channels=2,
                latent_size=settings.latent_dim, channels=list(settings.channels),
                strides=list(settings.strides), use_sigmoid=True, use_mean_at_inference=True)


def build_network(settings: EncoderSettings) -> torch.nn.Module:
    from monai.networks.nets import VarAutoEncoder

    return VarAutoEncoder(**network_args(settings))


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch, numpy and random; deterministic algorithms on CPU (restored afterwards)."""
    import torch
    from monai.utils import set_determinism

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    set_determinism(seed=seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def vae_loss(reconstruction: torch.Tensor, target: torch.Tensor, mu: torch.Tensor,
             logvar: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(total, reconstruction): per-voxel MSE + kl_weight x KL(q(z|x) || N(0, I)) per lesion."""
    import torch

    mse = torch.nn.functional.mse_loss(reconstruction, target)
    kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))
    return mse + kl_weight * kl, mse


# ---------------------------------------------------------------------------------------------
# Training

def train_encoder(cases: Iterable[Mapping[str, Any]] | pd.DataFrame, out_dir: str | Path,
                  settings: EncoderSettings | None = None, device: str | None = None) -> dict:
    """Train the encoder on ``cases`` and save the model directory; return its metadata.

    The directory is written beside ``out_dir`` and renamed onto it at the end, so a failed
    training leaves nothing (and keeps an earlier model there untouched).
    """
    import torch

    settings = settings or EncoderSettings()
    settings.validate()
    cases = check_cases(cases)
    if len(cases) < 2:
        raise InputError(f"training the image encoder needs at least 2 lesions, got {len(cases)}"
                         + (f" ({case_name(cases[0])})" if cases else ""))
    torch_device = select_device(device)
    log.info("preprocessing %d lesions", len(cases))
    crops = [preprocess_case(case, settings) for case in cases]
    with seeded(settings.seed, torch_device):
        network = build_network(settings).to(torch_device)
        losses, reconstruction, seconds = _fit(network, crops, settings, torch_device)
    metadata = _metadata(cases, settings, torch_device, losses, reconstruction, seconds)
    with directory_replaced_on_success(out_dir) as temporary:
        (temporary / MODEL_FILE).parent.mkdir(parents=True)
        (temporary / METADATA_FILE).parent.mkdir(parents=True)
        state = {key: value.detach().cpu() for key, value in network.state_dict().items()}
        torch.save(state, temporary / MODEL_FILE)
        metadata["model_sha256"] = file_sha256(temporary / MODEL_FILE)
        _write_json(temporary / METADATA_FILE, metadata)
        _write_json(temporary / INFERENCE_FILE, _inference_config(settings))
    log.info("saved the image encoder to %s (final loss %.5f)", out_dir, metadata["final_loss"])
    return metadata


def _fit(network: torch.nn.Module, crops: list[dict[str, torch.Tensor]],
         settings: EncoderSettings, device: torch.device
         ) -> tuple[list[float], list[float], float]:
    """Adam on the VAE loss; returns per-epoch (loss, reconstruction MSE) and seconds."""
    import torch
    from monai.data import Dataset, list_data_collate

    specs = (augmentation_specs(settings) if settings.augmentation else []) + [CONCAT_SPEC]
    transform = compose(specs).set_random_state(seed=settings.seed)
    loader = torch.utils.data.DataLoader(
        Dataset(crops, transform=transform), batch_size=settings.batch_size, shuffle=True,
        num_workers=0, generator=torch.Generator().manual_seed(settings.seed),
        collate_fn=list_data_collate)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    losses, reconstruction = [], []
    started = time.perf_counter()
    network.train()
    for epoch in range(1, settings.epochs + 1):
        epoch_started = time.perf_counter()
        total = mse_total = 0.0
        for batch in loader:
            inputs = plain_tensor(batch["input"]).to(device)
            optimiser.zero_grad()
            output, mu, logvar, _ = network(inputs)
            loss, mse = vae_loss(output, inputs, mu, logvar, settings.kl_weight)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(inputs)
            mse_total += mse.item() * len(inputs)
        losses.append(total / len(crops))
        reconstruction.append(mse_total / len(crops))
        if not math.isfinite(losses[-1]):
            raise InputError(f"training diverged at epoch {epoch} (loss {losses[-1]}); "
                             "lower learning_rate")
        log.info("epoch %d/%d: loss %.5f (reconstruction MSE %.5f), %.2f s", epoch,
                 settings.epochs, losses[-1], reconstruction[-1],
                 time.perf_counter() - epoch_started)
    return losses, reconstruction, time.perf_counter() - started


def _metadata(cases: list[dict[str, str]], settings: EncoderSettings, device: torch.device,
              losses: list[float], reconstruction: list[float], seconds: float) -> dict:
    import monai
    import nibabel
    import torch

    crop = list(settings.crop_size)
    return {
        "schema": "oncoweave image encoder metadata (modelled on a MONAI bundle's metadata.json)",
        "version": __version__,
        "oncoweave_version": __version__,
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__,
        "numpy_version": np.__version__,
        "optional_packages_version": {"nibabel": nibabel.__version__},
        "task": "Self-supervised embedding of lesion-centred 3D crops (CT, MR, PET)",
        "description": "Variational autoencoder trained to reconstruct its 2-channel input (the "
                       "windowed image and the lesion mask); the embedding is the posterior "
                       "mean of the latent vector.",
        "network_data_format": {
            "inputs": {"image": {
                "type": "image", "format": "magnitude", "modality": "CT, MR or PT",
                "num_channels": 2, "spatial_shape": crop, "dtype": "float32",
                "value_range": [0, 1], "is_patch_data": True, "channel_def": INPUT_CHANNELS,
                "spacing_mm": list(settings.spacing_mm), "orientation": "RAS"}},
            "outputs": {
                "pred": {"type": "image", "format": "magnitude", "num_channels": 2,
                         "spatial_shape": crop, "dtype": "float32", "value_range": [0, 1],
                         "is_patch_data": True, "channel_def": INPUT_CHANNELS,
                         "description": "reconstruction of the input"},
                "embedding": {"type": "vector", "num_channels": settings.latent_dim,
                              "dtype": "float32", "description": "posterior mean mu of the "
                              "latent vector; the deep_* features"}},
        },
        "seed": settings.seed,
        "device": device.type,
        "deterministic": device.type == "cpu",
        "torch_threads": torch.get_num_threads(),
        "n_cases": len(cases),
        "training_cases": [f"{case['patient']}/{case['lesion']}" for case in cases],
        "modalities": sorted({case["modality"] for case in cases}),
        "loss": "per-voxel MSE + kl_weight x KL divergence",
        "loss_curve": losses,
        "reconstruction_curve": reconstruction,
        "final_loss": losses[-1],
        "training_seconds": seconds,
        "settings": settings.to_dict(),
        "network": {"class": NETWORK_CLASS, "args": network_args(settings)},
        "transforms": describe_transforms(settings),
    }


def _inference_config(settings: EncoderSettings) -> dict:
    transforms = describe_transforms(settings)
    return {
        "network_def": {"_target_": NETWORK_CLASS, **network_args(settings)},
        "settings": settings.to_dict(),
        "preprocessing": transforms["preprocessing"],
        "to_network_input": transforms["to_network_input"],
        "embedding": "network.encode_forward(input)[0] (mu), network in eval mode",
    }


def _write_json(path: Path, content: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Loading and embedding

def load_encoder(model_dir: str | Path) -> tuple[torch.nn.Module, EncoderSettings, dict]:
    """(network in eval mode on CPU, settings, metadata) of a directory ``train_encoder`` wrote."""
    import torch

    model_dir = Path(model_dir)
    for relative in (MODEL_FILE, METADATA_FILE, INFERENCE_FILE):
        if not (model_dir / relative).is_file():
            raise InputError(f"not an image encoder directory: {relative} is missing",
                             path=model_dir)
    try:
        metadata = json.loads((model_dir / METADATA_FILE).read_text())
        inference = json.loads((model_dir / INFERENCE_FILE).read_text())
        settings = EncoderSettings.from_config(inference["settings"],
                                               source=model_dir / INFERENCE_FILE)
        network_def = dict(inference["network_def"])
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"cannot read the encoder's configs ({err})", path=model_dir) from None
    if network_def.pop("_target_", None) != NETWORK_CLASS:
        raise InputError(f"network_def must be a {NETWORK_CLASS}", path=model_dir / INFERENCE_FILE)
    from monai.networks.nets import VarAutoEncoder

    try:
        network = VarAutoEncoder(**network_def)
        state = torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except (OSError, RuntimeError, ValueError, TypeError) as err:
        raise InputError(f"cannot rebuild the network or load its weights ({_root_cause(err)})",
                         path=model_dir / MODEL_FILE) from None
    return network.eval(), settings, metadata


def embed_cases(cases: Iterable[Mapping[str, Any]] | pd.DataFrame, model_dir: str | Path,
                device: str | None = None) -> pd.DataFrame:
    """One row per lesion: patient, lesion, modality, deep_000 .. (float64, ``mu``)."""
    import torch

    network, settings, _ = load_encoder(model_dir)
    cases = check_cases(cases)
    torch_device = select_device(device)
    network = network.to(torch_device)
    to_input = compose([CONCAT_SPEC])
    rows = []
    with seeded(settings.seed, torch_device), torch.inference_mode():
        for case in cases:
            inputs = to_input(preprocess_case(case, settings))["input"]
            mu, _ = network.encode_forward(plain_tensor(inputs)[None].to(torch_device))
            rows.append([case["patient"], case["lesion"], case["modality"],
                         *mu[0].double().cpu().numpy()])
    return pd.DataFrame(rows, columns=["patient", "lesion", "modality",
                                       *deep_feature_names(settings.latent_dim)])


def deep_feature_names(latent_dim: int) -> list[str]:
    return [f"deep_{index:03d}" for index in range(latent_dim)]


def deep_features_schema(latent_dim: int) -> pa.Schema:
    """The deep features table of an encoder with ``latent_dim`` latent coordinates."""
    return pa.schema([
        schema_field("patient", pa.string(), "Patient id"),
        schema_field("lesion", pa.string(), "Lesion id"),
        schema_field("modality", pa.string(), "CT, MR or PT"),
        *[schema_field(name, pa.float64(), f"Latent coordinate {index} (posterior mean) of the "
                       "cohort-trained image encoder; no meaning across models")
          for index, name in enumerate(deep_feature_names(latent_dim))],
    ])


def write_deep_features(df: pd.DataFrame, path: str | Path, model_dir: str | Path) -> pa.Table:
    """Write ``embed_cases``' table atomically with the model's provenance in the metadata."""
    model_dir = Path(model_dir)
    _, settings, metadata = load_encoder(model_dir)
    provenance = {
        "deep_model_sha256": file_sha256(model_dir / MODEL_FILE),
        "deep_model_seed": metadata.get("seed"),
        "deep_model_n_cases": metadata.get("n_cases"),
        "deep_model_final_loss": metadata.get("final_loss"),
        "deep_model_device": metadata.get("device"),
        "deep_model_network": NETWORK_CLASS,
        "deep_model_settings": json.dumps(settings.to_dict(), sort_keys=True),
        "monai_version": metadata.get("monai_version"),
        "pytorch_version": metadata.get("pytorch_version"),
        "numpy_version": metadata.get("numpy_version"),
    }
    return write_parquet(df, path, deep_features_schema(settings.latent_dim), provenance)


# ---------------------------------------------------------------------------------------------
# Benchmark

def benchmark_embedding(cases: Iterable[Mapping[str, Any]] | pd.DataFrame, model_dir: str | Path,
                        device: str | None = None) -> dict[str, Any]:
    """Seconds per lesion to embed ``cases`` (preprocessing included) and, from the model's
    metadata, training seconds per epoch."""
    import torch

    cases = check_cases(cases)
    _, settings, metadata = load_encoder(model_dir)
    started = time.perf_counter()
    embed_cases(cases, model_dir, device)
    seconds = time.perf_counter() - started
    return {
        "n_cases": len(cases),
        "embedding_seconds": seconds,
        "embedding_seconds_per_case": seconds / len(cases) if cases else None,
        "embedding_device": select_device(device).type,
        "training_seconds": metadata.get("training_seconds"),
        "training_seconds_per_epoch": metadata.get("training_seconds", 0.0) / settings.epochs,
        "training_device": metadata.get("device"),
        "training_n_cases": metadata.get("n_cases"),
        "crop_size": list(settings.crop_size),
        "torch_threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------
# Command line

def register(subparsers) -> None:
    train = subparsers.add_parser("train-image-encoder",
                                  help="train the self-supervised lesion image encoder (MONAI)")
    train.add_argument("--cases", required=True,
                       help="TSV with patient, lesion, modality, image, mask")
    train.add_argument("--output", required=True, help="model directory to write")
    train.add_argument("--config", help="YAML/JSON of encoder settings (default: built-in)")
    train.add_argument("--device", choices=["cpu", "cuda"],
                       help="default: cuda when available, else cpu")
    train.set_defaults(func=_cmd_train)
    embed = subparsers.add_parser("embed-images", help="deep features of lesions with a trained "
                                  "image encoder")
    embed.add_argument("--cases", required=True,
                       help="TSV with patient, lesion, modality, image, mask")
    embed.add_argument("--model", required=True, help="directory from train-image-encoder")
    embed.add_argument("--output", required=True, help="Parquet to write")
    embed.add_argument("--device", choices=["cpu", "cuda"])
    embed.set_defaults(func=_cmd_embed)
    bench = subparsers.add_parser("deep-features-benchmark",
                                  help="time the image encoder's embedding (and training)")
    bench.add_argument("--cases", required=True)
    bench.add_argument("--model", required=True)
    bench.add_argument("--device", choices=["cpu", "cuda"])
    bench.add_argument("--output", help="JSON to write (default: print)")
    bench.set_defaults(func=_cmd_benchmark)


def _log_to_stderr() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _cmd_train(args: argparse.Namespace) -> int:
    _log_to_stderr()
    metadata = train_encoder(read_cases(args.cases), args.output, read_settings(args.config),
                             args.device)
    print(f"{args.output}: trained on {metadata['n_cases']} lesions, "
          f"{len(metadata['loss_curve'])} epochs on {metadata['device']}, final loss "
          f"{metadata['final_loss']:.5f} ({metadata['training_seconds']:.1f} s)")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    table = embed_cases(read_cases(args.cases), args.model, args.device)
    write_deep_features(table, args.output, args.model)
    print(f"{args.output}: {len(table)} lesions x "
          f"{len(table.columns) - 3} deep features")
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    result = json.dumps(benchmark_embedding(read_cases(args.cases), args.model, args.device),
                        indent=2)
    if args.output:
        from oncoweave.core.io import replaced_on_success

        with replaced_on_success(args.output) as temporary:
            temporary.write_text(result + "\n")
    else:
        print(result)
    return 0
