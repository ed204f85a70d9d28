"""Distances between patients over a feature table with gaps: per-modality z-scored blocks, the
RMS difference over the columns two patients both have, and learned representations aligned to
the table's patients.

A modality's distance is the root-mean-square z difference over the columns both patients have:
the block's Euclidean distance weighted by 1/sqrt(n columns), so 300 radiomic columns weigh as
much as 14 genomic ones. The distance of two patients is the mean of their modality distances
over the modalities both have; a pair sharing no modality is infinitely far.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.tables import require_columns
from oncoweave.fusion.feature_table import ID_COLUMN

log = logging.getLogger(__name__)

DISTANCE_DESCRIPTION = ("mean over the modalities both patients have of the RMS difference of "
                        "z-scored features (block weight 1/sqrt(columns)); with a representation "
                        "the RMS difference of its coordinates")


class ModalitiesUsed(Sequence):
    """used[j]: the modalities compared for column j of a (blocks, patients) mask, built when
    read (a query reads k of them)."""

    def __init__(self, names: list[str], shared: np.ndarray):
        self.names, self.shared = names, shared

    def __len__(self) -> int:
        return self.shared.shape[1]

    def __getitem__(self, j: int) -> tuple[str, ...]:
        return tuple(name for name, ok in zip(self.names, self.shared[:, j]) if ok)


def modality_distances(blocks: Mapping[str, np.ndarray], i: int, rows: np.ndarray
                       ) -> tuple[np.ndarray, Sequence[tuple[str, ...]]]:
    """Distances of patient ``i`` to the patients at ``rows`` (inf: no modality shared), and the
    modalities each pair was compared on."""
    per_block = np.vstack([rms_difference(block[rows], block[i]) for block in blocks.values()])
    shared = ~np.isnan(per_block)
    counts = shared.sum(axis=0)
    total = np.where(shared, per_block, 0.0).sum(axis=0)
    distance = np.where(counts > 0, total / np.maximum(counts, 1), np.inf)
    return distance, ModalitiesUsed(list(blocks), shared)


def zscores(table: pd.DataFrame) -> np.ndarray:
    """Columns z-scored over the patients that have them; constant columns are dropped."""
    values = table.astype(float)
    mean, sd = values.mean(skipna=True), values.std(ddof=0, skipna=True)
    keep = sd.notna() & (sd > 0)
    return ((values.loc[:, keep] - mean[keep]) / sd[keep]).to_numpy(dtype=float)


def standardised_blocks(features: pd.DataFrame,
                        modality_map: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """Modality -> (n patients, varying columns) z-scores; modalities without one left out."""
    blocks = {}
    for modality, columns in modality_map.items():
        require_columns(features, list(columns))
        z = zscores(features[list(columns)]) if len(columns) else np.empty((len(features), 0))
        if z.shape[1] == 0:
            log.info("modality %s: no column varies between patients; not compared", modality)
            continue
        blocks[modality] = z
    return blocks


def rms_difference(block: np.ndarray, row: np.ndarray) -> np.ndarray:
    """RMS difference of every row of ``block`` to ``row`` over the columns both have (NaN:
    none)."""
    return _rms_over_observed(block - row)


def _rms_over_observed(difference: np.ndarray) -> np.ndarray:
    """RMS over the last axis of the values that are not NaN (NaN where there are none)."""
    observed = ~np.isnan(difference)
    counts = observed.sum(axis=-1)
    squares = np.where(observed, difference, 0.0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.sqrt(squares.sum(axis=-1) / np.maximum(counts, 1)),
                        np.nan)


def representation_array(representation, patients: list[str],
                         source: str = "the representation") -> np.ndarray:
    if isinstance(representation, pd.DataFrame):
        return align_representation(representation, patients, source)
    array = np.asarray(representation, dtype=float)
    if array.ndim != 2 or array.shape[0] != len(patients):
        raise InputError(f"representation must be (n patients = {len(patients)}, d), got shape "
                         f"{array.shape}")
    return array


def align_representation(table: pd.DataFrame, patients: list[str], source: str) -> np.ndarray:
    """Rows of a (patient, numeric columns...) table in ``patients``' order; a patient without a
    row gets NaN (never a neighbour), one not in the feature table is an InputError."""
    require_columns(table, [ID_COLUMN], source)
    ids = table[ID_COLUMN].astype(str)
    if ids.duplicated().any():
        raise InputError(f"patient {ids[ids.duplicated()].iloc[0]} has more than one row",
                         path=source)
    known = set(ids)
    unknown = sorted(known - set(patients))
    if unknown:
        raise InputError(f"patient {unknown[0]} is not in the feature table", path=source)
    values = table.drop(columns=[ID_COLUMN])
    not_numeric = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if not_numeric or values.shape[1] == 0:
        raise InputError("a representation has numeric columns besides patient" + (
            f" ({', '.join(map(str, not_numeric[:3]))} are not)" if not_numeric else ""),
            path=source)
    missing = [p for p in patients if p not in known]
    if missing:
        log.warning("%s: no representation for %d patient(s) (%s): they get no neighbours",
                    source, len(missing), ", ".join(missing[:5]))
    return values.set_index(ids).reindex(patients).to_numpy(dtype=float)


# ---------------------------------------------------------------------------------------------
# Nearest neighbours of many patients at once: the distance matrix in row blocks.

# Elements of one (query rows, patients, columns) difference array: about 4 MB of float64.
BLOCK_ELEMENTS = 1 << 19


def rms_differences(block: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``rms_difference(block[all rows], block[q])`` for each row q of ``queries``, as a (queries,
    patients) array: the same operations element by element, and the squares summed in the same
    order, so the same bits."""
    return _Block(block).rms(queries)


