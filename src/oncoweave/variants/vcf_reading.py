"""Columnar reading of the records export needs from an annotated VCF/BCF.

One ``bcftools query`` call gives the fields (CHROM, POS, REF, ALT, FILTER, STATUS, the integer
counts, BCSQ), its output streamed through a pipe into pyarrow's CSV reader, which parses it in a
thread on the second core while bcftools reads the file; ``read_record_batches`` hands on each
parsed piece at once, so that export computes its columns while bcftools goes on. QUAL and
INFO/FISHER_P come from the same query when the header shows that htslib last wrote the records
as text (``floats_survive_text``): bcftools prints floats with six significant digits, and a
float32 that htslib itself printed with six digits reads back from that text to the same float32.
Otherwise (a hand-written VCF with 7-9 digit floats, a BCF of computed floats) the six digits
would lose float32 bits, and QUAL and FISHER_P come from a pysam pass over the file (samples
dropped, so htslib skips FORMAT) that runs while the query is parsed in a thread. cyvcf2 was
measured for that pass and is slower (see ``_read_floats``). Without bcftools on PATH the whole
table comes from pysam (``reader="pysam"``, also the reference the fast path is tested against).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.io import open_vcf

if TYPE_CHECKING:
    import pyarrow as pa
    import pysam

TEXT_COLUMNS = ["contig", "pos", "ref", "alt", "filter", "status", "t_dp", "t_alt", "n_dp",
                "n_alt", "bcsq"]
INTEGER_COLUMNS = ["pos", "t_dp", "t_alt", "n_dp", "n_alt"]
FLOAT_COLUMNS = ["quality", "fisher_p"]
RECORD_COLUMNS = TEXT_COLUMNS + FLOAT_COLUMNS
_QUERY = {"contig": "%CHROM", "pos": "%POS", "ref": "%REF", "alt": "%ALT", "filter": "%FILTER",
          "status": "%INFO/STATUS", "t_dp": "%INFO/T_DP", "t_alt": "%INFO/T_ALT",
          "n_dp": "%INFO/N_DP", "n_alt": "%INFO/N_ALT", "bcsq": "%INFO/BCSQ"}
_FLOAT_QUERY = {"quality": "%QUAL", "fisher_p": "%INFO/FISHER_P"}
# Query output per parsed piece: few pieces for the caller's per-piece work (1M records: 16),
# small enough that it starts early.
BLOCK_BYTES = 4 << 20
# Header programs (##<name>Version= / ##<name>Command=) that write records through htslib's VCF
# text writer (classify-variants writes with pysam, mode "wz"), and those that copy a BCF's
# binary floats unchanged.
_TEXT_WRITER_PREFIXES = ("bcftools_", "bcftools/", "oncoweave_classify")
_FLOAT_COPIERS = {"bcftools/csq", "bcftools_csq", "bcftools_view"}


def read_records(path: Path, tumour_sample: str, *, reader: str = "auto") -> pd.DataFrame:
    """RECORD_COLUMNS, one row per record in file order; missing values are None (Int64 NA for
    the counts), floats as pysam gives them.

    ``reader``: "auto" (bcftools when on PATH), "bcftools" or "pysam". A record without exactly
    one ALT allele is an InputError naming it.
    """
    if _resolve(reader) == "pysam":
        _check_header(path, tumour_sample)
        records = _read_with_pysam(path)
        _check_single_alt(pa_table_of(records), path)
        return records
    return _frame(read_record_table(path, tumour_sample, reader="bcftools"))


def read_record_table(path: Path, tumour_sample: str, *, reader: str = "auto") -> pa.Table:
    """``read_records`` as a pyarrow table: strings, int64 (POS and counts), float64 (float32
    values widened; NaN kept, missing null); the same checks and errors."""
    import pyarrow as pa

    return pa.concat_tables(read_record_batches(path, tumour_sample, reader=reader))


def read_record_batches(path: Path, tumour_sample: str, *,
                        reader: str = "auto") -> Iterator[pa.Table]:
    """``read_record_table`` in consecutive pieces (at least one), each as soon as it is parsed
    when the floats come from the query's text (else the whole table at once), so that the
    caller's work overlaps the query. The errors come after the last piece, in the order of
    ``read_record_table``: a failed query, then the first record without exactly one ALT."""
    header = _check_header(path, tumour_sample)
    if _resolve(reader) == "pysam":
        table = pa_table_of(_read_with_pysam(path))
        _check_single_alt(table, path)
        yield table
        return
    info_keys, text_floats = header
    # bcftools refuses a tag the header lacks; such a column is all null, as pysam reads it.
    fields = {name: field for name, field in (_QUERY | _FLOAT_QUERY).items()
              if (text_floats or name not in FLOAT_COLUMNS)
              and (not field.startswith("%INFO/") or field[6:] in info_keys)}
    if not text_floats:
        table = _with_float_pass(path, fields)
        _check_single_alt(table, path)
        yield table
        return
    first_bad = None
    for batch in _query_batches(path, fields):
        table = _records(batch, fields, [_float32(batch[name]) if name in fields else None
                                         for name in FLOAT_COLUMNS])
        first_bad = first_bad or _first_bad_alt(table)
        yield table
    if first_bad:
        _refuse_alt(first_bad, path)


def _resolve(reader: str) -> str:
    if reader == "auto":
        return "bcftools" if shutil.which("bcftools") else "pysam"
    if reader not in ("bcftools", "pysam"):
        raise ValueError(f"unknown reader {reader!r}")
    return reader


def _check_header(path: Path, tumour_sample: str) -> tuple[set[str], bool]:
    """(INFO keys of the header, whether the floats survive bcftools' text)."""
    with open_vcf(path) as vcf:
        if tumour_sample not in vcf.header.samples:
            raise InputError(f"sample {tumour_sample!r} not in the VCF (samples: "
                             f"{', '.join(vcf.header.samples)})", path=path)
        for key in ("STATUS", "BCSQ"):
            if key not in vcf.header.info:
                raise InputError(f"INFO/{key} missing: export needs the output of "
                                 "classify-variants annotated by bcftools csq", path=path)
        return set(vcf.header.info), floats_survive_text(vcf)


def floats_survive_text(vcf: pysam.VariantFile) -> bool:
    """Whether QUAL and INFO/FISHER_P read from ``bcftools query``'s six-digit text, as float32,
    are exactly the float32 values htslib (so pysam) reads from the file.

    They are when htslib wrote them as text: it prints a float32 with six significant digits,
    and every decimal of six significant digits reads back to the float32 it was printed from
    (measured on a million random float32 bit patterns, subnormals included). The header's
    program lines say who wrote: a text VCF whose last writer is bcftools or classify-variants,
    or a BCF written from such text by programs that copy floats (bcftools csq or view after
    classify-variants, the workflow's chain). A header that proves neither keeps the pysam pass.
    FISHER_P must be declared a single Float (an Integer or a list would read otherwise).
    """
    fisher = vcf.header.info.get("FISHER_P")
    if fisher is not None and (fisher.number != 1 or fisher.type != "Float"):
        return False
    programs = [record.key.removesuffix("Version").removesuffix("Command")
                for record in vcf.header.records if record.type == "GENERIC"
                and (record.key == "source" or record.key.endswith(("Version", "Command")))]
    if vcf.format == "BCF":
        while programs and programs[-1] in _FLOAT_COPIERS:
            programs.pop()
        return bool(programs) and programs[-1] == "oncoweave_classify"
    return bool(programs) and programs[-1].startswith(_TEXT_WRITER_PREFIXES)


def _with_float_pass(path: Path, fields: dict[str, str]) -> pa.Table:
    """The records with QUAL and FISHER_P from the pysam pass, which runs while the query's
    output is parsed (by pyarrow, without the GIL) in a thread."""
    import pyarrow as pa
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        parsed = pool.submit(lambda: pa.concat_tables(_query_batches(path, fields)))
        floats = [pa.array(values, pa.float64()) for values in _read_floats(path)]
        table = parsed.result()
    return _records(table, fields, floats)


def _records(table: pa.Table, fields: dict[str, str], floats: list) -> pa.Table:
    """RECORD_COLUMNS from the queried columns: null columns for tags the header lacks (and
    for a float list entry None), PASS for an empty FILTER."""
    import pyarrow as pa

    count = table.num_rows
    columns = {name: table[name] if name in fields else pa.nulls(count, _type(name))
               for name in TEXT_COLUMNS}
    columns["filter"] = columns["filter"].fill_null("PASS")
    for name, values in zip(FLOAT_COLUMNS, floats, strict=True):
        columns[name] = values if values is not None else pa.nulls(count, pa.float64())
    return pa.table(columns)


def _type(name: str) -> pa.DataType:
    import pyarrow as pa

    if name in INTEGER_COLUMNS:
        return pa.int64()
    return pa.float64() if name in FLOAT_COLUMNS else pa.string()


def _query_batches(path: Path, fields: dict[str, str]) -> Iterator[pa.Table]:
    """``bcftools query`` of ``fields`` (name -> format) as typed tables ('.' null), each as
    soon as pyarrow has parsed it from the pipe (at least one, maybe empty). A thread parses,
    so that the pipe is drained while the caller works; a failing bcftools is an InputError
    naming the file, raised after the last table."""
    import queue
    import threading

    query = "\t".join(fields.values()) + "\n"
    # stderr to a file: a full stderr pipe would stall bcftools while the parse waits on stdout.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(["bcftools", "query", "-f", query, str(path)],
                                   stdout=subprocess.PIPE, stderr=errors)
        _widen_pipe(process.stdout)
        parsed: queue.SimpleQueue = queue.SimpleQueue()
        parser = threading.Thread(target=_parse, args=(process.stdout, list(fields), parsed),
                                  daemon=True)
        parser.start()
        parse_error, parsed_all = None, False
        try:
            while (item := parsed.get()) is not None:
                if isinstance(item, Exception):
                    parse_error = item
                    break
                yield item
            parsed_all = parse_error is None
        finally:
            if not parsed_all:
                process.kill()  # the output is refused (or no longer wanted): stop bcftools
            parser.join()
            process.stdout.close()
            process.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    # bcftools exits 0 after some read errors (a bad BGZF block): htslib's "[E::" says so.
    if process.returncode > 0 or (process.returncode < 0 and parse_error is None) or any(
            line.startswith("[E::") for line in message.splitlines()):
        raise InputError(f"bcftools query failed: {message}", path=path)
    if parse_error is not None:
        raise parse_error


