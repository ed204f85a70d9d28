"""Each VCF patient's import counts in a shard: the ImportSummary of one import, and the
import_summary.tsv beside the shard's imported VCFs that the patient reports read their notes from
(its tumour_column says which column of a one-sample VCF was read as the tumour when its name
was not the sheet's sample).

Standard library only: the report step reads the notes without the import's dependencies.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from oncoweave.core.io import replaced_on_success

# Beside a shard's imported VCFs: each VCF patient's counts and note (the report reads the notes).
IMPORT_SUMMARY_FILE = "import_summary.tsv"
_SUMMARY_COLUMNS = ("patient", "file", "records_read", "records_written", "outside_regions",
                    "without_alt", "note", "tumour_column")


@dataclass(frozen=True)
class ImportSummary:
    records_read: int
    records_written: int
    outside_regions: int
    without_alt: int  # reference-only records (ALT '.'): no variant to carry over
    # Why the call set is empty or mostly dropped, in words for the report (allowed imports only).
    note: str = ""
    # The input column read as the tumour when it is not named as the sheet's sample (a
    # one-sample VCF's 'TUMOR'); empty when the names match.
    tumour_column: str = ""

    @property
    def dropped(self) -> int:
        return self.outside_regions + self.without_alt

    def counts(self) -> str:
        return (f"{self.records_read:,} records read, {self.records_written:,} kept "
                f"({self.outside_regions:,} outside the reference regions, {self.without_alt:,} "
                "without an ALT allele)")


def write_import_summaries(summaries: Mapping[str, tuple[str | Path, ImportSummary]],
                           path: str | Path) -> None:
    """patient -> (its VCF, summary) as a TSV; the VCF by file name only (paths may be private)."""
    with replaced_on_success(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(_SUMMARY_COLUMNS)
        for patient, (vcf, summary) in summaries.items():
            writer.writerow([patient, Path(vcf).name, summary.records_read,
                             summary.records_written, summary.outside_regions,
                             summary.without_alt, summary.note, summary.tumour_column])


def import_notes(folder: str | Path | None) -> dict[str, str]:
    """patient -> the note of its import (empty or mostly dropped call set), from a shard's
    imported folder; {} without a folder or summary (a shard of read or MAF patients only)."""
    path = Path(folder) / IMPORT_SUMMARY_FILE if folder else None
    if path is None or not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {row["patient"]: row["note"] for row in csv.DictReader(handle, delimiter="\t")
                if row["note"]}


def import_tumour_columns(folder: str | Path | None) -> dict[str, str]:
    """patient -> the one-sample VCF column read as its tumour, where it was not named as the
    sheet's sample; {} without a folder or summary."""
    path = Path(folder) / IMPORT_SUMMARY_FILE if folder else None
    if path is None or not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {row["patient"]: row["tumour_column"]
                for row in csv.DictReader(handle, delimiter="\t") if row.get("tumour_column")}
