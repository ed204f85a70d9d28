"""Image ingest: check a lesion's image and mask (DICOM de-identified) and write working copies.

Inputs are NIfTI/NRRD files or DICOM series folders (one series per folder; DICOM-SEG and
RTSTRUCT masks are refused: convert them to NIfTI first), read by ``image_files``; DICOM headers
go through ``deidentify``. The working copies are a float32 NIfTI image on the native grid and
a uint8 NIfTI mask (1 = the lesion's label), plus one INGEST_SCHEMA row. Nothing from a source
header reaches them: only the voxels and the grid are written.

A lesion row without a mask (the image sheet's ``mask`` left empty) is ingested as its image alone:
no mask working copy, its record's ``mask_source`` is MASK_NONE_YET and its lesion columns are
null. Rule segment_lesions proposes its mask later; ``ingested_cases`` leaves such lesions out
(the models train on given masks only) unless asked for them.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.tables import read_parquet, schema_field, write_parquet
from oncoweave.imaging.defaults import MODALITIES
from oncoweave.imaging.deidentify import DEFAULT_SALT, PS315_TABLE, deidentified_header
from oncoweave.imaging.image_files import read_image, source_format, write_nifti

if TYPE_CHECKING:  # SimpleITK is imported where used: the command line starts without it
    import SimpleITK as sitk

logger = logging.getLogger(__name__)

# Grid tolerances. Spacing and origin may differ by SPACING_TOLERANCE of the image's voxel
# spacing on each axis (1e-3 voxel: far below any real misregistration, above DICOM/NIfTI
# rounding); each direction cosine may differ by DIRECTION_TOLERANCE. Sizes must be equal.
SPACING_TOLERANCE = 1e-3
DIRECTION_TOLERANCE = 1e-4

MASK_GIVEN = "given"
MASK_NONE_YET = "none yet"  # no mask in the image sheet; rule segment_lesions proposes one

INGEST_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id from the image sheet"),
    schema_field("lesion", pa.string(), "Lesion id from the image sheet (default L<label>)"),
    schema_field("modality", pa.string(), "CT, MR or PT (image sheet)"),
    schema_field("label", pa.int64(), "Mask value of the lesion in the source mask"),
    schema_field("source_format", pa.string(), "Format of the source image: dicom, nifti or nrrd"),
    schema_field("size_x", pa.int64(), "Voxels along x (native grid)"),
    schema_field("size_y", pa.int64(), "Voxels along y"),
    schema_field("size_z", pa.int64(), "Voxels along z"),
    schema_field("spacing_x", pa.float64(), "Voxel spacing along x, mm"),
    schema_field("spacing_y", pa.float64(), "Voxel spacing along y, mm"),
    schema_field("spacing_z", pa.float64(), "Voxel spacing along z, mm"),
    schema_field("mask_source", pa.string(), f"'{MASK_GIVEN}' (the image sheet's mask) or "
                 f"'{MASK_NONE_YET}' (no mask given: the segmenter proposes one)"),
    schema_field("lesion_voxels", pa.int64(), "Voxels of the lesion (mask == label); null without "
                 "a given mask", True),
    schema_field("lesion_volume_ml", pa.float64(), "Lesion volume, ml (voxels x voxel volume); "
                 "null without a given mask", True),
    schema_field("intensity_min", pa.float64(), "Lowest image value inside the lesion (CT: HU); "
                 "null without a given mask", True),
    schema_field("intensity_mean", pa.float64(), "Mean image value inside the lesion; null "
                 "without a given mask", True),
    schema_field("intensity_max", pa.float64(), "Highest image value inside the lesion; null "
                 "without a given mask", True),
    schema_field("deidentified", pa.bool_(), "True when the source image was DICOM and its headers "
                 "went through the PS3.15 Basic profile (NIfTI/NRRD metadata is dropped unread)"),
    schema_field("uid", pa.string(), "De-identified SeriesInstanceUID; null for NIfTI/NRRD", True),
    schema_field("image", pa.string(), "Written working copy: float32 NIfTI on the native grid"),
    schema_field("mask", pa.string(), "Written working copy: uint8 NIfTI, 1 = the lesion; null "
                 "without a given mask", True),
])


# --- checks ----------------------------------------------------------------------------------

def check_geometry(image: sitk.Image, mask: sitk.Image, where: str) -> None:
    """InputError (prefixed ``where``) unless the mask is on the image's grid.

    Sizes must be equal; spacing and origin within SPACING_TOLERANCE x the image spacing per
    axis; direction cosines within DIRECTION_TOLERANCE.
    """
    spacing = np.array(image.GetSpacing())
    differences = []
    if image.GetSize() != mask.GetSize():
        differences.append(f"size {_fmt(image.GetSize())} vs {_fmt(mask.GetSize())}")
    if np.any(np.abs(spacing - mask.GetSpacing()) > SPACING_TOLERANCE * spacing):
        differences.append(f"spacing {_fmt(image.GetSpacing())} vs {_fmt(mask.GetSpacing())} mm")
    if np.any(np.abs(np.subtract(image.GetOrigin(), mask.GetOrigin()))
              > SPACING_TOLERANCE * spacing):
        differences.append(f"origin {_fmt(image.GetOrigin(), ', ')} vs "
                           f"{_fmt(mask.GetOrigin(), ', ')} mm")
    if np.any(np.abs(np.subtract(image.GetDirection(), mask.GetDirection()))
              > DIRECTION_TOLERANCE):
        differences.append(f"direction {_fmt(image.GetDirection(), ', ')} vs "
                           f"{_fmt(mask.GetDirection(), ', ')}")
    if differences:
        raise InputError(f"{where}: the mask is not on the image grid (image vs mask): "
                         f"{'; '.join(differences)}; resample the mask onto the image "
                         "(nearest neighbour) or export both from the same tool")


def _fmt(values, separator: str = "x") -> str:
    text = separator.join(f"{value:.6g}" for value in values)
    return f"({text})" if separator != "x" else text


def select_label(mask: sitk.Image, label: int, where: str) -> sitk.Image:
    """uint8 mask on the same grid, 1 where ``mask == label``; InputError if empty or absent."""
    import SimpleITK as sitk

    values = sitk.GetArrayViewFromImage(mask)
    labels = np.unique(values[values != 0])
    if labels.size == 0:
        raise InputError(f"{where}: the mask is empty (no voxel is non-zero)")
    if not np.any(labels == label):
        shown = ", ".join(f"{value:g}" for value in labels[:20])
        more = f" and {labels.size - 20} more" if labels.size > 20 else ""
        raise InputError(f"{where}: label {label} is not in the mask (labels found: "
                         f"{shown}{more}); set the sheet's label column")
    binary = sitk.GetImageFromArray((values == label).astype(np.uint8))
    binary.CopyInformation(mask)
    return binary


# --- ingest ----------------------------------------------------------------------------------

def ingest_case(patient: str, lesion: str, image_path: str | Path, mask_path: str | Path | None,
                modality: str, label: int, out_image: str | Path, out_mask: str | Path,
                salt: str = DEFAULT_SALT, out_ingest: str | Path | None = None) -> dict:
    """Read, de-identify and check one lesion; write its working copies; return its record.

    Writes ``out_image`` (float32 NIfTI) and ``out_mask`` (uint8 NIfTI, label -> 1), and the
    INGEST_SCHEMA row to ``out_ingest`` when given, all or none: after any error no output
    exists. No ``mask_path`` (None or ""): the image alone, no ``out_mask``, a MASK_NONE_YET
    record. Bad input is one InputError naming the patient, lesion and files.
    """
    import SimpleITK as sitk

    where = f"patient {patient}, lesion {lesion}"
    if not mask_path:
        return _ingest_image_alone(patient, lesion, image_path, modality, label, out_image,
                                   salt, out_ingest)
    files = f"image {image_path}, mask {mask_path}"
    if modality not in MODALITIES:
        raise InputError(f"{where}: modality '{modality}' is not one of {', '.join(MODALITIES)}")
    image, kind, header = _read_image_deidentified(image_path, modality, salt, where,
                                                   f" (mask {mask_path})")
    try:
        mask = read_image(mask_path)
    except InputError as err:
        raise InputError(f"{where}: mask: {err} (image {image_path})") from None
    check_geometry(image, mask, f"{where} ({files})")
    binary = select_label(mask, label, f"{where} ({files})")
    image = sitk.Cast(image, sitk.sitkFloat32)
    record = _record(patient, lesion, modality, label, kind, image, binary, header,
                     out_image, out_mask)
    with ExitStack() as stack:
        image_temporary = stack.enter_context(replaced_on_success(out_image))
        mask_temporary = stack.enter_context(replaced_on_success(out_mask))
        write_nifti(image, image_temporary)
        write_nifti(binary, mask_temporary)
        if out_ingest is not None:
            write_ingest(record, stack.enter_context(replaced_on_success(out_ingest)), header)
    logger.info("%s: %s %s %s, spacing %s mm; lesion %d voxels (%.3f ml)", where, kind, modality,
                _fmt(image.GetSize()), _fmt(image.GetSpacing()), record["lesion_voxels"],
                record["lesion_volume_ml"])
    return record


def _read_image_deidentified(image_path, modality: str, salt: str, where: str, also: str):
    """(image, source format, de-identified DICOM header or None); InputError naming ``where``."""
    header = None
    try:
        image = read_image(image_path)
        kind = source_format(image_path)
        if kind == "dicom":
            header = deidentified_header(image_path, salt)
            _check_modality(header, modality)
    except InputError as err:
        raise InputError(f"{where}: image: {err}{also}") from None
    return image, kind, header


def _ingest_image_alone(patient: str, lesion: str, image_path, modality: str, label: int,
                        out_image, salt: str, out_ingest) -> dict:
    """A lesion row without a mask: the image's working copy and a MASK_NONE_YET record."""
    import SimpleITK as sitk

    where = f"patient {patient}, lesion {lesion}"
    if modality not in MODALITIES:
        raise InputError(f"{where}: modality '{modality}' is not one of {', '.join(MODALITIES)}")
    image, kind, header = _read_image_deidentified(image_path, modality, salt, where,
                                                   " (no mask given)")
    if image.GetDimension() != 3:
        raise InputError(f"{where}: image: a 3D image is needed to propose a mask, got "
                         f"{image.GetDimension()}D ({image_path})")
    image = sitk.Cast(image, sitk.sitkFloat32)
    size, spacing = image.GetSize(), image.GetSpacing()
    record = {
        "patient": patient, "lesion": lesion, "modality": modality, "label": int(label),
        "source_format": kind,
        "size_x": size[0], "size_y": size[1], "size_z": size[2],
        "spacing_x": spacing[0], "spacing_y": spacing[1], "spacing_z": spacing[2],
        "mask_source": MASK_NONE_YET, "lesion_voxels": None, "lesion_volume_ml": None,
        "intensity_min": None, "intensity_mean": None, "intensity_max": None,
        "deidentified": header is not None,
        "uid": header["SeriesInstanceUID"] if header is not None else None,
        "image": str(out_image), "mask": None,
    }
    with ExitStack() as stack:
        write_nifti(image, stack.enter_context(replaced_on_success(out_image)))
        if out_ingest is not None:
            write_ingest(record, stack.enter_context(replaced_on_success(out_ingest)), header)
    logger.info("%s: %s %s %s, spacing %s mm; no mask given (the segmenter proposes one)", where,
                kind, modality, _fmt(size), _fmt(spacing))
    return record