def _widen_pipe(stream) -> None:
    """A 1 MiB pipe (Linux; 64 KiB by default): bcftools need not wait on the parse thread."""
    import fcntl

    try:
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass


def _parse(stream, names: list[str], parsed) -> None:
    """Put each parsed block of ``stream`` on ``parsed`` as a table, then None (an exception
    instead when pyarrow refuses the text)."""
    import pyarrow as pa
    from pyarrow import csv

    try:
        if not stream.peek(1):  # no records (pyarrow refuses an empty CSV)
            parsed.put(pa.table({name: pa.array([], _type(name)) for name in names}))
        else:
            # One thread: bcftools has the other core.
            reader = csv.open_csv(
                stream, read_options=csv.ReadOptions(column_names=names, use_threads=False,
                                                     block_size=BLOCK_BYTES),
                parse_options=csv.ParseOptions(delimiter="\t", quote_char=False,
                                               escape_char=False),
                convert_options=csv.ConvertOptions(
                    column_types={name: _type(name) for name in names}, null_values=["."],
                    strings_can_be_null=True, quoted_strings_can_be_null=False))
            for batch in reader:
                parsed.put(pa.Table.from_batches([batch]))
        parsed.put(None)
    except (pa.ArrowInvalid, OSError, ValueError) as err:
        parsed.put(err)


