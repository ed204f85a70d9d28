"""Radiomics: pyradiomics features per lesion, in tables that carry the parameters they used.

``extract_features`` runs ``radiomics.featureextractor.RadiomicsFeatureExtractor`` with a
pyradiomics parameter file (config/radiomics.yaml by default) on one image + mask and keeps the
feature values under pyradiomics' own names (``original_firstorder_Mean``,
``log-sigma-1-0-mm-3D_glcm_Contrast`` ...). ``radiomics_table`` does it for a list of cases (dicts
with patient, lesion, modality, image, mask[, label]); ``write_radiomics`` writes the table with
the parameter file's text and sha256 and the library versions in its metadata, and
``merge_radiomics`` refuses to put tables made with different parameters into one cohort table.

The checks against pyradiomics' and IBSI's reference values and the benchmark are in
``radiomics_checks``; the cross-validated outcome model on these tables in ``radiomics_model``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, require_columns, schema_field, write_parquet

if TYPE_CHECKING:  # pyradiomics and SimpleITK are imported where used (the CLI starts without)
    import SimpleITK as sitk
    from radiomics.featureextractor import RadiomicsFeatureExtractor

log = logging.getLogger(__name__)

RADIOMICS_ID_FIELDS = (
    schema_field("patient", pa.string(), "Patient id from the image sheet"),
    schema_field("lesion", pa.string(), "Lesion id (image sheet; default L<label>)"),
    schema_field("modality", pa.string(), "Imaging modality: CT, MR or PT"),
)
ID_COLUMNS = tuple(field.name for field in RADIOMICS_ID_FIELDS)
# Which mask a lesion's features were measured on: the image sheet's, or the segmenter's proposal
# (rule segment_lesions) for a row that gives none. Not a feature: feature_columns leaves it out.
MASK_SOURCE = "mask_source"
MASK_SOURCES = ("given", "proposed")
MASK_SOURCE_FIELD = schema_field(MASK_SOURCE, pa.string(), "Mask the features were measured on: "
                                 "'given' (the image sheet's) or 'proposed' (by the lesion "
                                 "segmenter, rule segment_lesions, for a row that gives none)")

FEATURE_CLASS_DESCRIPTIONS = {
    "shape": "3D shape of the lesion mask",
    "shape2D": "2D shape of the lesion mask",
    "firstorder": "first-order statistic of the lesion's voxel intensities",
    "glcm": "grey-level co-occurrence matrix (GLCM) texture",
    "glrlm": "grey-level run-length matrix (GLRLM) texture",
    "glszm": "grey-level size-zone matrix (GLSZM) texture",
    "gldm": "grey-level dependence matrix (GLDM; IBSI NGLDM) texture",
    "ngtdm": "neighbouring grey-tone difference matrix (NGTDM) texture",
}


@functools.cache
def _pyradiomics() -> ModuleType:
    """The ``radiomics`` module, imported on first use with its logging routed.

    pyradiomics prints INFO+ to stderr through its own handler: silence that handler, keep
    WARNING+ and let the records propagate to the root logger (the rule's log, when there is one).
    The handler itself stays attached: pyradiomics hands it to pykwalify when a params file
    fails validation.
    """
    import radiomics

    radiomics.setVerbosity(logging.CRITICAL + 10)
    logging.getLogger("radiomics").setLevel(logging.WARNING)
    return radiomics


# ---------------------------------------------------------------------------------------------
# Extraction.

def read_params(params_path: str | Path) -> tuple[str, dict]:
    """(text, parsed mapping) of a pyradiomics params file; InputError naming it if unreadable."""
    import yaml

    path = Path(params_path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError("pyradiomics params file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read pyradiomics params file ({err})", path=path) from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML ({' '.join(str(err).split())})", path=path) from None
    if not isinstance(params, dict):
        raise InputError("a pyradiomics params file is a mapping with setting / imageType / "
                         "featureClass sections", path=path)
    return text, params


def make_extractor(params_path: str | Path) -> RadiomicsFeatureExtractor:
    """A RadiomicsFeatureExtractor configured by ``params_path`` (validated by pyradiomics)."""
    _pyradiomics()
    from pykwalify.errors import PyKwalifyException
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    _, params = read_params(params_path)
    try:
        with warnings.catch_warnings():
            # pykwalify loads pyradiomics' schema extension through a deprecated importlib call.
            warnings.filterwarnings("ignore", "the load_module", DeprecationWarning)
            return RadiomicsFeatureExtractor(params)
    except (PyKwalifyException, ValueError, TypeError, KeyError) as err:
        raise InputError(f"not a valid pyradiomics params file ({_validation_message(err)})",
                         path=params_path) from None


def _validation_message(err: Exception) -> str:
    # pykwalify lists each failure on a " - ..." line inside a wrapper text.
    problems = [line.strip()[2:] for line in str(err).splitlines()
                if line.strip().startswith("- ")]
    return "; ".join(problems) or str(err).splitlines()[0]


def read_image(path: str | Path, what: str = "image") -> sitk.Image:
    """A NIfTI/NRRD (any SimpleITK-readable file) as a SimpleITK image; InputError naming it."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        raise InputError(f"the {what} is a folder (a DICOM series?); radiomics reads NIfTI/NRRD "
                         "files, which the workflow's ingest_images step writes", path=path)
    if not path.exists():
        raise InputError(f"{what} file not found", path=path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1].replace("sitk::ERROR: ", "")
        raise InputError(f"cannot read the {what} ({reason})", path=path) from None


