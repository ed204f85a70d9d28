"""A small supervised 3D MONAI U-Net that segments lesions, and the mask it proposes for an image.

Why these choices (chosen once for a cohort of tens of lesions trained on 2 CPU cores; the one
change after a first STS run is the context windows below, which fix whole-image inference):

* Training data: the classifier's lesion-centred crops (``lesion_crops.lesion_crops``: image and
  mask resampled to the isotropic ``spacing_mm`` grid, CT/PET windowed to 0..1, MR z-scored, a
  fixed field centred on the mask's bounding box), but of ``context_size`` (48^3 x 4 mm = 192 mm,
  twice the window); each epoch draws one ``crop_size`` window per lesion from it with
  ``RandCropByPosNegLabeld`` (centred on a lesion voxel or a background voxel, 1:1). A model
  trained only on windows centred on the lesion learns "the centre is the lesion" and, run over a
  whole image in sliding windows, marks the centre of every window; the drawn windows show it
  off-centre lesions and windows without one. Channel 0 (image) is the input, channel 1 the target.
* Network: ``monai.networks.nets.UNet``, 1 input channel, 2 output classes (background,
  lesion), one stride-2 level per entry of ``channels`` but the last, one residual unit each.
  Loss: ``monai.losses.DiceCELoss`` (softmax, one-hot target). Adam, a fixed epoch count, seeded
  augmentation (``encoder_inputs.augmentation_specs``: flips and quarter turns of image and mask
  together, noise and intensity jitter of the image).
* Inference where no mask exists: the whole image is resampled to the model's grid and covered by
  ``monai.inferers.sliding_window_inference`` (windows of ``crop_size``, ``overlap`` between
  them, Gaussian-weighted); the lesion probability is resampled back (trilinear) onto the image's
  own grid and thresholded at 0.5. ``propose_mask`` keeps the **largest connected component**
  (26-connectivity): the cohorts' sheets hold one lesion per mask, and a stray bright voxel
  elsewhere (bladder, heart, a neighbouring node) should not become part of it. Nothing above 0.5
  means nothing found: no file is written and the result says so.

Training is seeded (torch, numpy, ``set_determinism``, the augmentation and the batch order) and
deterministic on CPU: the same seed, machine and ``torch_threads`` give identical masks.
MONAI, torch and scipy are imported where used.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoweave.core.devices import select_device, torch_threads
from oncoweave.core.errors import InputError
from oncoweave.core.settings import settings_from_config
from oncoweave.imaging.encoder import seeded
from oncoweave.imaging.encoder_inputs import augmentation_specs, compose, plain_tensor

if TYPE_CHECKING:  # torch and MONAI are imported where used: the CLI starts without them
    import torch

NETWORK_CLASS = "monai.networks.nets.UNet"


@dataclass(frozen=True)
class SegmenterSettings:
    """The preprocessing (the classifier's crop geometry), the network and its training."""

    seed: int = 0
    folds: int = 5  # patient-level K-fold of the cross-validated Dice / HD95
    epochs: int = 30
    batch_size: int = 4
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    spacing_mm: tuple[float, float, float] = (4.0, 4.0, 4.0)
    crop_size: tuple[int, int, int] = (24, 24, 24)  # the training and sliding window
    context_size: tuple[int, int, int] = (48, 48, 48)  # lesion-centred region windows come from
    channels: tuple[int, ...] = (8, 16, 32)  # U-Net levels; stride 2 between them
    augmentation: bool = True
    ct_window: tuple[float, float] = (-1000.0, 1000.0)  # HU mapped to 0..1, clipped
    pt_window: tuple[float, float] = (0.0, 20.0)  # SUV mapped to 0..1, clipped
    overlap: float = 0.5  # of the sliding windows at inference
    torch_threads: int = 1  # CPU threads (0: torch's default); one is as fast for this network

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None,
                    source: str | Path | None = None) -> SegmenterSettings:
        """Settings from a dict (``imaging.segmenter``); unknown keys and bad values refused."""
        settings = settings_from_config(cls, dict(config or {}), "segmenter", source,
                                        repeated_scalars=("spacing_mm", "crop_size",
                                                          "context_size"))
        settings.validate(source)
        return settings

    def validate(self, source: str | Path | None = None) -> None:
        problems = []
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.folds < 2:
            problems.append("folds must be >= 2")
        if self.torch_threads < 0:
            problems.append("torch_threads must be >= 0 (0: torch's default)")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            problems.append("learning_rate must be > 0")
        if self.weight_decay < 0:
            problems.append("weight_decay must be >= 0")
        if not 0 <= self.overlap < 1:
            problems.append("overlap must be in [0, 1)")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            problems.append("spacing_mm must be 3 numbers > 0")
        if len(self.channels) < 2 or min(self.channels) < 1:
            problems.append("channels must be >= 2 numbers >= 1")
        downsampling = 2 ** (len(self.channels) - 1)
        if len(self.crop_size) != 3 or any(size < 1 or size % downsampling
                                           for size in self.crop_size):
            problems.append("crop_size must be 3 multiples of 2^(len(channels) - 1) "
                            f"({downsampling})")
        if len(self.context_size) != 3 or len(self.crop_size) != 3 or any(
                context < crop for context, crop in zip(self.context_size, self.crop_size)):
            problems.append("context_size must be 3 numbers, each >= crop_size's")
        for name in ("ct_window", "pt_window"):
            window = getattr(self, name)
            if len(window) != 2 or not window[0] < window[1]:
                problems.append(f"{name} must be (low, high) with low < high")
        if problems:
            raise InputError(f"bad segmenter settings: {'; '.join(problems)}", path=source)

    def to_dict(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}


