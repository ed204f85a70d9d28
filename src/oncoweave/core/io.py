"""Files: outputs written so that a failed step never leaves a partial file or folder behind,
VCFs and FASTAs opened with one clear error when they cannot be read, and file digests.

pysam and pandas are imported inside the functions that use them: every stage imports this module.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager, Iterator

from oncoweave.core.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import pysam


@contextmanager
def replaced_on_success(output: str | Path) -> Iterator[Path]:
    """A temporary path beside ``output`` (same extension), renamed onto it if the block succeeds.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".tmp{os.getpid()}.{output.name}")
    try:
        yield temporary
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def indexed_vcf_on_success(output: str | Path) -> Iterator[Path]:
    """A temporary .vcf.gz to write; on success it is tabix-indexed and both move into place."""
    with replaced_on_success(output) as temporary, \
            replaced_on_success(f"{output}.tbi"):
        # The two temporary names differ by ".tbi" exactly as tabix names an index.
        yield temporary
        import pysam

        pysam.tabix_index(str(temporary), preset="vcf", force=True, keep_original=True)


def write_tsv(table: pd.DataFrame, path: str | Path, **to_csv_options) -> None:
    """Write a TSV atomically (``to_csv_options`` go to DataFrame.to_csv)."""
    with replaced_on_success(path) as temporary, temporary.open("w", newline="") as handle:
        table.to_csv(handle, sep="\t", index=False, **to_csv_options)


def open_vcf(path: str | Path) -> ContextManager[pysam.VariantFile]:
    """Open a VCF/BCF, turning a missing or unreadable file into an InputError naming it."""
    import pysam

    if not Path(path).exists():
        raise InputError("VCF not found", path=Path(path))
    check_not_plain_gzip(path)
    return _opened(pysam.VariantFile, path, "cannot read VCF")


def check_not_plain_gzip(path: str | Path) -> None:
    """Refuse a VCF compressed with plain gzip: htslib reads only BGZF (gzip blocks whose header
    holds the 'BC' extra field), and fails on plain gzip with "seek not implemented"."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(18)
    except OSError:
        return  # the reader that opens it next names the fault
    is_gzip = head[:3] == b"\x1f\x8b\x08"
    is_bgzf = len(head) >= 14 and head[3] & 0x04 and head[12:14] == b"BC"
    if is_gzip and not is_bgzf:
        raise InputError("is gzip but not bgzip-compressed: recompress it with `bgzip` (zcat "
                         "file | bgzip > file.vcf.gz) and index it with `tabix -p vcf`",
                         path=str(path))


def open_fasta(path: str | Path) -> ContextManager[pysam.FastaFile]:
    """Open an indexed FASTA, turning an unreadable file into an InputError naming it."""
    import pysam

    return _opened(pysam.FastaFile, path, "cannot open FASTA")


@contextmanager
def _opened(open_file, path: str | Path, failure: str) -> Iterator:
    """``open_file(path)`` as a context; pysam's OSError/ValueError become one InputError."""
    try:
        handle = open_file(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"{failure} ({err})", path=Path(path)) from None
    with handle:
        yield handle


@contextmanager
def directory_replaced_on_success(output: str | Path) -> Iterator[Path]:
    """A temporary directory beside ``output``, moved onto it if the block succeeds."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".tmp{os.getpid()}.{output.name}")
    old = output.with_name(f".old{os.getpid()}.{output.name}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        yield temporary
        if output.exists():
            os.replace(output, old)
        os.replace(temporary, output)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def file_sha256(path: str | Path) -> str:
    """The file's SHA-256 hex digest, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