def check_mask_label(mask: sitk.Image, mask_path: str | Path, label: int) -> None:
    """InputError unless ``label`` marks at least one voxel of ``mask``."""
    import SimpleITK as sitk

    array = sitk.GetArrayViewFromImage(mask)
    if (array == label).any():
        return
    values = np.unique(array)  # only on failure: a full sort of a CT-sized mask takes ~0.5 s
    labels = values[values != 0]
    if labels.size == 0:
        raise InputError("the mask is empty (no voxel is labelled)", path=mask_path)
    present = ", ".join(f"{value:g}" for value in labels[:10])
    raise InputError(f"label {label} is absent from the mask (labels present: {present})",
                     path=mask_path)


def extract_features(image_path: str | Path, mask_path: str | Path, params_path: str | Path,
                     label: int = 1) -> dict[str, float]:
    """pyradiomics feature values of the ``label`` region, by pyradiomics' feature names.

    Diagnostics (``diagnostics_*``) are left out. An unreadable file, an empty mask, a label the
    mask lacks or an image/mask pair pyradiomics refuses (e.g. geometry mismatch) raise
    InputError naming the files.
    """
    extractor = make_extractor(params_path)
    image = read_image(image_path, "image")
    mask = read_image(mask_path, "mask")
    check_mask_label(mask, mask_path, label)
    return _features(extractor, image, mask, label, image_path, mask_path)


def _features(extractor: RadiomicsFeatureExtractor, image: sitk.Image, mask: sitk.Image,
              label: int, image_path: str | Path, mask_path: str | Path) -> dict[str, float]:
    try:
        result = extractor.execute(image, mask, label=label)
    except (ValueError, RuntimeError) as err:
        # pyradiomics' checkMask: geometry mismatch, ROI outside the image, single voxel, ...
        reason = " ".join(str(err).split())
        raise InputError(f"pyradiomics refused image {image_path} with mask {mask_path}: "
                         f"{reason}") from None
    return {name: float(value) for name, value in result.items()
            if not name.startswith("diagnostics_")}


# ---------------------------------------------------------------------------------------------
# The radiomics table.

def radiomics_schema(feature_names: Sequence[str]) -> pa.Schema:
    """patient, lesion, modality, mask_source, then one float64 column per feature in extraction
    order."""
    fields = [*RADIOMICS_ID_FIELDS, MASK_SOURCE_FIELD]
    fields += [schema_field(name, pa.float64(), feature_description(name), nullable=True)
               for name in feature_names]
    return pa.schema(fields)


