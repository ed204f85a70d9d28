"""Modalities of a feature table: which columns belong to which modality, and the numeric
(one-hot encoded) feature matrix the models are fitted on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.tables import parse_key_values
from oncoweave.fusion.feature_table import MODALITY_PREFIXES

# By default modalities are the patient feature table's column groups; columns matching none
# join the "clinical" group.
REST_MODALITY = "clinical"
ALL = "all"  # the model over every modality (early fusion)


class ModalityMap(Mapping):
    """Modality name -> its feature columns (a column belongs to one modality at most)."""

    def __init__(self, groups: Mapping[str, Sequence[str]]):
        self._groups = {str(name): tuple(columns) for name, columns in groups.items() if columns}
        owners: dict[str, str] = {}
        for name, columns in self._groups.items():
            for column in columns:
                if column in owners:
                    raise ValueError(f"column {column} is in modalities {owners[column]} and "
                                     f"{name}")
                owners[column] = name

    @classmethod
    def from_affixes(cls, columns: Sequence[str], affixes: Mapping[str, str] = MODALITY_PREFIXES,
                     rest: str = REST_MODALITY) -> "ModalityMap":
        """Group columns by prefix or suffix (a column starting or ending with a modality's
        affix belongs to it; the first matching modality wins); unmatched columns go to
        ``rest``."""
        groups: dict[str, list[str]] = {name: [] for name in affixes}
        groups.setdefault(rest, [])
        for column in columns:
            name = next((name for name, affix in affixes.items()
                         if column.startswith(affix) or column.endswith(affix)), rest)
            groups[name].append(column)
        return cls(groups)

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return self._groups[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def __repr__(self) -> str:
        return "ModalityMap(" + ", ".join(f"{n}: {len(c)} columns"
                                          for n, c in self._groups.items()) + ")"

    def columns(self, names: Sequence[str] | None = None) -> list[str]:
        """The columns of ``names`` (default: every modality), in map order."""
        return [c for name in (names if names is not None else self) for c in self[name]]

    def subset(self, names: Sequence[str]) -> "ModalityMap":
        return ModalityMap({name: self[name] for name in names})

    def expanded(self, encoded: Mapping[str, Sequence[str]]) -> "ModalityMap":
        """The map after one-hot encoding: each column replaced by its encoded columns."""
        return ModalityMap({name: [e for c in columns for e in encoded.get(c, [c])]
                            for name, columns in self._groups.items()})


def parse_affixes(specs: Sequence[str]) -> dict[str, str]:
    """['rna=_rnaseq', 'cnv=_cnv'] -> {'rna': '_rnaseq', 'cnv': '_cnv'}."""
    for spec in specs:
        name, _, affix = spec.partition("=")
        if not name or not affix:  # an empty affix would match every column
            raise InputError(f"--modality must be NAME=SUFFIX_OR_PREFIX, got {spec!r}")
    return parse_key_values(list(specs), "--modality")


def encode_features(table: pd.DataFrame, columns: Sequence[str]
                    ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Float feature matrix: numeric and boolean columns as they are, other columns one-hot
    encoded as ``<column>=<value>``. A missing category stays missing in every indicator.

    Returns (features, {source column: its indicator columns} for the encoded ones).
    """
    parts, encoded = [], {}
    for column in columns:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            parts.append(values.astype(float).rename(column))
            continue
        dummies = pd.get_dummies(values.astype("string"), prefix=column, prefix_sep="=",
                                 dtype=float)
        dummies[values.isna().to_numpy()] = np.nan
        encoded[column] = list(dummies.columns)
        parts.append(dummies)
    if not parts:
        return pd.DataFrame(index=table.index), encoded
    features = pd.concat(parts, axis=1)
    # One float block instead of one per column: the models select columns and rows of it
    # thousands of times, and pandas takes from every block each time.
    return pd.DataFrame(features.to_numpy(dtype=float), index=features.index,
                        columns=features.columns), encoded
