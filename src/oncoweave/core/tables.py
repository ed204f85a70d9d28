"""Parquet tables with fixed schemas: the one way stages hand each other data.

``write_parquet`` / ``read_parquet`` validate a DataFrame against a schema, write atomically and
carry provenance (oncoweave and tool versions, config hash ...) in the file's key-value metadata.
``schema_field`` gives a column with its description; ``require_columns`` and
``parse_key_values`` are the checks every table reader and KEY=VALUE option share.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success


def schema_field(name: str, kind: pa.DataType, description: str,
                 nullable: bool = False) -> pa.Field:
    """A schema column with its description in the field metadata (every table schema uses it)."""
    return pa.field(name, kind, nullable=nullable, metadata={"description": description})


def write_parquet(df: pd.DataFrame, path: str | Path, schema: pa.Schema,
                  metadata: Mapping[str, str] | None = None) -> pa.Table:
    """Validate ``df`` against ``schema``, write it atomically with provenance; return the table.

    Columns must be exactly the schema's (order is taken from the schema); values must convert
    to the schema's types and non-nullable columns must have no nulls. The file's key-value
    metadata gets ``oncoweave_version`` plus ``metadata``.
    """
    path = Path(path)
    table = _with_provenance(_to_table(df, schema, path), metadata)
    _write(table, path)
    return table


def write_parquet_to_pandas(df: pd.DataFrame, path: str | Path, schema: pa.Schema,
                            metadata: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``table_to_pandas(write_parquet(df, path, schema, metadata))``, the file written in a
    thread while the frame is built (both mostly Arrow C++ without the GIL: two cores)."""
    from concurrent.futures import ThreadPoolExecutor

    path = Path(path)
    table = _with_provenance(_to_table(df, schema, path), metadata)
    with ThreadPoolExecutor(max_workers=1) as pool:
        written = pool.submit(_write, table, path)
        frame = table_to_pandas(table)
        written.result()
    return frame


@contextmanager
def system_memory_pool() -> Iterator[None]:
    """Arrow buffers from the C library's allocator while the block runs (then the previous
    default again). pyarrow's default, mimalloc, hands freed pages back to the OS within
    milliseconds: a stage that allocates and frees hundreds of MB in turn (export on 1M
    records) faults them in again and again, 0.45 s of its 2 s. Buffers keep their own pool."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _with_provenance(table: pa.Table, metadata: Mapping[str, str] | None) -> pa.Table:
    provenance = {"oncoweave_version": __version__, **(metadata or {})}
    return table.replace_schema_metadata({str(k): str(v) for k, v in provenance.items()})


def _write(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    with replaced_on_success(path) as temporary:
        pq.write_table(table, temporary)


def _to_table(df: pd.DataFrame, schema: pa.Schema, path: Path) -> pa.Table:
    missing = [name for name in schema.names if name not in df.columns]
    extra = [str(name) for name in df.columns if name not in schema.names]
    if missing or extra:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unexpected column(s) {', '.join(extra)}"] if extra else [])
        raise InputError(f"table does not match its schema: {'; '.join(parts)}", path=path)
    return pa.Table.from_arrays([_column(df, field, path) for field in schema], schema=schema)


def _column(df: pd.DataFrame, field: pa.Field, path: Path) -> pa.Array:
    try:
        array = pa.array(df[field.name], type=field.type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
        raise InputError(f"values do not fit type {field.type} ({err})", path=path,
                         column=field.name) from None
    if not field.nullable and array.null_count:
        first_null = int(array.is_null().to_numpy(zero_copy_only=False).argmax())
        raise InputError("null in a non-nullable column", path=path, row=first_null,
                         column=field.name)
    return array


def read_parquet(path: str | Path,
                 expected_schema: pa.Schema | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """(DataFrame, key-value metadata) of a Parquet file written by ``write_parquet``.

    Integer columns come back as pandas' nullable Int64. With ``expected_schema`` the file's
    columns and types must match it.
    """
    path = Path(path)
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"cannot read Parquet ({err})", path=path) from None
    if expected_schema is not None and not table.schema.equals(expected_schema):
        raise InputError("columns/types differ from the expected schema: "
                         f"{_schema_difference(table.schema, expected_schema)}", path=path)
    metadata = {key.decode(): value.decode()
                for key, value in (table.schema.metadata or {}).items()}
    return table_to_pandas(table), metadata


def table_to_pandas(table: pa.Table) -> pd.DataFrame:
    import pandas as pd

    nullable_ints = {kind: pd.Int64Dtype() for kind in (pa.int8(), pa.int16(), pa.int32(),
                                                        pa.int64())}
    return table.to_pandas(types_mapper=nullable_ints.get)


def _schema_difference(found: pa.Schema, expected: pa.Schema) -> str:
    found_types = {field.name: field.type for field in found}
    differences = [f"{field.name}: expected {field.type}, found "
                   f"{found_types.get(field.name, 'nothing')}"
                   for field in expected if found_types.get(field.name) != field.type]
    differences += [f"{name}: not expected" for name in found.names if name not in expected.names]
    if not differences and found.names != expected.names:
        differences.append(f"column order {found.names}")
    return "; ".join(differences) or "field nullability"


def require_columns(df: pd.DataFrame, required: tuple[str, ...] | list[str],
                    path: str | Path | None = None) -> None:
    """One InputError naming every missing column (and the file when known)."""
    missing = [column for column in required if column not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)


def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    values = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{option} expects KEY=VALUE, got {item!r}")
        values[key] = value
    return values


def concat_shard_tables(paths: Sequence[str | Path], output: str | Path,
                        sort_by: str = "patient") -> pa.Table:
    """Write one table of the shards' Parquet files of a stage, rows sorted (stably) by ``sort_by``.

    The files are read as one pyarrow dataset, which checks that their schemas agree (pyarrow is
    already every stage's Parquet engine; DuckDB would add a second engine for a union). The
    first file's metadata (provenance) is kept.
    """
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if not paths:
        raise InputError("no shard tables to merge")
    schema = pq.read_schema(paths[0])
    try:
        table = ds.dataset([str(p) for p in paths], schema=schema, format="parquet").to_table()
    except (OSError, pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(f"the shard tables do not read as one dataset ({err})",
                         path=paths[0]) from None
    if sort_by in table.column_names:
        table = table.sort_by([(sort_by, "ascending")])
    table = table.replace_schema_metadata(schema.metadata)
    with replaced_on_success(output) as temporary:
        pq.write_table(table, temporary)
    return table