def _float32(column: pa.ChunkedArray) -> pa.Array:
    """Parsed six-digit floats as htslib holds them: float32 (widened; NaN kept, '.' null)."""
    import pyarrow as pa

    values = column.to_numpy()  # NaN where null; the mask keeps them apart from NaN values
    with np.errstate(over="ignore"):  # beyond float32: inf, as htslib stores it
        rounded = values.astype(np.float32).astype(np.float64)
    return pa.array(rounded, mask=column.is_null().to_numpy(zero_copy_only=False))


def _read_floats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """QUAL and INFO/FISHER_P as pysam gives them (float32 widened; missing: None).

    The samples are dropped before reading (htslib then skips the FORMAT columns): QUAL and
    INFO do not depend on them; the key is bytes, which pysam need not encode per record.
    cyvcf2 gives the same values but costs more (1M records: 2.15 CPU s against 1.4 s), so
    the pass stays with pysam.
    """
    quality, fisher = [], []
    with open_vcf(path) as vcf:
        vcf.subset_samples([])
        if "FISHER_P" in vcf.header.info:
            for record in vcf:
                quality.append(record.qual)
                fisher.append(record.info.get(b"FISHER_P"))
        else:  # pysam refuses a tag the header lacks: the column is all null
            quality = [record.qual for record in vcf]
            fisher = [None] * len(quality)
    return np.array(quality, dtype=object), np.array(fisher, dtype=object)


