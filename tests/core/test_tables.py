"""write_parquet_to_pandas (the file written in a thread while the frame is built) against
write_parquet then table_to_pandas: the same file, frame and errors; the scoped system memory
pool."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from oncoweave.core.errors import InputError
from oncoweave.core.tables import table_to_pandas, write_parquet, write_parquet_to_pandas

SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False),
                    pa.field("count", pa.int64()), pa.field("score", pa.float64())])


def test_same_file_and_frame_as_write_parquet_then_table_to_pandas(tmp_path):
    df = pd.DataFrame({"score": [0.5, None, 2.0] * 1000, "id": ["a", "b", "c"] * 1000,
                       "count": pd.array([3, None, 1] * 1000, dtype="Int64")})
    frame = write_parquet_to_pandas(df, tmp_path / "threaded.parquet", SCHEMA, {"tool": "x"})
    expected = table_to_pandas(write_parquet(df, tmp_path / "plain.parquet", SCHEMA,
                                             {"tool": "x"}))
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame["count"].dtype == "Int64" and frame["score"].isna().sum() == 1000
    assert ((tmp_path / "threaded.parquet").read_bytes()
            == (tmp_path / "plain.parquet").read_bytes())


def test_a_bad_table_is_the_same_error_and_leaves_no_file(tmp_path):
    df = pd.DataFrame({"id": [None], "count": [1], "score": [1.0]})
    with pytest.raises(InputError, match=r"t\.parquet, row 0, column 'id': null in a "
                                         "non-nullable column"):
        write_parquet_to_pandas(df, tmp_path / "t.parquet", SCHEMA)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_write_is_raised_and_leaves_no_file(tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "t.parquet").mkdir()  # a directory where the file should go
    df = pd.DataFrame({"id": ["a"], "count": [1], "score": [1.0]})
    with pytest.raises(OSError):
        write_parquet_to_pandas(df, folder / "t.parquet", SCHEMA)
    assert [path.name for path in folder.iterdir()] == ["t.parquet"]


def test_system_memory_pool_is_the_default_inside_and_restored_after_an_error():
    from oncoweave.core.tables import system_memory_pool

    before = pa.default_memory_pool().backend_name
    with pytest.raises(RuntimeError, match="inside"):
        with system_memory_pool():
            assert pa.default_memory_pool().backend_name == "system"
            kept = pa.array(range(1000))
            raise RuntimeError("inside")
    assert pa.default_memory_pool().backend_name == before
    assert kept.sum().as_py() == 499500  # buffers from the system pool outlive the block