def _check_modality(header: dict, modality: str) -> None:
    found = header.get("Modality")
    if found is not None and found != modality:
        raise InputError(f"the DICOM Modality is {found} but the sheet says {modality}")


def _record(patient: str, lesion: str, modality: str, label: int, kind: str, image: sitk.Image,
            binary: sitk.Image, header: dict | None, out_image, out_mask) -> dict:
    import SimpleITK as sitk

    inside = sitk.GetArrayViewFromImage(binary).astype(bool)
    values = sitk.GetArrayViewFromImage(image)[inside].astype(np.float64)
    size, spacing = image.GetSize(), image.GetSpacing()
    return {
        "patient": patient, "lesion": lesion, "modality": modality, "label": int(label),
        "source_format": kind,
        "size_x": size[0], "size_y": size[1], "size_z": size[2],
        "spacing_x": spacing[0], "spacing_y": spacing[1], "spacing_z": spacing[2],
        "mask_source": MASK_GIVEN, "lesion_voxels": int(inside.sum()),
        "lesion_volume_ml": float(inside.sum() * np.prod(spacing) / 1000.0),
        "intensity_min": float(values.min()), "intensity_mean": float(values.mean()),
        "intensity_max": float(values.max()),
        "deidentified": header is not None,
        "uid": header["SeriesInstanceUID"] if header is not None else None,
        "image": str(out_image), "mask": str(out_mask),
    }