def _read_with_pysam(path: Path) -> pd.DataFrame:
    """The per-record reference reader: every field through pysam."""
    rows = []
    with open_vcf(path) as vcf:
        # pysam refuses a tag the header lacks (ValueError): such a column is all null.
        declared = set(vcf.header.info)
        counts = [key if key in declared else None for key in ("T_DP", "T_ALT", "N_DP", "N_ALT")]
        fisher_key = "FISHER_P" if "FISHER_P" in declared else None
        for record in vcf:
            info = record.info
            alts = record.alts or ()
            rows.append((record.chrom, record.pos, record.ref, ",".join(alts) or None,
                         ";".join(record.filter.keys()) or "PASS", info.get("STATUS"),
                         *(info.get(key) if key else None for key in counts),
                         ",".join(info.get("BCSQ", ())) or None, record.qual,
                         info.get(fisher_key) if fisher_key else None))
    records = pd.DataFrame(rows or None, columns=RECORD_COLUMNS, dtype=object)
    for name in INTEGER_COLUMNS:
        records[name] = pd.array(records[name].tolist(), dtype="Int64")
    records["pos"] = records["pos"].astype("int64")
    return records


def pa_table_of(records: pd.DataFrame) -> pa.Table:
    """A ``read_records`` frame as ``read_record_table`` gives it (NaN floats stay NaN)."""
    import pyarrow as pa

    return pa.table({name: pa.array(records[name], _type(name), from_pandas=False)
                     for name in RECORD_COLUMNS})


def _frame(table: pa.Table) -> pd.DataFrame:
    """``read_record_table``'s table as ``read_records`` gives it: Int64 counts, int64 POS,
    object strings and floats with None for nulls."""
    import pyarrow as pa

    columns = {}
    for name in RECORD_COLUMNS:
        column = table[name]
        if name in INTEGER_COLUMNS:
            columns[name] = column.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        else:  # object, not the inferred string dtype; Python floats as pysam gives
            values = (np.array(column.to_pylist(), dtype=object) if name in FLOAT_COLUMNS
                      else column.to_numpy(zero_copy_only=False))
            columns[name] = pd.Series(values, dtype=object, copy=False)
    records = pd.DataFrame(columns)
    records["pos"] = records["pos"].astype("int64")
    return records


def _check_single_alt(table: pa.Table, path: Path) -> None:
    first_bad = _first_bad_alt(table)
    if first_bad:
        _refuse_alt(first_bad, path)


def _first_bad_alt(table: pa.Table) -> tuple[str, int] | None:
    """(contig, pos) of the first record without exactly one ALT allele, if any."""
    import pyarrow.compute as pc

    bad = pc.fill_null(pc.match_substring(table["alt"], ","), True)
    if not pc.any(bad).as_py():
        return None
    first = pc.index(bad, True).as_py()
    return table["contig"][first].as_py(), table["pos"][first].as_py()


def _refuse_alt(record: tuple[str, int], path: Path) -> None:
    raise InputError(f"record {record[0]}:{record[1]} must have exactly one ALT allele",
                     path=path)
