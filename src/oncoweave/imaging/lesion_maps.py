"""Occlusion-sensitivity maps of the lesion CNN, one per classified lesion, for the patient report.

Each lesion's map comes from the fold model that held the lesion out (the model that gave its
out-of-fold probability, first repeat), computed in the cross-validation loop while that model is in
memory: the fold models are not kept. The map is MONAI's ``OcclusionSensitivity``: a cube of
``MASK_VOXELS``^3 (a quarter of the crop's field: 24 mm at the default 4 mm voxels) slides over the
crop with ``OVERLAP`` overlap; inside it the image channel is replaced by the crop's mean image value
(a neutral grey) while the mask channel is left as it was, so the map says what image content
mattered, not where the outline is. The map value of a voxel is the out-of-fold probability minus
the mean probability with the cubes that cover it occluded: positive (warm) where hiding the image
lowers the predicted probability, negative where it raises it. About 0.1 s per lesion on one CPU
thread at 24^3.

What is kept per lesion: the axial slice through the lesion's centre (the centre of its bounding
box in the crop) of the crop's image channel, of its mask and of the map, as 2D arrays in display
orientation (rows anterior to posterior, columns the patient's right to left: radiological), in
``<patient>/<lesion>.npz`` under the maps folder, with ``index.parquet`` (``MAPS_SCHEMA``) naming
them. A not-fitted classifier leaves an empty index whose metadata carry its reason. This module
imports torch and MONAI only inside ``occlusion_map``: the report reads the maps with numpy alone.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, schema_field, write_parquet

if TYPE_CHECKING:
    import torch

INDEX_FILE = "index.parquet"
METHOD = "occlusion sensitivity (monai.visualize.OcclusionSensitivity)"
MODEL = "the fold model that held the lesion out (first repeat)"
MASK_FRACTION = 4  # the occluding cube's side is the crop's side / 4 (24 mm of the 96 mm field)
OVERLAP = 0.5
READING_GUIDE = "warm = regions whose occlusion lowers the predicted probability most"

MAPS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("lesion", pa.string(), "Lesion id"),
    schema_field("modality", pa.string(), "CT, MR or PT"),
    schema_field("fold", pa.int16(), "Cross-validation fold (0-based, first repeat) whose model "
                 "held the lesion out and made its map"),
    schema_field("probability", pa.float64(), "Out-of-fold probability of class 1 (as in "
                 "lesion_classifier_predictions.parquet)"),
    schema_field("slice", pa.int16(), "Axial index (0-based) of the crop slice kept: the centre "
                 "of the lesion's bounding box in the crop"),
    schema_field("method", pa.string(), "How the map was made"),
    schema_field("map_max", pa.float64(), "Largest drop in probability on the slice"),
    schema_field("file", pa.string(), "The slice's arrays (image, mask, map), relative to the "
                 "maps folder"),
])


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


def write_lesion_maps(directory: str | Path, rows: Sequence[Mapping[str, Any]],
                      metadata: Mapping[str, str]) -> None:
    """Replace ``directory`` with the maps: ``rows`` (patient, lesion, modality, fold, probability
    and the ``lesion_map_slices`` arrays) as npz files and their index; no rows: an empty index
    (``metadata`` then says why)."""
    from oncoweave.core.io import directory_replaced_on_success

    with directory_replaced_on_success(directory) as temporary:
        index = []
        for row in rows:
            file = f"{row['patient']}/{row['lesion']}.npz"  # as the ingested working copies
            (temporary / row["patient"]).mkdir(exist_ok=True)
            np.savez_compressed(temporary / file, image=row["image"], mask=row["mask"],
                                map=row["map"])
            index.append({"patient": row["patient"], "lesion": row["lesion"],
                          "modality": row["modality"], "fold": int(row["fold"]),
                          "probability": float(row["probability"]), "slice": int(row["slice"]),
                          "method": METHOD, "map_max": float(np.max(row["map"])),
                          "file": file})
        write_parquet(pd.DataFrame(index, columns=MAPS_SCHEMA.names), temporary / INDEX_FILE,
                      MAPS_SCHEMA, {"model": MODEL, "reading_guide": READING_GUIDE,
                                    "overlap": str(OVERLAP), **metadata})


def read_lesion_maps(directory: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """The maps' index and its metadata (``not_fitted`` says why a table is empty)."""
    return read_parquet(Path(directory) / INDEX_FILE, MAPS_SCHEMA)


def read_map_arrays(directory: str | Path, file: str) -> dict[str, np.ndarray]:
    """One lesion's image, mask and map slices; InputError naming the file when unreadable."""
    path = Path(directory) / file
    if os.path.isabs(file) or ".." in Path(file).parts:
        raise InputError("a map file must lie inside the maps folder", path=path)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            values = {name: arrays[name] for name in ("image", "mask", "map")}
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"cannot read the lesion map ({err})", path=path) from None
    if not (values["image"].shape == values["mask"].shape == values["map"].shape
            and values["map"].ndim == 2):
        raise InputError("the lesion map's image, mask and map slices differ in shape", path=path)
    return values
