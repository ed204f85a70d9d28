"""Image ingest: read a lesion's image and mask, de-identify DICOM, check the grids, write copies.

Inputs are NIfTI/NRRD files or DICOM series folders (one series per folder; DICOM-SEG and
RTSTRUCT masks are refused: convert them to NIfTI first). The working copies are a float32 NIfTI
image on the native grid and a uint8 NIfTI mask (1 = the lesion's label), plus one INGEST_SCHEMA
row. Nothing from a source header reaches them: voxels and geometry are copied onto fresh images
(SimpleITK metadata dictionaries are dropped, NRRD key/values included) and the written NIfTI's
``descrip``/``aux_file``/``intent_name`` are checked to be empty.

DICOM headers go through the DICOM PS3.15 Annex E Basic Application Level Confidentiality
Profile as tabulated by dicom-anonymizer (table PS315_TABLE, the newest it ships): names, IDs,
dates, times, institution, physicians, free-text descriptions and private tags are removed or
blanked. The package replaces UIDs with random ones per process; here every UID replacement is
deterministic instead, "2.25." + the integer of a name-based UUID (RFC 4122 v5) of the salt and
the original UID, so the same salt maps a UID to the same new UID in every file and every run
(and a different salt to another). Only a whitelist of technical attributes of the de-identified
header is kept (``deidentified_header``). Images flagged BurnedInAnnotation YES are refused:
their pixels would carry PHI that no header profile removes.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import uuid
from contextlib import ExitStack
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pydicom
import SimpleITK as sitk
from dicomanonymizer import simpledicomanonymizer as anonymizer
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID_dictionary

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.tables import read_parquet, schema_field, write_parquet

logger = logging.getLogger(__name__)

PS315_TABLE = "dicomfields_2026c"  # newest PS3.15 Table E.1-1 transcription in dicom-anonymizer
DEFAULT_SALT = "oncoweave-ps3.15-uid-salt-v1"  # public: set a secret salt for a real cohort
MODALITIES = ("CT", "MR", "PT")
FILE_FORMATS = {".nii": "nifti", ".nii.gz": "nifti", ".nrrd": "nrrd"}

# Grid tolerances. Spacing and origin may differ by SPACING_TOLERANCE of the image's voxel
# spacing on each axis (1e-3 voxel: far below any real misregistration, above DICOM/NIfTI
# rounding); each direction cosine may differ by DIRECTION_TOLERANCE. Sizes must be equal.
SPACING_TOLERANCE = 1e-3
DIRECTION_TOLERANCE = 1e-4

# Mask objects that are not an image series: refused with a conversion hint.
UNSUPPORTED_DICOM = {"SEG": "1.2.840.10008.5.1.4.1.1.66.4",
                     "RTSTRUCT": "1.2.840.10008.5.1.4.1.1.481.3"}

# Technical attributes kept after de-identification. The Basic profile retains all of them
# (Manufacturer/ManufacturerModelName name the vendor, not the site; StationName and
# DeviceSerialNumber, which do identify a site, are removed by the profile and not kept here).
HEADER_WHITELIST = ("Modality", "Manufacturer", "ManufacturerModelName", "SliceThickness",
                    "PixelSpacing", "KVP", "ConvolutionKernel", "RescaleSlope",
                    "RescaleIntercept", "RescaleType", "Units", "SeriesInstanceUID")

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
    schema_field("lesion_voxels", pa.int64(), "Voxels of the lesion (mask == label)"),
    schema_field("lesion_volume_ml", pa.float64(), "Lesion volume, ml (voxels x voxel volume)"),
    schema_field("intensity_min", pa.float64(), "Lowest image value inside the lesion (CT: HU)"),
    schema_field("intensity_mean", pa.float64(), "Mean image value inside the lesion"),
    schema_field("intensity_max", pa.float64(), "Highest image value inside the lesion"),
    schema_field("deidentified", pa.bool_(), "True when the source image was DICOM and its headers "
                 "went through the PS3.15 Basic profile (NIfTI/NRRD metadata is dropped unread)"),
    schema_field("uid", pa.string(), "De-identified SeriesInstanceUID; null for NIfTI/NRRD", True),
    schema_field("image", pa.string(), "Written working copy: float32 NIfTI on the native grid"),
    schema_field("mask", pa.string(), "Written working copy: uint8 NIfTI, 1 = the lesion"),
])


# --- reading ---------------------------------------------------------------------------------

def source_format(path: str | Path) -> str:
    """dicom (a folder), nifti or nrrd, from the path's form; InputError for anything else."""
    path = Path(path)
    if path.is_dir():
        return "dicom"
    name = path.name.lower()
    for suffix, kind in FILE_FORMATS.items():
        if name.endswith(suffix):
            return kind
    unsupported = _unsupported_dicom_kind(path) if path.is_file() else None
    if unsupported is not None:
        raise InputError(_unsupported_message(unsupported), path=path)
    raise InputError("not an image: give a .nii, .nii.gz or .nrrd file or a DICOM series folder",
                     path=path)