def feature_description(name: str) -> str:
    """'glcm Contrast: grey-level co-occurrence matrix (GLCM) texture, on the unfiltered image'."""
    parts = name.split("_", 2)
    if len(parts) != 3:
        return f"pyradiomics feature {name}"
    image_type, feature_class, feature = parts
    what = FEATURE_CLASS_DESCRIPTIONS.get(feature_class, f"pyradiomics {feature_class} feature")
    return f"{feature_class} {feature}: {what}, on the {_image_type_description(image_type)}"


def _image_type_description(image_type: str) -> str:
    if image_type == "original":
        return "unfiltered image"
    sigma = re.fullmatch(r"log-sigma-(\d+)-(\d+)-mm-3D", image_type)
    if sigma:
        return f"Laplacian-of-Gaussian filtered image (sigma {sigma[1]}.{sigma[2]} mm)"
    if image_type.startswith("wavelet-"):
        return f"wavelet decomposition {image_type.split('-', 1)[1]}"
    return f"{image_type} filtered image"


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The feature columns of a radiomics table (all but the id columns and mask_source), in
    order."""
    return [str(column) for column in df.columns if column not in (*ID_COLUMNS, MASK_SOURCE)]


def radiomics_table(cases: Iterable[Mapping], params_path: str | Path) -> pd.DataFrame:
    """One row per case (patient, lesion, modality, image, mask[, label, mask_source]): ids, the
    mask's source ('given' unless the case says 'proposed'), then features.

    A proposed mask pyradiomics refuses (e.g. a single voxel) leaves its lesion out with a
    warning naming it and why; on a given mask that is an InputError, as before.
    """
    cases = list(cases)
    rows: list[dict] = []
    names: list[str] | None = None
    for number, case in enumerate(cases, start=1):
        missing = [key for key in ("patient", "modality", "image", "mask") if not case.get(key)]
        if missing:
            raise InputError(f"radiomics case {number} lacks {', '.join(missing)}")
        label = int(case.get("label") or 1)
        lesion = str(case.get("lesion") or f"L{label}")
        source = str(case.get(MASK_SOURCE) or "given")
        if source not in MASK_SOURCES:
            raise InputError(f"radiomics case {number}: mask_source '{source}' is not one of "
                             f"{', '.join(MASK_SOURCES)}")
        log.info("radiomics %d/%d: patient %s lesion %s (%s mask)", number, len(cases),
                 case["patient"], lesion, source)
        try:
            features = extract_features(case["image"], case["mask"], params_path, label=label)
        except InputError as err:
            if source != "proposed":
                raise
            log.warning("patient %s lesion %s: no radiomics on its proposed mask (%s)",
                        case["patient"], lesion, err)
            continue
        if names is None:
            names = list(features)
        elif list(features) != names:
            raise InputError(f"pyradiomics gave other features than for the first case "
                             f"({len(features)} vs {len(names)})", path=case["image"])
        rows.append({"patient": str(case["patient"]), "lesion": lesion,
                     "modality": str(case["modality"]), MASK_SOURCE: source, **features})
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, MASK_SOURCE, *(names or [])])


def radiomics_metadata(params_path: str | Path) -> dict[str, str]:
    """Provenance stored in a radiomics Parquet: the params file and the library versions."""
    import SimpleITK as sitk

    text, _ = read_params(params_path)
    return {
        "radiomics_params_file": Path(params_path).name,
        "radiomics_params_yaml": text,
        "radiomics_params_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "pyradiomics_version": _pyradiomics().__version__,
        "simpleitk_version": sitk.Version.VersionString(),
        "numpy_version": np.__version__,
    }


def write_radiomics(df: pd.DataFrame, path: str | Path, params_path: str | Path) -> pa.Table:
    """Write a radiomics table (schema from its feature columns) atomically, with provenance."""
    return write_parquet(df, path, radiomics_schema(feature_columns(df)),
                         radiomics_metadata(params_path))


def read_radiomics(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """(table, metadata) of a radiomics Parquet, checking it has the id and float columns."""
    df, metadata = read_parquet(path)
    require_columns(df, ID_COLUMNS, path)
    not_float = [name for name in feature_columns(df)
                 if not pd.api.types.is_float_dtype(df[name])]
    if not_float or "radiomics_params_sha256" not in metadata:
        raise InputError("not a radiomics table written by oncoweave (" + (
            f"non-float column(s) {', '.join(not_float[:3])}" if not_float
            else "no radiomics_params_sha256 in its metadata") + ")", path=path)
    return df, metadata


def merge_radiomics(paths: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate per-patient radiomics tables into ``out``; all must come from one params file.

    A table whose feature columns or params sha256 differ from the first table's is refused with
    an InputError naming it (its features are not comparable). (patient, lesion) must be unique.
    """
    if not paths:
        raise InputError("no radiomics tables to merge")
    read = [(path, *read_radiomics(path)) for path in paths]
    # A shard whose lesions all lack a mask (none given, none proposed) has no rows and no
    # feature columns: it is not compared, and adds nothing.
    with_rows = [entry for entry in read if len(entry[1])] or read[:1]
    first_path, first, first_metadata = with_rows[0]
    names = feature_columns(first)
    tables = [first]
    for path, df, metadata in with_rows[1:]:
        _check_same_features(feature_columns(df), names, path, first_path)
        if metadata["radiomics_params_sha256"] != first_metadata["radiomics_params_sha256"]:
            raise InputError(f"extracted with other pyradiomics params than {first_path} (params "
                             f"sha256 {metadata['radiomics_params_sha256'][:12]} vs "
                             f"{first_metadata['radiomics_params_sha256'][:12]}); re-extract "
                             "the cohort with one params file", path=path)
        tables.append(df)
    # Shards hold patients in hash order: the cohort table is by patient, lesions in sheet order.
    merged = pd.concat(tables, ignore_index=True).sort_values("patient", kind="stable",
                                                              ignore_index=True)
    duplicated = merged.duplicated(list(ID_COLUMNS[:2]))
    if duplicated.any():
        patient, lesion = merged.loc[duplicated.idxmax(), ["patient", "lesion"]]
        raise InputError(f"patient {patient} lesion {lesion} is in more than one table")
    metadata = {key: value for key, value in first_metadata.items()
                if key.startswith(("radiomics_", "pyradiomics_", "simpleitk_", "numpy_"))}
    write_parquet(merged, out, radiomics_schema(names), metadata)
    return merged


