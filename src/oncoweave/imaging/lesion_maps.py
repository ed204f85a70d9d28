"""Occlusion-sensitivity maps of the lesion CNN, one per classified lesion, for the patient report.

Each lesion's map comes from the fold model that held the lesion out (the model that gave its
out-of-fold probability, first repeat), computed in the cross-validation loop while that model is
in memory: the fold models are not kept. The map is MONAI's ``OcclusionSensitivity``: a cube of
``mask_voxels`` (a quarter of the crop's side: 6^3 voxels, 24 mm, by default) slides over the crop
with ``OVERLAP`` overlap; inside it the image channel is replaced by the crop's mean image value (a
neutral grey) while the mask channel is left as it was, so the map says what image content
mattered, not where the outline is. The map value of a voxel is the out-of-fold probability minus
the mean probability with the cubes that cover it occluded: positive (warm) where hiding the image
lowers the predicted probability, negative where it raises it. About 0.1 s per lesion on one CPU
thread at 24^3. Occlusion rather than Grad-CAM (``monai.visualize.GradCAM``): the network's last
convolution is 3^3 for a 24^3 crop, so a Grad-CAM map would be 3 x 3 on the slice, and occlusion
needs no choice of layer.

What is kept per lesion: the axial slice through the lesion's centre (the centre of its bounding
box in the crop) of the crop's image channel, of its mask and of the map, as 2D arrays in display
orientation (rows anterior to posterior, columns the patient's right to left: radiological), in
``<patient>/<lesion>.npz`` under the maps folder, with ``index.parquet`` naming them
(``lesion_map_files``: the report reads them from there, with no torch or MONAI in its env). A
not-fitted classifier leaves an empty index whose metadata carry its reason. torch and MONAI are
imported inside ``occlusion_map``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

MASK_FRACTION = 4  # the occluding cube's side is the crop's side / 4 (24 mm of the 96 mm field)
OVERLAP = 0.5


def mask_voxels(crop_size: Sequence[int]) -> tuple[int, ...]:
    return tuple(max(2, size // MASK_FRACTION) for size in crop_size)


def _image_occluded(network: torch.nn.Module, mask: torch.Tensor) -> torch.nn.Module:
    """The network as OcclusionSensitivity sees it: the occluded input's image channel with the
    crop's own mask channel (MONAI occludes every channel; the outline should stay)."""
    import torch

    class ImageOccluded(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network

        def forward(self, inputs):
            masks = mask.expand(len(inputs), *mask.shape[1:])
            return self.network(torch.cat([inputs[:, :1], masks], dim=1))

    # eval before MONAI's eval_mode: it restores the modes it found (train would mean dropout).
    return ImageOccluded().eval()


def occlusion_map(network: torch.nn.Module, crop: np.ndarray) -> np.ndarray:
    """(X, Y, Z) float32 for a (2, X, Y, Z) crop: the network's probability of class 1 minus its
    probability with the image occluded around each voxel (MONAI's ``OcclusionSensitivity``)."""
    import torch
    from monai.visualize import OcclusionSensitivity

    device = next(network.parameters()).device
    inputs = torch.as_tensor(np.asarray(crop, dtype=np.float32))[None].to(device)
    wrapped = _image_occluded(network, inputs[:, 1:])
    occluder = OcclusionSensitivity(
        wrapped, mask_size=mask_voxels(crop.shape[1:]), n_batch=32, verbose=False,
        mode=float(inputs[:, 0].mean()), overlap=OVERLAP,
        # A callable: MONAI's default picks sigmoid/softmax by the *input* channels (2 here).
        activate=torch.sigmoid)
    network.eval()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MONAI's list-indexing deprecation notes
        occluded, _ = occluder(inputs)
        probability = torch.sigmoid(wrapped(inputs))[0, 0]
    return (probability - occluded[0, 0]).float().cpu().numpy()


def centre_slice(mask: np.ndarray) -> int:
    """The axial (last-axis) index of the centre of the mask's bounding box; the crop's centre
    for an empty mask."""
    z = np.flatnonzero(np.asarray(mask).any(axis=(0, 1)))
    return int(round((z.min() + z.max()) / 2)) if len(z) else mask.shape[-1] // 2


def display_slice(volume: np.ndarray, k: int) -> np.ndarray:
    """The axial slice k of an RAS (X, Y, Z) volume as rows anterior to posterior and columns the
    patient's right to left (radiological convention, as the report's other lesion figures)."""
    return np.ascontiguousarray(np.flip(np.asarray(volume)[:, :, k].T, axis=(0, 1)))


def lesion_map_slices(network: torch.nn.Module, crop: np.ndarray) -> dict[str, Any]:
    """The kept arrays of one crop: ``image``, ``mask`` (uint8) and ``map`` on the centre slice."""
    volume = occlusion_map(network, crop)
    k = centre_slice(crop[1])
    return {"slice": k, "image": display_slice(crop[0], k).astype(np.float32),
            "mask": (display_slice(crop[1], k) > 0.5).astype(np.uint8),
            "map": display_slice(volume, k).astype(np.float32)}
