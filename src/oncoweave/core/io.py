"""Writing outputs so that a failed step never leaves a partial file behind, and reading VCFs
with one clear error when they cannot be read."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
import pysam

from oncoweave.core.errors import InputError


@contextmanager
def replaced_on_success(output: str | Path) -> Iterator[Path]:
    """A temporary path beside ``output`` (same extension), renamed onto it if the block succeeds."""
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
        pysam.tabix_index(str(temporary), preset="vcf", force=True, keep_original=True)


def write_tsv(table: pd.DataFrame, path: str | Path, **to_csv_options) -> None:
    """Write a TSV atomically (``to_csv_options`` go to DataFrame.to_csv)."""
    with replaced_on_success(path) as temporary, temporary.open("w", newline="") as handle:
        table.to_csv(handle, sep="\t", index=False, **to_csv_options)


@contextmanager
def open_vcf(path: str | Path) -> Iterator[pysam.VariantFile]:
    """Open a VCF/BCF, turning a missing or unreadable file into an InputError naming it."""
    path = Path(path)
    if not path.exists():
        raise InputError("VCF not found", path=path)
    try:
        vcf = pysam.VariantFile(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read VCF ({err})", path=path) from None
    with vcf:
        yield vcf