def read_settings(path: str | Path | None) -> SegmenterSettings:
    """Settings from a YAML or JSON mapping of setting -> value; the defaults without a file."""
    from oncoweave.core.settings import read_settings_file

    return read_settings_file(SegmenterSettings, path, "segmenter")


def network_args(settings: SegmenterSettings) -> dict[str, Any]:
    return dict(spatial_dims=3, in_channels=1, out_channels=2, channels=list(settings.channels),
                strides=[2] * (len(settings.channels) - 1), num_res_units=1)


def build_network(settings: SegmenterSettings) -> torch.nn.Module:
    from monai.networks.nets import UNet

    return UNet(**network_args(settings))


class LesionSegmenter:
    """``fit(images, masks)`` on (n, 1, x, y, z) arrays of at least ``crop_size``: image crops
    (normalised, ``lesion_crops``' channel 0) and binary masks (channel 1); ``predict(images)``
    in sliding windows, any size."""

    def __init__(self, settings: SegmenterSettings | None = None, device: str | None = None):
        self.settings = settings or SegmenterSettings()
        self.device = device

    def fit(self, images: np.ndarray, masks: np.ndarray) -> LesionSegmenter:
        import torch
        from monai.losses import DiceCELoss


        settings = self.settings
        settings.validate()
        images, masks = _checked(images, settings, "images"), _checked(masks, settings, "masks")
        if len(images) != len(masks):
            raise InputError(f"{len(images)} images but {len(masks)} masks")
        empty = np.flatnonzero(~(masks > 0.5).reshape(len(masks), -1).any(axis=1))
        if len(empty):
            raise InputError(f"training mask(s) {', '.join(map(str, empty.tolist()))} have no "
                             "lesion voxel; a segmenter learns from lesions")
        masks = (masks > 0.5).astype(np.float32)
        self.device_ = select_device(self.device)
        window = compose([("RandCropByPosNegLabeld", dict(
            keys=["image", "mask"], label_key="mask", spatial_size=list(settings.crop_size),
            pos=1, neg=1, num_samples=1))])
        augment = compose(augmentation_specs(settings) if settings.augmentation else [])
        window.set_random_state(seed=settings.seed)
        augment.set_random_state(seed=settings.seed + 1)
        with seeded(settings.seed, self.device_), torch_threads(settings.torch_threads):
            self.torch_threads_ = torch.get_num_threads()
            network = build_network(settings).to(self.device_)
            optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate,
                                         weight_decay=settings.weight_decay)
            loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
            order = torch.Generator().manual_seed(settings.seed)
            self.loss_curve_ = []
            network.train()
            for _ in range(settings.epochs):
                total = 0.0
                for batch in torch.randperm(len(images), generator=order).split(
                        settings.batch_size):
                    pairs = [_augmented(images[index], masks[index], window, augment)
                             for index in batch.tolist()]
                    inputs = torch.stack([image for image, _ in pairs]).to(self.device_)
                    targets = torch.stack([mask for _, mask in pairs]).to(self.device_)
                    optimiser.zero_grad()
                    loss = loss_function(network(inputs), targets)
                    loss.backward()
                    optimiser.step()
                    total += loss.item() * len(batch)
                self.loss_curve_.append(total / len(images))
                if not np.isfinite(self.loss_curve_[-1]):
                    raise InputError("training diverged (loss not finite); lower learning_rate")
        self.network_ = network.eval()
        return self

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(n, 1, *spatial) lesion probability per voxel; any spatial size (sliding windows)."""
        if not hasattr(self, "network_"):
            raise InputError("the lesion segmenter is not fitted; call fit first")
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 5 or images.shape[1] != 1:
            raise InputError(f"images must be an (n, 1, x, y, z) array, got shape {images.shape}")
        return np.concatenate([self._probability(one[None]) for one in images]) \
            if len(images) else np.zeros(images.shape, dtype=np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(n, 1, *spatial) uint8 masks: lesion probability > 0.5."""
        return (self.predict_proba(images) > 0.5).astype(np.uint8)

    def _probability(self, image: np.ndarray) -> np.ndarray:
        import torch
        from monai.inferers import sliding_window_inference


        with torch.inference_mode(), torch_threads(self.settings.torch_threads):
            logits = sliding_window_inference(
                torch.as_tensor(image).to(self.device_), list(self.settings.crop_size),
                sw_batch_size=4, predictor=self.network_, overlap=self.settings.overlap,
                mode="gaussian")
            return torch.softmax(plain_tensor(logits).float(), dim=1)[:, 1:].cpu().numpy()