def read_image(path: str | Path) -> sitk.Image:
    """A 3-D scalar image from a NIfTI/NRRD file or a one-series DICOM folder, metadata-free.

    DICOM pixels come with the rescale applied (CT: HU). Missing or unreadable input is an
    InputError naming the file or folder.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("not found", path=path)
    if source_format(path) == "dicom":
        reader = sitk.ImageSeriesReader()
        # Float output: slices may carry different rescale slopes (PET), which an integer
        # output type chosen from the first slice would truncate.
        reader.SetOutputPixelType(sitk.sitkFloat32)
        reader.SetFileNames([str(name) for name in dicom_series_files(path)])
        image = _execute(reader.Execute, path)
    else:
        image = _execute(lambda: sitk.ReadImage(str(path)), path)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"need a 3-D single-component volume, got {image.GetDimension()}-D with "
                         f"{image.GetNumberOfComponentsPerPixel()} component(s)", path=path)
    return pixels_only(image)


def _execute(read: Callable[[], sitk.Image], path: Path) -> sitk.Image:
    try:
        return read()
    except RuntimeError as err:
        # SimpleITK's message ends with the reason after "sitk::ERROR:"; the rest is C++ location.
        reason = str(err).strip().splitlines()[-1].split("sitk::ERROR:")[-1].strip()
        raise InputError(f"cannot read image ({reason})", path=path) from None


def pixels_only(image: sitk.Image) -> sitk.Image:
    """The voxels and grid of ``image`` on a fresh image: no metadata dictionary comes along."""
    clean = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(image))
    clean.CopyInformation(image)  # origin, spacing, direction only
    for key in clean.GetMetaDataKeys():
        clean.EraseMetaData(key)
    return clean


def dicom_series_files(folder: str | Path) -> list[Path]:
    """The files of the one DICOM image series in ``folder``, in slice order (GDCM's).

    A SEG/RTSTRUCT object, no series or several series is an InputError naming the folder.
    """
    folder = Path(folder)
    files = [path for path in sorted(folder.iterdir()) if path.is_file()]
    for path in files:
        kind = _unsupported_dicom_kind(path)
        if kind is not None:
            raise InputError(f"{path.name}: {_unsupported_message(kind)}", path=folder)
    # GDCM warns on stderr about an empty folder; no files means no series anyway.
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) if files else ()
    if len(series) != 1:
        raise InputError(f"a DICOM folder must hold exactly one image series, found "
                         f"{len(series)}" + (" (put each series in its own folder)"
                                             if series else ""), path=folder)
    return [Path(name) for name in
            sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])]


def _unsupported_dicom_kind(path: Path) -> str | None:
    """SEG or RTSTRUCT when ``path`` is such a DICOM object; None otherwise (also non-DICOM)."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True,
                                 specific_tags=["Modality", "SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError, TypeError, EOFError):
        return None
    for kind, sop_class in UNSUPPORTED_DICOM.items():
        if header.get("Modality") == kind or header.get("SOPClassUID") == sop_class:
            return kind
    return None


def _unsupported_message(kind: str) -> str:
    return (f"DICOM {kind} is not supported; convert it to a NIfTI labelmap on the image grid "
            "(e.g. dcmqi segimage2itkimage for SEG, plastimatch convert for RTSTRUCT)")


# --- de-identification -----------------------------------------------------------------------

def deidentified_uid(uid: str, salt: str) -> str:
    """The replacement of ``uid``: "2.25." + a UUIDv5 of (salt, uid); same salt, same result.

    Registered UIDs (SOP classes, transfer syntaxes) identify no one and are kept.
    """
    uid = str(uid)
    if not uid or uid in UID_dictionary:
        return uid
    # pydicom's generate_uid(prefix=None) ignores entropy_srcs (it returns a random UUID), so
    # the name-based UUID is built here; 2.25.<UUID integer> is the ISO/IEC 9834-8 form.
    namespace = uuid.uuid5(uuid.NAMESPACE_OID, f"oncoweave-deid|{salt}")
    return f"2.25.{uuid.uuid5(namespace, uid).int}"


def deidentify_dataset(ds: pydicom.Dataset, salt: str = DEFAULT_SALT) -> pydicom.Dataset:
    """Apply the PS3.15 Basic profile (PS315_TABLE) to ``ds`` in place and return it.

    Private tags are removed and every UID replacement is ``deidentified_uid``. A dataset
    flagged BurnedInAnnotation YES is refused (InputError): its pixels may show PHI.
    """
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        raise InputError("BurnedInAnnotation is YES: the pixel data may show patient details, "
                         "which header de-identification cannot remove; not ingested")
    anonymizer.anonymize_dataset(ds, _salted_rules(salt), delete_private_tags=True,
                                 base_rules_gen=_base_rules)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"PS3.15 Basic Profile ({PS315_TABLE}); salted UIDs"
    return ds


def _base_rules() -> dict:
    # A fresh dict each call: anonymize_dataset updates the one it gets with the extra rules.
    return dict(_profile_rules())


@functools.cache
def _profile_rules() -> dict:
    return anonymizer.initialize_actions(PS315_TABLE)


@functools.lru_cache(maxsize=8)
def _salted_rules(salt: str) -> dict:
    """Every base rule that may write a UID, redone with deterministic UIDs.

    U and X/Z/U* are the UID actions; D, Z/D, X/D and X/Z/D map to the package's ``replace``,
    which also gives UI elements (and UIDs nested in a replaced sequence) random UIDs.
    """
    replacing = (anonymizer.replace, anonymizer.empty_or_replace, anonymizer.delete_or_replace,
                 anonymizer.delete_or_empty_or_replace)

    def on_element(handle: Callable[[pydicom.DataElement], None]):
        def action(dataset, tag):
            element = dataset.get(tag)
            if element is not None:
                handle(element)
        return action

    replace_uid = on_element(lambda element: _salt_uids(element, salt))
    # D: the package's dummy of the VR; U*: blank. Both keep (salted) UIDs at any depth.
    replace_salted = on_element(
        lambda element: _salt_nested(element, salt, anonymizer.replace_element))
    delete_or_empty_or_replace_uid = on_element(
        lambda element: _salt_nested(element, salt, anonymizer.empty_element))

    rules = {}
    for tag, action in _base_rules().items():
        if action is anonymizer.replace_UID:
            rules[tag] = replace_uid
        elif action is anonymizer.delete_or_empty_or_replace_UID:
            rules[tag] = delete_or_empty_or_replace_uid
        elif action in replacing:
            rules[tag] = replace_salted
    return rules


def _salt_uids(element: pydicom.DataElement, salt: str) -> None:
    if element.VM > 1:
        element.value = [deidentified_uid(value, salt) for value in element.value]
    elif element.value:
        element.value = deidentified_uid(element.value, salt)


def _salt_nested(element: pydicom.DataElement, salt: str,
                 other: Callable[[pydicom.DataElement], None]) -> None:
    """Salt the UIDs of ``element`` and of sequences in it at any depth; ``other`` gets every
    other element."""
    if element.VR == "UI":
        _salt_uids(element, salt)
    elif element.VR == "SQ":
        for item in element.value:
            for sub_element in item:  # iterating a Dataset converts raw elements
                _salt_nested(sub_element, salt, other)
    else:
        other(element)


def deidentified_header(folder: str | Path, salt: str = DEFAULT_SALT) -> dict:
    """HEADER_WHITELIST of the de-identified series in ``folder`` as JSON-able values.

    Every slice is de-identified (so a BurnedInAnnotation YES on any slice is refused) and must
    map to one new SeriesInstanceUID; values are the first slice's (None where absent).
    """
    folder = Path(folder)
    headers = []
    for path in dicom_series_files(folder):
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError) as err:
            raise InputError(f"cannot read DICOM header of {path.name} ({err})", path=folder) \
                from None
        try:
            headers.append(deidentify_dataset(dataset, salt))
        except InputError as err:
            raise InputError(f"{path.name}: {err}", path=folder) from None
    logger.debug("%s: %d slice headers de-identified (%s)", folder, len(headers), PS315_TABLE)
    series_uids = {str(header.get("SeriesInstanceUID", "")) for header in headers}
    if len(series_uids) != 1:
        raise InputError(f"slices map to {len(series_uids)} SeriesInstanceUIDs", path=folder)
    return {keyword: _json_value(headers[0].get(keyword)) for keyword in HEADER_WHITELIST}


def _json_value(value):
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        return [_json_value(item) for item in value]
    if isinstance(value, (pydicom.valuerep.DSfloat, pydicom.valuerep.DSdecimal, float)):
        return float(value)
    if isinstance(value, (pydicom.valuerep.IS, int)):
        return int(value)
    return str(value)


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

def ingest_case(patient: str, lesion: str, image_path: str | Path, mask_path: str | Path,
                modality: str, label: int, out_image: str | Path, out_mask: str | Path,
                salt: str = DEFAULT_SALT, out_ingest: str | Path | None = None) -> dict:
    """Read, de-identify and check one lesion; write its working copies; return its record.

    Writes ``out_image`` (float32 NIfTI) and ``out_mask`` (uint8 NIfTI, label -> 1), and the
    INGEST_SCHEMA row to ``out_ingest`` when given, all or none: after any error no output
    exists. Bad input is one InputError naming the patient, lesion and files.
    """
    where = f"patient {patient}, lesion {lesion}"
    files = f"image {image_path}, mask {mask_path}"
    if modality not in MODALITIES:
        raise InputError(f"{where}: modality '{modality}' is not one of {', '.join(MODALITIES)}")
    header = None
    try:
        image = read_image(image_path)
        kind = source_format(image_path)
        if kind == "dicom":
            header = deidentified_header(image_path, salt)
            _check_modality(header, modality)
    except InputError as err:
        raise InputError(f"{where}: image: {err} (mask {mask_path})") from None
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


def _check_modality(header: dict, modality: str) -> None:
    found = header.get("Modality")
    if found is not None and found != modality:
        raise InputError(f"the DICOM Modality is {found} but the sheet says {modality}")


def _record(patient: str, lesion: str, modality: str, label: int, kind: str, image: sitk.Image,
            binary: sitk.Image, header: dict | None, out_image, out_mask) -> dict:
    inside = sitk.GetArrayViewFromImage(binary).astype(bool)
    values = sitk.GetArrayViewFromImage(image)[inside].astype(np.float64)
    size, spacing = image.GetSize(), image.GetSpacing()
    return {
        "patient": patient, "lesion": lesion, "modality": modality, "label": int(label),
        "source_format": kind,
        "size_x": size[0], "size_y": size[1], "size_z": size[2],
        "spacing_x": spacing[0], "spacing_y": spacing[1], "spacing_z": spacing[2],
        "lesion_voxels": int(inside.sum()),
        "lesion_volume_ml": float(inside.sum() * np.prod(spacing) / 1000.0),
        "intensity_min": float(values.min()), "intensity_mean": float(values.mean()),
        "intensity_max": float(values.max()),
        "deidentified": header is not None,
        "uid": header["SeriesInstanceUID"] if header is not None else None,
        "image": str(out_image), "mask": str(out_mask),
    }


NIFTI_TEXT_FIELDS = ("descrip", "aux_file", "intent_name")


def write_nifti(image: sitk.Image, path: str | Path) -> None:
    """Write ``image`` as NIfTI with no metadata; check its free-text header fields are empty."""
    sitk.WriteImage(pixels_only(image), str(path), useCompression=True)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    filled = [key for key in NIFTI_TEXT_FIELDS
              if reader.HasMetaDataKey(key) and reader.GetMetaData(key).strip()]
    if filled:  # a SimpleITK change would have to cause this, never the input
        raise RuntimeError(f"NIfTI header text field(s) {', '.join(filled)} not empty in {path}")


def provenance(header: dict | None = None) -> dict[str, str]:
    """Key-value metadata of ingest.parquet: library versions, the profile, the tolerances."""
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
                   masks: list[str | Path]) -> list[dict]:
    """The cases (patient, lesion, modality, image, mask, label 1) of ingested lesions.

    ``records``, ``images`` and ``masks`` are parallel lists of ingest.parquet files and their
    working copies; each record must name the image and mask it is paired with.
    """
    if not len(records) == len(images) == len(masks):
        raise InputError(f"{len(records)} ingest records but {len(images)} images and "
                         f"{len(masks)} masks")
    cases = []
    for record_path, image, mask in zip(records, images, masks):
        table, _ = read_parquet(record_path, INGEST_SCHEMA)
        if len(table) != 1:
            raise InputError(f"an ingest record has one row, this has {len(table)}",
                             path=record_path)
        record = table.iloc[0]
        for column, given in (("image", image), ("mask", mask)):
            if os.path.abspath(record[column]) != os.path.abspath(given):
                raise InputError(f"records {column} {record[column]}, not {given}",
                                 path=record_path)
        cases.append({"patient": str(record["patient"]), "lesion": str(record["lesion"]),
                      "modality": str(record["modality"]), "image": str(image),
                      "mask": str(mask), "label": 1})
    return cases


