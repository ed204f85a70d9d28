"""The lesion CNN's occlusion maps as files (``lesion_maps`` makes them): a folder of
``<patient>/<lesion>.npz`` (the crop's centre axial slice of the image, the mask and the map, 2D,
radiological orientation) and ``index.parquet`` (``MAPS_SCHEMA``) naming them. numpy, pandas and
pyarrow only: the patient report reads them without torch or MONAI."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.core.tables import read_parquet, schema_field, write_parquet

INDEX_FILE = "index.parquet"
METHOD = "occlusion sensitivity (monai.visualize.OcclusionSensitivity)"
MODEL = "the fold model that held the lesion out (first repeat)"
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


def write_lesion_maps(directory: str | Path, rows: Sequence[Mapping[str, Any]],
                      metadata: Mapping[str, str]) -> None:
    """Replace ``directory`` with the maps: ``rows`` (patient, lesion, modality, fold, probability
    and the ``lesion_map_slices`` arrays) as npz files and their index; no rows: an empty index
    (``metadata`` then says why)."""
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
                                    **metadata})


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
