"""Cohort sheets (samples, images, clinical): read, validate with their JSON schemas, cross-check.

The workflow calls these at parse time, so a bad sheet stops the run before any job with one
message naming the file, the 1-based data row (and its line in the file) and the column.
Loaded sheets are DataFrames of ``str`` columns (an empty cell is ``""``) holding every schema
column in schema order, then any extra columns the schema allows.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Collection, Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from oncoweave.core.clinical_codes import CHECKED_COLUMNS, cell_problem
from oncoweave.core.errors import InputError
from oncoweave.core.input_forms import read_input_problem

if TYPE_CHECKING:
    from snakemake.exceptions import WorkflowError

# jsonschema, yaml and snakemake are imported where a sheet is validated: the steps that only
# read a sheet (read_sheet, sheet_error) do not pay for them.

READ_INPUT_COLUMNS = ("fastq1", "fastq2", "bam", "vcf")
IMAGE_FILE_COLUMNS = ("image", "mask")
IMAGE_FILE_SUFFIXES = (".nii", ".nii.gz", ".nrrd")


def sheet_error(sheet_path: str | Path, row: int, message: str,
                column: str | None = None) -> InputError:
    """InputError for a data row: '<file>: row 3 (line 4): column 'type': <message>'.

    Rows count data rows from 1; the line (header = line 1) is given too so editors find it.
    """
    where = f"row {row} (line {row + 1})"
    if column is not None:
        where += f": column '{column}'"
    error = InputError(f"{where}: {message}", path=str(sheet_path))
    error.row, error.column = row, column
    return error


def header_error(sheet_path: str | Path, message: str, column: str | None = None) -> InputError:
    """InputError for the header line: '<file>: line 1 (header): <message>'."""
    error = InputError(f"line 1 (header): {message}", path=str(sheet_path))
    error.column = column
    return error


def read_sheet(path: str | Path) -> pd.DataFrame:
    """Read a tab-separated sheet as str cells (stripped; empty -> ""), refusing ragged rows."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except FileNotFoundError:
        raise InputError("file not found", path=str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read it ({err.strerror})", path=str(path)) from None
    except UnicodeDecodeError as err:
        raise InputError(f"not a UTF-8 text file ({err.reason})", path=str(path)) from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()  # editors often leave blank lines at the end
    if not rows:
        return pd.DataFrame()
    header = [cell.strip() for cell in rows[0]]
    _check_header_names(header, path)
    for row_number, cells in enumerate(rows[1:], start=1):
        if len(cells) != len(header):
            what = "is blank" if not any(cells) else f"has {len(cells)} fields"
            raise sheet_error(path, row_number,
                              f"{what} but the header has {len(header)} (tab-separated)")
    data = [[cell.strip() for cell in cells] for cells in rows[1:]]
    return pd.DataFrame(data, columns=header, dtype=str)


def _check_header_names(header: list[str], path: str | Path) -> None:
    seen = set()
    for name in header:
        if not name:
            raise header_error(path, "a column has no name")
        if name in seen:
            raise header_error(path, f"column '{name}' appears twice", column=name)
        seen.add(name)


def validate_sheet_with_schema(df: pd.DataFrame, schema_path: str | Path,
                               sheet_path: str | Path) -> pd.DataFrame:
    """Validate each row of a str sheet with snakemake.utils.validate; return it with defaults.

    Empty cells count as absent; cells of number/integer columns are parsed first so that the
    schema judges values, not strings. The returned frame holds every schema column.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = _load_schema(schema_path)
    properties = schema.get("properties", {})
    _check_columns_against_schema(df, schema, sheet_path)
    typed = _typed_for_validation(df, properties)
    try:
        validate(typed, str(schema_path), set_default=False)
    except WorkflowError as err:
        raise _schema_error(err, sheet_path) from None
    return _with_schema_columns(df, properties)


def _load_schema(schema_path: str | Path) -> dict:
    import yaml

    with open(schema_path) as handle:
        return yaml.safe_load(handle)


def _check_columns_against_schema(df: pd.DataFrame, schema: dict,
                                  sheet_path: str | Path) -> None:
    """Header problems are reported once for the header, not for whichever row shows them first."""
    properties = schema.get("properties", {})
    if schema.get("additionalProperties", True) is False:
        unknown = [name for name in df.columns if name not in properties]
        if unknown:
            raise header_error(sheet_path, f"unknown column '{unknown[0]}'; allowed columns: "
                               f"{', '.join(properties)}", column=unknown[0])
    missing = [name for name in schema.get("required", []) if name not in df.columns]
    if missing:
        raise header_error(sheet_path, f"required column '{missing[0]}' is missing",
                           column=missing[0])


def _typed_for_validation(df: pd.DataFrame, properties: dict) -> pd.DataFrame:
    typed = df.astype(object).where(df != "", None)
    for name, spec in properties.items():
        if name in typed.columns and spec.get("type") in ("number", "integer"):
            typed[name] = typed[name].map(_parse_number)
    return typed


def _parse_number(cell: str | None) -> int | float | str | None:
    """A number where the cell holds one; otherwise the cell, for the schema to reject by name."""
    if cell is None:
        return None
    for parse in (int, float):
        try:
            value = parse(cell)
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return cell


def _schema_error(err: WorkflowError, sheet_path: str | Path) -> InputError:
    """Turn snakemake's 'Error validating row i' (0-based) + jsonschema error into a row error."""
    import jsonschema

    cause = err.__context__
    match = re.search(r"validating row (\d+)", str(err))
    if not isinstance(cause, jsonschema.ValidationError) or match is None:
        return InputError(f"does not match its schema: {err}", path=str(sheet_path))
    row = int(match.group(1)) + 1
    if cause.validator == "required":
        column = next(name for name in cause.validator_value if name not in cause.instance)
        return sheet_error(sheet_path, row, "is empty but required", column=column)
    column = str(cause.path[0]) if cause.path else None
    message = cause.message
    if cause.validator == "type" and isinstance(cause.instance, str):
        message += " (leave the cell empty for a missing value)"
    return sheet_error(sheet_path, row, message, column=column)


def _with_schema_columns(df: pd.DataFrame, properties: dict) -> pd.DataFrame:
    """Add absent schema columns, fill schema defaults into empty cells, order columns."""
    df = df.copy()
    for name, spec in properties.items():
        if name not in df.columns:
            df[name] = ""
        if "default" in spec:
            df[name] = df[name].replace("", str(spec["default"]))
    extras = [name for name in df.columns if name not in properties]
    return df[list(properties) + extras].astype(str)


def load_samples(path: str | Path, schema_path: str | Path,
                 generated: Collection[str] = frozenset(), maf: str | Path | None = None,
                 maf_barcodes: Collection[str] = ()) -> pd.DataFrame:
    """Load and check the sample sheet, with a tumour row per barcode of a MAF it does not name.

    ``generated`` lists paths the workflow itself produces (toy-cohort reads), which need not
    exist yet. Paths in the sheet are relative to the working directory. ``maf_barcodes``: the
    Tumor_Sample_Barcodes of the configured MAF (``maf``); a sheet row whose sample is one of
    them and that gives no file is that MAF tumour (with the row's patient id and purity); every
    other barcode becomes a patient of its own (patient = sample = barcode). With a MAF the sheet
    may be header-only.
    """
    df = read_sheet(path)
    if df.empty and not maf_barcodes:
        raise InputError("lists no samples (a header and one row per sample are needed)",
                         path=str(path))
    df = validate_sheet_with_schema(df, schema_path, path)
    barcodes = frozenset(maf_barcodes)
    for row, record in enumerate(df.to_dict("records"), start=1):
        _check_one_read_input(record, row, path, barcodes)
    _check_unique(df, "sample", path)
    _check_patients(df, path)
    _check_files_exist(df, READ_INPUT_COLUMNS, path, generated)
    _check_read_input_forms(df, path)
    return _with_maf_tumours(df, path, maf, maf_barcodes) if maf_barcodes else df


def maf_samples(samples: pd.DataFrame) -> frozenset[str]:
    """The samples of a loaded sample sheet whose calls come from the MAF (no file of their own)."""
    no_file = (samples[list(READ_INPUT_COLUMNS)] == "").all(axis=1)
    return frozenset(samples.loc[no_file, "sample"])


def _with_maf_tumours(df: pd.DataFrame, path: str | Path, maf: str | Path | None,
                      barcodes: Collection[str]) -> pd.DataFrame:
    """The sheet plus a tumour row for each MAF barcode it does not name; MAF patients alone."""
    named = maf_samples(df)
    rows_of_patient = df["patient"].value_counts()
    for row, (patient, sample) in enumerate(zip(df["patient"], df["sample"]), start=1):
        if sample in named and rows_of_patient[patient] > 1:
            raise sheet_error(path, row, f"patient '{patient}' has its tumour '{sample}' in the "
                              f"MAF {maf} and other rows too; a MAF patient is its tumour row "
                              "alone (the MAF's calls are already somatic)", column="patient")
    id_pattern = re.compile(r"[A-Za-z0-9._-]+")
    taken = set(df["patient"]) | set(df["sample"])
    added = []
    for barcode in barcodes:
        if barcode in named:
            continue
        if not id_pattern.fullmatch(barcode):
            raise InputError(f"Tumor_Sample_Barcode '{barcode}' cannot be a patient id (letters, "
                             "digits, '.', '_' and '-' only): name it in the sample sheet "
                             f"{path} with a patient id", path=str(maf))
        if barcode in taken:
            raise InputError(f"Tumor_Sample_Barcode '{barcode}' is also a patient or sample of "
                             f"the sample sheet {path} that gives its own file; rename one",
                             path=str(maf))
        added.append(barcode)
    extra = pd.DataFrame({column: "" for column in df.columns}, index=range(len(added)))
    extra["patient"] = extra["sample"] = added
    extra["type"] = "tumour"
    return pd.concat([df, extra], ignore_index=True)


def load_images(path: str | Path | None, schema_path: str | Path,
                generated: Collection[str] = frozenset()) -> pd.DataFrame:
    """Load and check the image sheet; no path (config key empty/missing) gives an empty sheet.

    An empty ``lesion`` becomes "L<label>"; (patient, lesion) must be unique, and each image and
    given mask must be a NIfTI/NRRD file or a (DICOM series) folder. The image is required; the
    mask may be empty (the workflow's segmenter proposes one, rule segment_lesions).
    """
    df = _load_optional_sheet(path, schema_path)
    df["lesion"] = [lesion or f"L{label}" for lesion, label in zip(df["lesion"], df["label"])]
    _check_unique_lesions(df, path)
    _check_files_exist(df, IMAGE_FILE_COLUMNS, path, generated)
    _check_image_forms(df, path, generated)
    return df


def _check_unique_lesions(df: pd.DataFrame, path: str | Path | None) -> None:
    repeat = _first_repeat(zip(df["patient"], df["lesion"]))
    if repeat:
        row, first, (patient, lesion) = repeat
        raise sheet_error(path, row, f"patient '{patient}' lesion '{lesion}' repeats row {first} "
                          f"(line {first + 1}); give each lesion of a patient its own id in the "
                          "'lesion' column", column="lesion")


def _check_image_forms(df: pd.DataFrame, path: str | Path | None,
                       generated: Collection[str]) -> None:
    will_exist = {os.path.normpath(p) for p in generated}
    for row, record in enumerate(df.to_dict("records"), start=1):
        for column in IMAGE_FILE_COLUMNS:
            file_path = record[column]
            if not file_path:  # an empty mask: none given (the schema requires the image)
                continue
            if os.path.isdir(file_path) or os.path.normpath(file_path) in will_exist:
                continue
            if not file_path.lower().endswith(IMAGE_FILE_SUFFIXES):
                raise sheet_error(path, row, f"'{file_path}' is neither a DICOM series folder nor "
                                  f"a {', '.join(IMAGE_FILE_SUFFIXES)} file", column=column)


def load_clinical(path: str | Path | None, schema_path: str | Path) -> pd.DataFrame:
    """Load and check the clinical table (one row per patient); no path gives an empty table.

    The coded cells (stage, sex, os_event, response) are read as the patient features read them
    (oncoweave.core.clinical_codes): a cell they cannot read is an error naming row and column.
    """
    df = _load_optional_sheet(path, schema_path)
    _check_unique(df, "patient", path)
    _check_clinical_codes(df, path)
    return df


def _check_clinical_codes(df: pd.DataFrame, path: str | Path | None) -> None:
    columns = [name for name in CHECKED_COLUMNS if name in df.columns]
    for row, record in enumerate(df[columns].to_dict("records"), start=1):
        for column in columns:
            problem = cell_problem(column, record[column])
            if problem is not None:
                raise sheet_error(path, row, problem, column=column)


def check_known_patients(df: pd.DataFrame, path: str | Path | None, patients: Collection[str],
                         samples_path: str | Path) -> None:
    """Every ``patient`` of a loaded image or clinical sheet is a patient of the sample sheet
    (``patients``); the first that is not is an error naming its row."""
    known = set(patients)
    for row, patient in enumerate(df["patient"], start=1):
        if patient not in known:
            raise sheet_error(path, row, f"'{patient}' is not in the sample sheet {samples_path}",
                              column="patient")


def _load_optional_sheet(path: str | Path | None, schema_path: str | Path) -> pd.DataFrame:
    df = read_sheet(path) if path else pd.DataFrame()
    if df.columns.empty:  # no sheet configured, or an empty file
        return _with_schema_columns(df, _load_schema(schema_path).get("properties", {}))
    return validate_sheet_with_schema(df, schema_path, path)


def _check_one_read_input(record: dict[str, str], row: int, path: str | Path,
                          maf_barcodes: Collection[str] = frozenset()) -> None:
    """Each sample gives its data as exactly one of fastq1+fastq2, bam, vcf, or is a tumour of
    the configured MAF and gives none."""
    if bool(record["fastq1"]) != bool(record["fastq2"]):
        absent = "fastq2" if record["fastq1"] else "fastq1"
        raise sheet_error(path, row, "is empty but the other mate is given (paired reads "
                          "need fastq1 and fastq2)", column=absent)
    given = [name for name, present in (("fastq1+fastq2", record["fastq1"]),
                                        ("bam", record["bam"]), ("vcf", record["vcf"]))
             if present]
    in_maf = record["sample"] in maf_barcodes
    if in_maf and given:
        raise sheet_error(path, row, f"sample '{record['sample']}' is a Tumor_Sample_Barcode of "
                          f"the MAF and gives {' and '.join(given)} too; give one source of calls")
    if in_maf and record["type"] != "tumour":
        raise sheet_error(path, row, f"sample '{record['sample']}' is a Tumor_Sample_Barcode of "
                          "the MAF: its type must be tumour", column="type")
    if len(given) != 1 and not in_maf:
        found = " and ".join(given) if given else "none"
        maf_hint = " (or name a Tumor_Sample_Barcode of the MAF)" if maf_barcodes else ""
        raise sheet_error(path, row, f"sample '{record['sample']}' gives {found}; give exactly "
                          f"one of fastq1+fastq2, bam or vcf{maf_hint}")


def _first_repeat(keys: Iterable[Hashable]) -> tuple[int, int, Hashable] | None:
    """(row, row it repeats, key) of the first key seen before (rows count from 1), or None."""
    first_row: dict[Hashable, int] = {}
    for row, key in enumerate(keys, start=1):
        if key in first_row:
            return row, first_row[key], key
        first_row[key] = row
    return None


def _check_unique(df: pd.DataFrame, column: str, path: str | Path) -> None:
    repeat = _first_repeat(df[column])
    if repeat:
        row, first, value = repeat
        raise sheet_error(path, row, f"'{value}' repeats row {first} (line {first + 1}); "
                          f"{column} ids must be unique", column=column)


def _check_patients(df: pd.DataFrame, path: str | Path) -> None:
    """At most one normal per patient, at least one tumour, and a paired VCF named on both rows.

    One pass over plain records: a pandas group per patient cost ~3 ms, minutes for a large cohort.
    """
    tumours: dict[str, list[dict]] = {}
    normals: dict[str, list[dict]] = {}
    for row, record in enumerate(df[["patient", "type", "vcf"]].to_dict("records"), start=1):
        kind = tumours if record["type"] == "tumour" else normals
        kind.setdefault(record["patient"], []).append({**record, "row": row})
    for patient in dict.fromkeys(df["patient"]):  # sheet order: the first bad patient is named
        patient_normals, patient_tumours = normals.get(patient, []), tumours.get(patient, [])
        if len(patient_normals) > 1:
            first, second = (r["row"] for r in patient_normals[:2])
            raise sheet_error(path, second, f"patient '{patient}' has a second normal "
                              f"(the first is row {first}); give one normal per patient",
                              column="type")
        if not patient_tumours:
            raise sheet_error(path, patient_normals[0]["row"], f"patient '{patient}' has a "
                              "normal but no tumour row", column="type")
        if len(patient_tumours) > 1:
            # Calls, identity and tables are per patient: a second tumour would need its own pair.
            first, second = (r["row"] for r in patient_tumours[:2])
            raise sheet_error(path, second, f"patient '{patient}' has a second tumour (the first "
                              f"is row {first}); one tumour sample per patient is supported: give "
                              "the second tumour its own patient id", column="type")
        if patient_normals:
            _check_paired_vcf(patient_tumours, patient_normals[0], path)


def _check_paired_vcf(tumours: list[dict], normal: dict, path: str | Path) -> None:
    for tumour in tumours:
        if (tumour["vcf"] or normal["vcf"]) and tumour["vcf"] != normal["vcf"]:
            tumour_gives = f"VCF '{tumour['vcf']}'" if tumour["vcf"] else "reads"
            normal_gives = f"VCF '{normal['vcf']}'" if normal["vcf"] else "reads"
            raise sheet_error(path, tumour["row"], f"tumour gives {tumour_gives} but its normal "
                              f"(row {normal['row']}) gives {normal_gives}; a paired VCF is "
                              "named on both rows with the same path", column="vcf")


def _check_read_input_forms(df: pd.DataFrame, path: str | Path) -> None:
    """Each given read input is a file of its column's kind (by its first bytes), and the two
    mates are two files. Paths the workflow will write (the toy cohort's reads) are not there
    yet and are skipped."""
    for row, record in enumerate(df[list(READ_INPUT_COLUMNS)].to_dict("records"), start=1):
        if record["fastq1"] and os.path.normpath(record["fastq1"]) == os.path.normpath(
                record["fastq2"]):
            raise sheet_error(path, row, f"is the same file as fastq1 ({record['fastq1']}); give "
                              "the second mate's file", column="fastq2")
        for column in READ_INPUT_COLUMNS:
            file_path = record[column]
            if file_path and os.path.exists(file_path):
                problem = read_input_problem(file_path, column)
                if problem:
                    raise sheet_error(path, row, problem, column=column)


def _check_files_exist(df: pd.DataFrame, columns: tuple[str, ...], path: str | Path | None,
                       generated: Collection[str]) -> None:
    will_exist = {os.path.normpath(p) for p in generated}
    for row, record in enumerate(df.to_dict("records"), start=1):
        for column in columns:
            file_path = record[column]
            if file_path and not (os.path.exists(file_path)
                                  or os.path.normpath(file_path) in will_exist):
                raise sheet_error(path, row, f"file not found: {file_path} (relative paths are "
                                  f"read from the working directory {os.getcwd()})",
                                  column=column)
