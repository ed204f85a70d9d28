"""The ICB response model's tables: reading and validating a feature table (for training or
scoring), and the schema of its predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import schema_field
from oncoweave.therapy.icb_candidates import (
    CANCER_TYPE,
    ID_COLUMNS,
    INTEGER_CODED,
    OUTCOME,
    VALID_RANGES,
)

ICB_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id (patient, else SAMPLE_ID, of the input)"),
    schema_field("response_probability", pa.float64(),
                 "Calibrated probability of response to ICB; null when not available", True),
    schema_field("low", pa.float64(),
                 "Lower end of the bootstrap interval (model card: uncertainty)", True),
    schema_field("high", pa.float64(), "Upper end of the bootstrap interval", True),
    schema_field("model", pa.string(), "Model name and oncoweave version that scored the patient"),
    schema_field("missing_features", pa.string(),
                 "Comma-separated model features missing from the input; '' if none"),
    schema_field("imputed_features", pa.string(),
                 "Comma-separated features scored with their training median (model card: "
                 "imputation_values); '' if none or not scored"),
    schema_field("cancer_type_used", pa.string(),
                 "Cancer-type level scored: a training type, or 'other' (the pan-cancer "
                 "reference level) for any other type or none; null when not scored", True),
    schema_field("cancer_type_flag", pa.string(),
                 "Why the 'other' level was used; null for a training type or when not scored",
                 True),
    schema_field("reason", pa.string(), "Why no probability was given; null when one was", True),
])


# ---------------------------------------------------------------------------------------------
# Input parsing: one clear error for bad values, NaN for missing ones.

def parse_features(table: pd.DataFrame, features: tuple[str, ...],
                   path: str | Path | None = None) -> pd.DataFrame:
    """The model features of ``table`` (absent columns become all-missing), validated.

    Numbers are parsed and range-checked; a non-numeric or implausible value is an InputError
    naming the line (header = line 1) and column. Missing values stay NaN / None.
    """
    parsed = pd.DataFrame(index=table.index)
    for name in features:
        column = table[name] if name in table.columns else pd.Series(None, index=table.index,
                                                                     dtype=object)
        parsed[name] = (_parse_cancer_type(column) if name == CANCER_TYPE
                        else _parse_numeric(column, name, path))
    return parsed


def _text_or_none(value: object) -> str | None:
    """The stripped text of a cell; None for a missing or blank one."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None


def _parse_cancer_type(column: pd.Series) -> pd.Series:
    return pd.Series([_text_or_none(value) for value in column], index=column.index,
                     dtype=object)


def _parse_numeric(column: pd.Series, name: str, path: str | Path | None) -> pd.Series:
    text = pd.Series([_text_or_none(value) for value in column], index=column.index,
                     dtype=object)
    numbers = pd.to_numeric(text, errors="coerce").astype(float)
    unreadable = numbers.isna() & text.notna()
    if unreadable.any():
        _raise_at(unreadable, f"not a number: {text[unreadable].iloc[0]!r}", name, path)
    low, high, unit = VALID_RANGES.get(name, (0.0, 1.0, ""))
    binary = name not in VALID_RANGES
    fractional = numbers.notna() & (numbers % 1 != 0)
    outside = (numbers < low) | (numbers > high) | (fractional if binary else False)
    if outside.any():
        expected = ("is not 0 or 1" if binary
                    else f"is outside {low:g}-{high:g}{' ' + unit if unit else ''}")
        _raise_at(outside, f"{numbers[outside].iloc[0]:g} {expected}", name, path)
    if name in INTEGER_CODED and fractional.any():
        _raise_at(fractional, f"{numbers[fractional].iloc[0]:g} is not a whole code",
                  name, path)
    return numbers


def _raise_at(bad: pd.Series, message: str, name: str, path: str | Path | None) -> None:
    """InputError at the first ``bad`` row, as a file line (the header is line 1)."""
    position = int(np.flatnonzero(bad.to_numpy())[0])
    raise InputError(message, path=path, row=position + 2, column=name)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (or .tsv) as text, empty cells as missing; unreadable files are an InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError("table not found", path=path)
    try:
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read table ({err})", path=path) from None


def training_data(table: pd.DataFrame, features: tuple[str, ...],
                  path: str | Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """(features, 0/1 outcome) of a training table; every row must be complete."""
    absent = [name for name in (*features, OUTCOME) if name not in table.columns]
    if absent:
        raise InputError(f"training table lacks column(s) {', '.join(absent)}", path=path)
    X = parse_features(table, features, path)
    outcome = _parse_numeric(table[OUTCOME], OUTCOME, path)
    for name, column in (*X.items(), (OUTCOME, outcome)):
        if column.isna().any():
            _raise_at(column.isna(), "missing value (training needs complete rows)",
                      name, path)
    if outcome.nunique() < 2:
        raise InputError(f"{OUTCOME} has one class only", path=path, column=OUTCOME)
    return X, outcome.to_numpy(dtype=int)


def patient_ids(features: pd.DataFrame, path: str | Path | None) -> np.ndarray:
    """The patient id of each row (the first of ID_COLUMNS present); none may be missing."""
    id_column = next((name for name in ID_COLUMNS if name in features.columns), None)
    if id_column is None:
        raise InputError(f"no patient id column ({' or '.join(ID_COLUMNS)})", path=path)
    ids = features[id_column]
    if ids.isna().any():
        _raise_at(ids.isna(), "missing patient id", id_column, path)
    return ids.astype(str).to_numpy()
