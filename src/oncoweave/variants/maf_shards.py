"""A checked MAF's rows cut by shard: ``split_maf`` writes each shard's rows once, and the shard's
import and TMB jobs read only theirs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def write_shard_rows(rows: pd.DataFrame, shard_of: Mapping[str, str],
                     outputs: list[str]) -> None:
    """Write each shard's rows of a :func:`read_maf` table to its output (named ``<shard>.parquet``;
    ``shard_of``: patient -> shard). Each file is written whole or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from oncoweave.core.io import replaced_on_success

    shards = rows["patient"].map(dict(shard_of))
    by_shard = {shard: part for shard, part in rows.groupby(shards, sort=False)}
    for output in outputs:
        shard = Path(output).name.removesuffix(".parquet")
        part = by_shard.get(shard, rows.iloc[:0])
        with replaced_on_success(output) as temporary:
            pq.write_table(pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False),
                           temporary)


def read_shard_rows(path: str | Path, maf: str | Path) -> pd.DataFrame:
    """One shard's MAF rows as :func:`write_shard_rows` wrote them; errors name the MAF ``maf``."""
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pandas()
    rows.attrs["path"] = str(maf)
    return rows