class _Block:
    """One modality's (patients, columns) values laid out for differences to many rows at once.

    ``modality_distances`` takes ``block[rows]`` (a C-ordered copy, whatever the block's order),
    so numpy sums each row's squares pairwise along its contiguous columns; the same sum over the
    last axis of a C-ordered (queries, patients, columns) array gives the same bits. Should that
    copy not be C-ordered, each query goes through ``rms_difference`` itself."""

    def __init__(self, block: np.ndarray):
        self.block = block
        every = np.arange(len(block))
        self.pairwise = len(block) == 0 or bool((block[every] - block[0]).flags.c_contiguous)
        self.values = np.ascontiguousarray(block)
        self.complete = bool(np.isfinite(block).all())  # the NaN mask would keep every column

    def rms(self, queries: np.ndarray) -> np.ndarray:
        if not self.pairwise:
            every = np.arange(len(self.block))
            return np.array([rms_difference(self.block[every], self.block[i]) for i in queries])
        difference = self.values[None, :, :] - self.values[queries][:, None, :]
        if not self.complete or self.values.shape[1] == 0:
            return _rms_over_observed(difference)
        # No NaN: every column counts, and the squares can be taken in place.
        squares = np.square(difference, out=difference)
        return np.sqrt(squares.sum(axis=2) / self.values.shape[1])


def nearest_rows(blocks: Mapping[str, np.ndarray], queries: Sequence[int], k: int,
                 id_order: np.ndarray):
    """Per query row i, in order: (i, rows of its ``k`` nearest other patients, their distances,
    the (blocks, k) mask of the modalities each pair was compared on), exactly as ranking
    ``modality_distances(blocks, i, all rows)``: never itself nor a pair sharing no modality,
    nearest first, distances equal to 12 decimals by ``id_order``. The distances are computed
    for a block of queries at a time and the k nearest picked by partition, so the cost is the
    distance matrix's arithmetic, not a sort per patient."""
    queries = np.asarray(queries, dtype=np.intp)
    n = len(id_order)
    width = max(sum(block.shape[1] for block in blocks.values()), 1)
    step = max(1, BLOCK_ELEMENTS // (max(n, 1) * width))
    prepared = [_Block(block) for block in blocks.values()]
    for start in range(0, len(queries), step):
        chunk = queries[start:start + step]
        per_block = np.stack([block.rms(chunk) for block in prepared])
        shared = ~np.isnan(per_block)
        counts = shared.sum(axis=0)
        total = np.where(shared, per_block, 0.0).sum(axis=0)
        distance = np.where(counts > 0, total / np.maximum(counts, 1), np.inf)
        distance[np.arange(len(chunk)), chunk] = np.nan
        # Rounding makes float noise between equal distances not decide the order; the id does.
        rounded = np.where(np.isfinite(distance), np.round(distance, 12), np.inf)
        cut = (np.partition(rounded, k - 1, axis=1)[:, k - 1:k] if n > k
               else np.full((len(chunk), 1), np.inf))
        # The candidates of every query of the chunk (its k nearest and those tied with the
        # k-th), ordered by query, rounded distance, then id; each query keeps its first k.
        at, rows = np.nonzero((rounded <= cut) & np.isfinite(distance))
        order = np.lexsort((id_order[rows], rounded[at, rows], at))
        at, rows = at[order], rows[order]
        starts = np.searchsorted(at, np.arange(len(chunk) + 1))
        for r, i in enumerate(chunk):
            kept = rows[starts[r]:min(starts[r] + k, starts[r + 1])]
            yield int(i), kept, distance[r, kept], shared[:, r, kept]
