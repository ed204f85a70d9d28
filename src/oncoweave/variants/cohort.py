"""Merges every tumour sample's variants table into the cohort Parquet (and its MAF)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.variants.maf import DEFAULT_MAF_STATUSES, variants_to_maf, write_maf
from oncoweave.variants.schema import VARIANTS_SCHEMA

_CHROMOSOME_RANKS = {**{str(n): n for n in range(1, 23)}, "X": 23, "Y": 24, "M": 25, "MT": 25}


def merge_variants(parquet_paths: Iterable[str | Path], output_parquet: str | Path,
                   maf_path: str | Path | None = None, metadata: Mapping[str, str] | None = None,
                   *, maf_statuses: Iterable[str] = DEFAULT_MAF_STATUSES) -> pd.DataFrame:
    """Concatenate per-sample variants tables, sort by patient, chromosome, position; write them.

    Every input must have ``VARIANTS_SCHEMA`` and a sample no other input has. The cohort file's
    metadata holds the keys all inputs agree on, ``inputs_provenance`` (JSON: input path -> its
    metadata) and ``metadata`` on top. Nothing is written unless every input is good.
    """
    paths = [Path(p) for p in parquet_paths]
    if not paths:
        raise InputError("no variants tables to merge")
    tables = {path: read_parquet(path, VARIANTS_SCHEMA) for path in paths}
    _check_samples_unique({path: df for path, (df, _) in tables.items()})
    frames = [df for df, _ in tables.values() if not df.empty]
    merged = pd.concat(frames, ignore_index=True) if frames else tables[paths[0]][0]
    merged = sort_variants(merged)
    maf = variants_to_maf(merged, statuses=tuple(maf_statuses)) if maf_path else None
    provenance = merged_provenance({str(path): meta for path, (_, meta) in tables.items()})
    write_parquet(merged, output_parquet, VARIANTS_SCHEMA, {**provenance, **(metadata or {})})
    if maf is not None:
        write_maf(maf, maf_path)
    return merged


def sort_variants(variants: pd.DataFrame) -> pd.DataFrame:
    """Patient, then chromosome in karyotype order (chr2 before chr10), position; ties by
    sample and alleles so that the same inputs always give the same row order."""
    order = variants.assign(_chrom_rank=variants["chrom"].map(chromosome_rank)).sort_values(
        ["patient", "_chrom_rank", "chrom", "pos", "sample", "ref", "alt"], kind="stable")
    return order.drop(columns="_chrom_rank").reset_index(drop=True)


def chromosome_rank(chrom: str) -> int:
    """1-22, X, Y, M in karyotype order; anything else (alt contigs) after them."""
    return _CHROMOSOME_RANKS.get(re.sub(r"^chr", "", chrom, flags=re.IGNORECASE), 100)


def merged_provenance(per_input: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Keys whose value every input shares, plus each input's full metadata as JSON.

    Sorted, so the same inputs in any order give byte-identical metadata.
    """
    shared = dict(next(iter(per_input.values()), {}))
    for meta in per_input.values():
        shared = {key: value for key, value in shared.items() if meta.get(key) == value}
    return {**dict(sorted(shared.items())),
            "inputs_provenance": json.dumps(per_input, sort_keys=True)}


def _check_samples_unique(tables: Mapping[Path, pd.DataFrame]) -> None:
    seen: dict[str, Path] = {}
    for path, df in tables.items():
        for sample in df["sample"].unique():
            if sample in seen:
                raise InputError(f"sample {sample!r} is already in {seen[sample]} "
                                 "(each sample's table may be merged once)", path=path)
            seen[sample] = path