def _check_same_features(found: list[str], expected: list[str], path, first_path) -> None:
    if found == expected:
        return
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    detail = "; ".join(part for part in (
        f"lacks {len(missing)} (e.g. {missing[0]})" if missing else "",
        f"has {len(extra)} others (e.g. {extra[0]})" if extra else "",
        "same features in another order" if not missing and not extra else "") if part)
    raise InputError(f"feature columns differ from {first_path}'s ({detail}): extracted with "
                     "different pyradiomics params; re-extract the cohort with one params file",
                     path=path)


def read_case_sheet(path: str | Path) -> list[dict]:
    """Cases of a radiomics batch sheet (TSV: patient, image, mask, modality[, lesion, label]).

    Relative image/mask paths are read from the working directory, as in the workflow's sheets.
    """
    # core.sheets validates with jsonschema and snakemake: only the batch sheet needs them.
    from oncoweave.core.sheets import read_sheet, sheet_error

    df = read_sheet(path)
    require_columns(df, ("patient", "image", "mask", "modality"), path)
    cases = []
    for row, record in enumerate(df.to_dict("records"), start=1):
        for column in ("patient", "image", "mask", "modality"):
            if not record[column]:
                raise sheet_error(path, row, "empty", column=column)
        label = record.get("label") or "1"
        if not label.isdigit() or int(label) < 1:
            raise sheet_error(path, row, f"label '{label}' is not a positive integer",
                              column="label")
        for column in ("image", "mask"):
            if not Path(record[column]).exists():
                raise sheet_error(path, row, f"file not found: {record[column]}", column=column)
        cases.append({"patient": record["patient"], "lesion": record.get("lesion") or f"L{label}",
                      "modality": record["modality"], "image": record["image"],
                      "mask": record["mask"], "label": int(label)})
    return cases

