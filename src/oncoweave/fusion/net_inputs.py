"""The fusion network's inputs from a feature table: checked outcomes and modality map, and
per-modality training statistics (median fill, missingness indicators, standardisation).

A modality is *present* for a patient when at least one of its columns is not NaN. Missing cells
inside a present modality are filled with the column's training median (then standardised like
the rest, with training mean and standard deviation) and, for every column that had missing
cells in training, a 0/1 missingness-indicator input is added, so that the network can tell a
filled value from a measured one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError


@dataclass
class ModalityStats:
    """Training-fold statistics of one modality's columns."""

    columns: list[str]
    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    indicator: np.ndarray  # bool per column: had missing cells in training -> indicator input

    @classmethod
    def fit(cls, values: np.ndarray, columns: list[str]) -> ModalityStats:
        """Statistics over the non-NaN cells (columns with none must be dropped beforehand)."""
        with np.errstate(invalid="ignore"):
            scale = np.nanstd(values, axis=0)
        present = ~np.isnan(values).all(axis=1)
        return cls(columns=list(columns), median=np.nanmedian(values, axis=0),
                   mean=np.nanmean(values, axis=0),
                   scale=np.where(scale > 0, scale, 1.0),  # a constant column stays 0
                   indicator=np.isnan(values[present]).any(axis=0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardised values, missing cells at the standardised median, then the indicators."""
        missing = np.isnan(values)
        filled = np.where(missing, self.median, values)
        standardised = (filled - self.mean) / self.scale
        return np.concatenate([standardised, missing[:, self.indicator].astype(float)], axis=1)

    @property
    def n_inputs(self) -> int:
        return len(self.columns) + int(self.indicator.sum())

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "median": self.median.tolist(),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "indicator_columns": [column for column, flag
                                      in zip(self.columns, self.indicator) if flag]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModalityStats:
        flagged = set(data["indicator_columns"])
        return cls(columns=list(data["columns"]),
                   median=np.asarray(data["median"], dtype=float),
                   mean=np.asarray(data["mean"], dtype=float),
                   scale=np.asarray(data["scale"], dtype=float),
                   indicator=np.array([column in flagged for column in data["columns"]],
                                      dtype=bool))


def numeric_matrix(X: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """``X[columns]`` as float64 with NaN for missing; names the first non-numeric column."""
    missing = [column for column in columns if column not in X.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)"
                                          if len(missing) > 5 else "")
        raise InputError(f"feature table lacks column(s) {shown} of the modality map")
    try:
        return X[list(columns)].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        for column in columns:
            try:
                X[column].to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError):
                raise InputError("features must be numeric (or missing)",
                                 column=column) from None
        raise


def check_modality_map(modality_map: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    if not modality_map:
        raise InputError("the modality map is empty")
    checked, owner = {}, {}
    for name, columns in modality_map.items():
        columns = [str(column) for column in columns]
        if not columns:
            raise InputError(f"modality {name!r} has no columns")
        for column in columns:
            if column in owner:
                raise InputError(f"column {column!r} is in modalities {owner[column]!r} and "
                                 f"{name!r}; each column belongs to one modality")
            owner[column] = name
        checked[str(name)] = columns
    return checked


def check_outcomes(patients: pd.Index, time: Sequence[float], event: Sequence[float],
                   response: Sequence[float] | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """float arrays; NaN time or event = no follow-up (both NaN then). Errors name the first
    offending patient by the feature table's index."""
    n = len(patients)

    def as_array(values, name: str) -> np.ndarray:
        try:
            array = pd.to_numeric(pd.Series(values), errors="raise").to_numpy(
                dtype="float64", na_value=np.nan)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be numeric (or missing)") from None
        if len(array) != n:
            raise InputError(f"{name} has {len(array)} values for {n} patients")
        return array

    time, event = as_array(time, "time"), as_array(event, "event")
    unknown = np.isnan(time) | np.isnan(event)
    time, event = np.where(unknown, np.nan, time), np.where(unknown, np.nan, event)
    bad = ~unknown & ((time < 0) | np.isinf(time))
    if bad.any():
        raise InputError(f"patient {patients[np.argmax(bad)]}: time must be finite and >= 0, "
                         f"got {time[bad][0]:g}")
    bad = ~unknown & ~np.isin(event, (0.0, 1.0))
    if bad.any():
        raise InputError(f"patient {patients[np.argmax(bad)]}: event must be 1 (observed) or 0 "
                         f"(censored), got {event[bad][0]:g}")
    if np.nansum(event) < 1:
        raise InputError("the training data has no observed event: the Cox loss needs one")
    if response is None:
        return time, event, None
    response = as_array(response, "response")
    bad = np.isfinite(response) & ~np.isin(response, (0.0, 1.0))
    if bad.any():
        raise InputError(f"patient {patients[np.argmax(bad)]}: response must be 1, 0 or "
                         f"missing, got {response[bad][0]:g}")
    return time, event, response