def provenance(header: dict | None = None) -> dict[str, str]:
    """Key-value metadata of ingest.parquet: library versions, the profile, the tolerances."""
    from importlib import metadata

    import pydicom
    import SimpleITK as sitk

    return {
        "simpleitk_version": sitk.Version_VersionString(),
        "pydicom_version": pydicom.__version__,
        "dicom_anonymizer_version": metadata.version("dicom-anonymizer"),
        "deid_profile": "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile",
        "deid_table": PS315_TABLE,
        "deid_uids": "2.25.<UUIDv5(salt, original UID)>",
        "geometry_tolerance": f"spacing/origin {SPACING_TOLERANCE} x spacing; direction "
                              f"{DIRECTION_TOLERANCE}",
        "dicom_header": json.dumps(header, sort_keys=True) if header is not None else "",
    }


def write_ingest(record: dict, path: str | Path, header: dict | None = None) -> None:
    """The one-row ingest.parquet (INGEST_SCHEMA) with ``provenance(header)``."""
    write_parquet(pd.DataFrame([record]), path, INGEST_SCHEMA, provenance(header))


def ingested_cases(records: list[str | Path], images: list[str | Path],
                   masks: list[str | Path], which: str = MASK_GIVEN) -> list[dict]:
    """The cases (patient, lesion, modality, image, mask, label 1, mask_source) of ingested
    lesions, in the order given.

    ``records``, ``images`` and ``masks`` are parallel lists of ingest.parquet files and their
    working copies; each record must name the image and mask it is paired with. ``which``:
    MASK_GIVEN (the default: what the models train on) leaves lesions ingested without a mask
    out, with a log line; MASK_NONE_YET gives those alone (mask None), for the segmenter to
    propose theirs; "all" gives both.
    """
    if which not in (MASK_GIVEN, MASK_NONE_YET, "all"):
        raise ValueError(f"which must be {MASK_GIVEN!r}, {MASK_NONE_YET!r} or 'all'")
    if not len(records) == len(images) == len(masks):
        raise InputError(f"{len(records)} ingest records but {len(images)} images and "
                         f"{len(masks)} masks")
    cases, left_out = [], []
    for record_path, image, mask in zip(records, images, masks):
        table, _ = read_parquet(record_path, INGEST_SCHEMA)
        if len(table) != 1:
            raise InputError(f"an ingest record has one row, this has {len(table)}",
                             path=record_path)
        record = table.iloc[0]
        has_mask = record["mask_source"] == MASK_GIVEN
        for column, given in (("image", image), ("mask", mask))[:2 if has_mask else 1]:
            if os.path.abspath(record[column]) != os.path.abspath(given):
                raise InputError(f"records {column} {record[column]}, not {given}",
                                 path=record_path)
        case = {"patient": str(record["patient"]), "lesion": str(record["lesion"]),
                "modality": str(record["modality"]), "image": str(image),
                "mask": str(mask) if has_mask else None, "label": 1,
                "mask_source": str(record["mask_source"])}
        if which in ("all", case["mask_source"]):
            cases.append(case)
        else:
            left_out.append(f"{case['patient']}/{case['lesion']}")
    if which == MASK_GIVEN and left_out:
        logger.info("%d lesion(s) without a given mask left out (given masks only): %s",
                    len(left_out), ", ".join(left_out))
    return cases