def _checked(array: np.ndarray, settings: SegmenterSettings, what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if (array.ndim != 5 or array.shape[1] != 1
            or any(size < crop for size, crop in zip(array.shape[2:], settings.crop_size))):
        raise InputError(f"{what} must be an (n, 1, x, y, z) array of at least crop_size "
                         f"{list(settings.crop_size)}, got shape {array.shape}")
    return array


def _augmented(image: np.ndarray, mask: np.ndarray, window, augment
               ) -> tuple[torch.Tensor, ...]:
    import torch

    item = window({"image": torch.as_tensor(image), "mask": torch.as_tensor(mask)})[0]
    item = augment(item)
    return plain_tensor(item["image"]).float(), plain_tensor(item["mask"]).float()


# ---------------------------------------------------------------------------------------------
# A mask for an image without one

def image_transform_specs(settings: SegmenterSettings, modality: str) -> list[tuple[str, dict]]:
    """The training crops' loading, resampling and intensity scaling, for an image alone."""
    from oncoweave.imaging.lesion_crops import load_transform_specs

    specs = []
    for name, args in load_transform_specs(settings, modality):  # type: ignore[arg-type]
        if name == "AsDiscreted":
            continue
        args = dict(args, keys="image")
        if name == "Spacingd":
            args["mode"] = "bilinear"
        specs.append((name, args))
    return specs


@functools.lru_cache(maxsize=8)
def _image_pipeline(settings: SegmenterSettings, modality: str):
    # LoadImaged sets up every MONAI reader; the DICOM one warns of a GPU decoder NIfTI never needs.
    plugin_log = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    level = plugin_log.level
    plugin_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*nvImageCodec", category=UserWarning)
            return compose(image_transform_specs(settings, modality))
    finally:
        plugin_log.setLevel(level)


def largest_component(foreground: np.ndarray) -> tuple[np.ndarray, int]:
    """(uint8 mask of the largest 26-connected component of a 3D boolean array, the number of
    components); an all-zero mask and 0 when nothing is foreground."""
    from scipy import ndimage

    labels, components = ndimage.label(foreground, structure=np.ones((3, 3, 3)))
    if components == 0:
        return np.zeros(foreground.shape, dtype=np.uint8), 0
    sizes = np.bincount(labels.ravel())[1:]
    return (labels == int(np.argmax(sizes)) + 1).astype(np.uint8), int(components)


def propose_mask(model: LesionSegmenter, image_path: str | Path, out_path: str | Path,
                 modality: str = "PT") -> dict[str, Any]:
    """Segment a NIfTI image (sliding windows over the whole image, see the module docstring) and
    write the largest connected component as a binary uint8 NIfTI on the image's own grid.

    Returns ``found`` (False: no voxel above 0.5, nothing written), ``voxels``, ``volume_ml``,
    ``components`` (before keeping the largest). An image that is not 3D is an InputError.
    """
    import nibabel
    import torch
    from monai.data import MetaTensor
    from monai.transforms import ResampleToMatch

    modality = modality.upper()
    try:
        original = nibabel.load(str(image_path))
    except Exception as err:  # nibabel raises several types for unreadable files
        raise InputError(f"cannot read the image ({err})", path=image_path) from None
    if len(original.shape) != 3:
        raise InputError(f"the image must be 3D, got shape {tuple(original.shape)}",
                         path=image_path)
    loaded = _image_pipeline(model.settings, modality)({"image": str(image_path)})
    image = loaded["image"]
    probability = model.predict_proba(plain_tensor(image).float().numpy()[None])[0]
    # Back onto the image's own grid: the probability on the model grid carries that grid's
    # affine; ResampleToMatch resamples it onto a reference with the file's affine and shape.
    reference = MetaTensor(torch.zeros((1, *original.shape)),
                           affine=torch.as_tensor(original.affine, dtype=torch.float64))
    on_model_grid = MetaTensor(torch.as_tensor(probability), affine=image.affine)
    on_image_grid = ResampleToMatch(mode="bilinear", padding_mode="zeros")(
        on_model_grid, img_dst=reference)
    mask, components = largest_component(plain_tensor(on_image_grid).numpy()[0] > 0.5)
    voxel_ml = float(abs(np.linalg.det(original.affine[:3, :3]))) / 1000
    if components == 0:
        return {"found": False, "voxels": 0, "volume_ml": 0.0, "components": 0}
    header = original.header.copy()
    header.set_data_dtype(np.uint8)
    header.set_slope_inter(1, 0)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    nibabel.save(nibabel.Nifti1Image(mask, original.affine, header), str(out_path))
    return {"found": True, "voxels": int(mask.sum()), "volume_ml": float(mask.sum()) * voxel_ml,
            "components": int(components)}
