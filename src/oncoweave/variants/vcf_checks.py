"""Checks of a user VCF's content at import (oncoweave.variants.inputs.import_vcf): its sample
columns, whether it carries the read counts the classification needs, and read depths no
sequencing run can give.

Each failure is one InputError naming the user's file (and the record), before any later step
reads the imported copy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError

if TYPE_CHECKING:  # the MAF import reads MAX_READ_DEPTH without pysam
    import pysam

log = logging.getLogger(__name__)

# A read depth above this is refused as corrupt: ten million reads over one position is far past
# any panel, exome or genome (ultra-deep amplicon panels reach ~100,000x), while overflowed or
# placeholder values (2,147,483,647 = INT32_MAX) are far above it.
MAX_READ_DEPTH = 10_000_000
# FORMAT fields of read counts that the import checks against MAX_READ_DEPTH.
DEPTH_FIELDS = ("DP", "AD", "ADF", "ADR")


def sample_columns(header: pysam.VariantHeader, path: str | Path, wanted: list[str],
                   names: list[str], explicit: bool) -> tuple[list[str], str]:
    """The input columns of the samples ``names`` (``wanted``: their expected column names), and
    the tumour's column when it was taken by position: a one-sample VCF without a normal whose
    column is not named as the sheet's sample (a caller's 'TUMOR'). ``explicit``: the columns
    were given, never substituted."""
    available = list(header.samples)
    if (not explicit and len(names) == 1 and len(available) == 1
            and available[0] != wanted[0]):
        log.warning("%s: its one sample column '%s' is not named '%s' (the sample sheet's "
                    "sample): read as the tumour", path, available[0], names[0])
        return [available[0]], available[0]
    for column in wanted:
        if column not in available:
            raise InputError(f"has no sample column '{column}' (its columns: "
                             f"{', '.join(available) or 'none'}): rename its columns to the "
                             "sample sheet's ids (bcftools reheader --samples), or give "
                             "import-vcf --tumour-column/--normal-column", path=str(path))
    if len(set(wanted)) != len(wanted):
        raise InputError(f"tumour and normal are both column '{wanted[0]}'", path=str(path))
    return wanted, ""


def check_read_counts(header: pysam.VariantHeader, path: str | Path) -> None:
    """The calls are classified from FORMAT/AD (REF and ALT reads per sample): refuse a VCF
    without it here, naming the user's file, not the imported copy later."""
    if "AD" in header.formats:
        return
    fields = ", ".join(header.formats) or "none"
    raise InputError(f"has no FORMAT/AD (reads per allele; its FORMAT fields: {fields}): the "
                     "calls cannot be classified without read counts; export them with allele "
                     "depths (bcftools mpileup -a AD,DP; GATK/Mutect2 and most somatic callers "
                     "write AD)", path=str(path))


def check_depths(record: pysam.VariantRecord, columns: list[str], path: str | Path) -> None:
    """Refuse a record whose read counts exceed MAX_READ_DEPTH (a corrupt or overflowed value)."""
    for column in columns:
        call = record.samples[column]
        for key in DEPTH_FIELDS:
            if key not in record.format:
                continue
            value = call.get(key)
            values = value if isinstance(value, tuple) else (value,)
            total = sum(count for count in values if count is not None)
            if total > MAX_READ_DEPTH:
                alts = ",".join(record.alts or ["."])
                raise InputError(f"record {record.chrom}:{record.pos} {record.ref}>{alts}: "
                                 f"sample {column}: FORMAT/{key} is {total:,} reads, above "
                                 f"{MAX_READ_DEPTH:,}, more than any sequencing gives: the "
                                 "value is corrupt (an overflow or a placeholder?); fix or "
                                 "re-export the file", path=str(path))
