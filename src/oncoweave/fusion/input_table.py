"""The table `oncoweave fusion` reads: a CSV or Parquet of features and outcome, checked (errors
name the file, row and column) and made one numeric row per patient with its modality map."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.fusion.feature_table import MODALITY_PREFIXES
from oncoweave.fusion.modalities import REST_MODALITY, ModalityMap, encode_features

log = logging.getLogger(__name__)


@dataclass
class PreparedTable:
    table: pd.DataFrame  # indexed by id: features plus the outcome column(s)
    modality_map: ModalityMap
    encoded: dict[str, list[str]]  # one-hot encoded source column -> its indicators
    outcome: dict[str, str]  # {"time", "event"} or {"response"} -> column in ``table``
    dropped_rows: int  # rows without an outcome


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (optionally gzipped) or Parquet table."""
    path = Path(path)
    if not path.exists():
        raise InputError("table not found", path=path)
    if path.suffix == ".parquet":
        return read_parquet(path)[0]
    try:
        return pd.read_csv(path, low_memory=False)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read table ({err})", path=path) from None


def _file_row(path: Path, index: int) -> int:
    """The row a user finds a record at: the CSV line (header is line 1), or the Parquet row."""
    return index + 1 if path.suffix == ".parquet" else index + 2


def _cell(value) -> str:
    """A cell as the user wrote it: text quoted, numbers plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _numeric_column(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna() | ~np.isfinite(values.fillna(0))
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"not a number: {_cell(df[column].iloc[index])}", path=path,
                         row=_file_row(path, index), column=column)
    return values


def _binary_column(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = _numeric_column(df, column, path)
    bad = values.notna() & ~values.isin([0, 1])
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"must be 0 or 1, got {_cell(df[column].iloc[index])}", path=path,
                         row=_file_row(path, index), column=column)
    return values


def prepare_table(df: pd.DataFrame, path: str | Path, id_column: str, *,
                  time: str | None = None, event: str | None = None,
                  censorship: str | None = None, response: str | None = None,
                  drop: Sequence[str] = (), affixes: Mapping[str, str] | None = None,
                  one_row_per_id: str | None = None) -> PreparedTable:
    """Checked, one-row-per-id table of features and outcome.

    Survival: ``time`` with ``event`` (1 = observed) or ``censorship`` (1 = censored, as MCAT
    tables: event = 1 - censorship); response: ``response`` (0/1). Rows without an outcome are
    left out. Every other column not in ``drop`` is a feature; non-numeric ones are one-hot
    encoded. Repeated ids (several slides of one case) need ``one_row_per_id="first"`` and
    identical feature and outcome values.
    """
    path = Path(path)
    outcome_columns = [c for c in (time, event, censorship, response) if c is not None]
    missing = [c for c in [id_column, *outcome_columns, *drop] if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    if df[id_column].isna().any():
        index = int(np.flatnonzero(df[id_column].isna().to_numpy())[0])
        raise InputError("missing id", path=path, row=_file_row(path, index), column=id_column)
    df = df.reset_index(drop=True)
    outcome = pd.DataFrame(index=df.index)
    if response is not None:
        outcome["response"] = _binary_column(df, response, path)
    else:
        outcome["time"] = _numeric_column(df, time, path)
        if (outcome["time"] < 0).any():
            index = int(np.flatnonzero((outcome["time"] < 0).to_numpy())[0])
            raise InputError(f"negative time {_cell(df[time].iloc[index])}", path=path,
                             row=_file_row(path, index), column=time)
        indicator = _binary_column(df, event or censorship, path)
        outcome["event"] = indicator if event is not None else 1 - indicator
    feature_columns = [c for c in df.columns
                       if c not in {id_column, *outcome_columns, *drop}]
    ids = df[id_column].astype(str)
    df = _one_row_per_id(df.assign(**{id_column: ids}), id_column,
                         feature_columns + outcome_columns, path, one_row_per_id)
    outcome = outcome.loc[df.index]
    features, encoded = encode_features(df, feature_columns)
    if encoded:
        log.info("one-hot encoded non-numeric column(s): %s", ", ".join(encoded))
    table = pd.concat([features, outcome], axis=1)
    table.index = pd.Index(df[id_column], name="id")
    has_outcome = outcome.notna().all(axis=1).to_numpy()
    if not has_outcome.all():
        log.warning("%d patient(s) without an outcome are left out", int((~has_outcome).sum()))
    table = table[has_outcome]
    if response is None and table["event"].sum() == 0:
        raise InputError("no observed event", path=path, column=event or censorship)
    outcome_names = {"response": "response"} if response is not None else {"time": "time",
                                                                          "event": "event"}
    affixes = affixes or MODALITY_PREFIXES
    modality_map = ModalityMap.from_affixes(feature_columns, affixes)
    unmatched = [c for c in modality_map.get(REST_MODALITY, ())
                 if not c.startswith(affixes.get(REST_MODALITY, "\0"))]
    if unmatched:
        # An outcome left in the table (a response column in a survival run) would leak here.
        log.info("features matching no modality affix, in '%s': %s", REST_MODALITY,
                 ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else ""))
    return PreparedTable(table, modality_map.expanded(encoded), encoded, outcome_names,
                         int((~has_outcome).sum()))


def _one_row_per_id(df: pd.DataFrame, id_column: str, checked: list[str], path: Path,
                    mode: str | None) -> pd.DataFrame:
    repeated = df[id_column].duplicated(keep=False)
    if not repeated.any():
        return df
    if mode != "first":
        index = int(np.flatnonzero(df[id_column].duplicated().to_numpy())[0])
        raise InputError(f"id {df[id_column].iloc[index]} is repeated (use --one-row-per-id "
                         "first when repeats are copies, e.g. one row per slide)", path=path,
                         row=_file_row(path, index), column=id_column)
    repeats = df[repeated]
    differing = repeats.groupby(id_column, sort=False)[checked].nunique(dropna=False) > 1
    if differing.to_numpy().any():
        case, column = differing.stack().loc[lambda s: s].index[0]
        index = int(np.flatnonzero((df[id_column] == case).to_numpy())[1])
        raise InputError(f"id {case} has rows with different values (drop the column with "
                         "--drop if it is per row, e.g. a slide id)", path=path,
                         row=_file_row(path, index), column=column)
    return df[~df[id_column].duplicated()]
