"""Cross-validation folds of patient ids: seeded stratified folds, or the user's split files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError


@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    source: str | None = None  # the split file it came from


def split_folds(ids: Sequence[str], splits_dir: str | Path | None = None, n_folds: int = 5,
                seed: int = 0, stratify: Sequence | None = None) -> list[Fold]:
    """Folds read from ``splits_dir`` (files ``splits_<k>.csv`` with columns train and val of
    ids, NaN-padded, as MCAT/CLAM write them), else seeded stratified k folds (each id in exactly
    one validation fold; ``stratify``: the event or response of each id)."""
    if splits_dir is not None:
        return read_splits(splits_dir, ids)
    from sklearn.model_selection import StratifiedKFold

    ids = np.asarray([str(i) for i in ids])
    labels = np.zeros(len(ids)) if stratify is None else np.asarray(stratify)
    smallest = pd.Series(labels).value_counts().min()
    if smallest < n_folds:
        raise InputError(f"{n_folds} stratified folds need >= {n_folds} patients of each outcome "
                         f"class; the smallest has {smallest} (use fewer --n-folds)")
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return [Fold(k, tuple(ids[train]), tuple(ids[val]))
            for k, (train, val) in enumerate(splitter.split(ids, labels))]


def read_splits(splits_dir: str | Path, ids: Sequence[str]) -> list[Fold]:
    """Folds of a split folder; every id it names must be in ``ids``."""
    splits_dir = Path(splits_dir)
    numbered = {int(m.group(1)): path for path in splits_dir.glob("splits_*.csv")
                if (m := re.fullmatch(r"splits_(\d+)\.csv", path.name))}
    files = [numbered[k] for k in sorted(numbered)]
    if not files:
        raise InputError("no splits_<k>.csv files", path=splits_dir)
    known = set(map(str, ids))
    return [_read_split_file(path, k, known) for k, path in enumerate(files)]


def _read_split_file(path: Path, index: int, known: set[str]) -> Fold:
    try:
        split = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read split file ({err})", path=path) from None
    sets = {}
    for column in ("train", "val"):
        if column not in split.columns:
            raise InputError("missing column(s) " + column, path=path)
        values = split[column]
        for row, value in values.items():
            if pd.notna(value) and value not in known:
                raise InputError(f"id {value} is not in the table (or has no outcome)",
                                 path=path, row=int(row) + 2, column=column)
        sets[column] = tuple(values.dropna())
    both = set(sets["train"]) & set(sets["val"])
    if both:
        raise InputError(f"{len(both)} id(s) in both train and val, e.g. {sorted(both)[0]}",
                         path=path)
    return Fold(index, sets["train"], sets["val"], str(path))