# --- command line ----------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ingest-image", help="de-identify and check a lesion's image and mask; write NIfTI copies")
    parser.add_argument("--patient", required=True)
    parser.add_argument("--lesion", help="lesion id (default L<label>)")
    parser.add_argument("--image", required=True, help=".nii/.nii.gz/.nrrd or DICOM series folder")
    parser.add_argument("--mask", required=True, help="same forms; DICOM-SEG/RTSTRUCT unsupported")
    parser.add_argument("--modality", required=True, choices=MODALITIES)
    parser.add_argument("--label", type=int, default=1, help="mask value of the lesion (default 1)")
    parser.add_argument("--output-dir", required=True,
                        help="gets image.nii.gz, mask.nii.gz and ingest.parquet")
    parser.add_argument("--salt", default=DEFAULT_SALT,
                        help="salt of the deterministic UID replacement (set a secret one)")
    parser.set_defaults(func=_cmd_ingest_image)


def _cmd_ingest_image(args: argparse.Namespace) -> int:
    out = Path(args.output_dir)
    record = ingest_case(args.patient, args.lesion or f"L{args.label}", args.image, args.mask,
                         args.modality, args.label, out / "image.nii.gz", out / "mask.nii.gz",
                         args.salt, out_ingest=out / "ingest.parquet")
    print(f"{out}: {record['patient']} {record['lesion']} {record['source_format']} "
          f"{record['modality']}, lesion {record['lesion_voxels']} voxels "
          f"({record['lesion_volume_ml']:.2f} ml)")
    return 0
