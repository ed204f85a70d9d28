"""Checks FASTQ input before alignment for truncation, corrupt gzip data, broken records and
unpaired mates.

It is the alignment job's first step (``variants.alignment.align_pair``; also the command
``python -m oncoweave.cli.variants check-fastq``), in an environment without most of the other stages' libraries, so it uses the standard library only.
Each failure is one InputError naming the file and what to do about it.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from operator import methodcaller
from pathlib import Path

from oncoweave.core.errors import InputError

FASTQ_CHUNK_BYTES = 16 * 1024 * 1024
# The first this many read names of R1 and R2 must pair (as bwa mem pairs them, by name).
PAIRED_NAMES_CHECKED = 1000


@dataclass(frozen=True)
class FastqSummary:
    path: str
    records: int
    bases: int


def check_fastq(path: str | Path) -> FastqSummary:
    """Stream a FASTQ (gzip or plain), failing on truncation, corruption or broken records."""
    records = bases = 0
    leftover: list[bytes] = []  # lines of a record that continues in the next chunk
    partial = b""  # an unfinished line at the end of a chunk
    try:
        with _open_maybe_gzip(path) as handle:
            while chunk := handle.read(FASTQ_CHUNK_BYTES):
                lines = leftover + (partial + chunk).split(b"\n")
                partial = lines.pop()
                whole = len(lines) - len(lines) % 4
                bases += _check_records(lines[:whole], records, path)
                records += whole // 4
                leftover = lines[whole:]
    except EOFError:
        raise InputError("truncated gzip file (it ends before the end-of-stream marker); "
                         "copy or download it again", path=str(path)) from None
    except (zlib.error, gzip.BadGzipFile) as err:
        raise InputError(f"corrupt gzip data ({err}); copy or download it again",
                         path=str(path)) from None
    tail = [line for line in leftover + [partial] if line.strip()]
    if tail:
        raise InputError(f"ends inside record {records + 1} ({len(tail)} of its 4 lines): "
                         "the file is truncated", path=str(path))
    if records == 0:
        raise InputError("contains no reads", path=str(path))
    return FastqSummary(str(path), records, bases)


def check_fastq_pair(path1: str | Path, path2: str | Path) -> tuple[FastqSummary, FastqSummary]:
    """Check both mates, that they hold the same number of records, and that their first
    PAIRED_NAMES_CHECKED reads have the same names (R2 of another sample with the same read
    count would pass the count and fail bwa mem on its first read)."""
    first, second = check_fastq(path1), check_fastq(path2)
    if first.records != second.records:
        raise InputError(f"{second.records:,} records but its mate {path1} has "
                         f"{first.records:,}: the two files do not pair", path=str(path2))
    pairs = zip(_read_names(path1), _read_names(path2), strict=False)
    for number, (name1, name2) in enumerate(pairs, start=1):
        if name1 != name2:
            raise InputError(f"record {number:,} is read {_shown(name2)} but record {number:,} "
                             f"of its mate {path1} is {_shown(name1)}: the two files do not pair "
                             "(R1 and R2 of different samples or runs?)", path=str(path2))
    return first, second


def _read_names(path: str | Path, limit: int = PAIRED_NAMES_CHECKED) -> list[bytes]:
    """The first ``limit`` read names: the header up to its first blank, without '@' and a /1 or
    /2 mate suffix (bwa mem compares them so)."""
    names = []
    with _open_maybe_gzip(path) as handle:
        for number, line in enumerate(handle):
            if number % 4 == 0:
                if len(names) == limit:
                    break
                name = line[1:].split(maxsplit=1)[0] if line[1:].strip() else b""
                names.append(name[:-2] if name[-2:] in (b"/1", b"/2") else name)
    return names


def _shown(name: bytes) -> str:
    return repr(name.decode(errors="replace"))


def _open_maybe_gzip(path: str | Path):
    """gzip (and bgzip) by content, not by file name."""
    try:
        with open(path, "rb") as probe:
            is_gzip = probe.read(2) == b"\x1f\x8b"
    except OSError as err:
        raise InputError(f"cannot read it ({err.strerror})", path=str(path)) from None
    return gzip.open(path, "rb") if is_gzip else open(path, "rb")


def _check_records(lines: list[bytes], records_before: int, path: str | Path) -> int:
    """Check whole 4-line records (C-speed map/compare); return their bases."""
    headers, sequences, separators, qualities = (lines[i::4] for i in range(4))
    for field, prefix, what in ((headers, b"@", "header line does not start with '@'"),
                                (separators, b"+", "third line does not start with '+'")):
        if not all(map(methodcaller("startswith", prefix), field)):
            index = next(i for i, line in enumerate(field) if not line.startswith(prefix))
            raise _record_error(path, records_before + index + 1, what)
    sequence_lengths, quality_lengths = list(map(len, sequences)), list(map(len, qualities))
    if sequence_lengths != quality_lengths:
        index = next(i for i, (s, q) in enumerate(zip(sequence_lengths, quality_lengths,
                                                      strict=True)) if s != q)
        raise _record_error(path, records_before + index + 1,
                            "sequence and quality lengths differ")
    return sum(sequence_lengths)


def _record_error(path: str | Path, record: int, what: str) -> InputError:
    first_line = 4 * (record - 1) + 1
    return InputError(f"record {record:,} (lines {first_line:,}-{first_line + 3:,}): {what}; "
                      "not a valid FASTQ file", path=str(path))
