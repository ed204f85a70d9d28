"""Where one sample's alignment QC lives: the files of its QC folder, and those MultiQC reads.

Both alignment jobs (``align_reads``, ``link_bam``) write one folder per sample; the rules name
its files for the jobs that read them (coverage, TMB, reports) and ``report_qc`` lists them for
MultiQC. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# What MultiQC reads of a QC folder (fastp, samtools markdup and stats, mosdepth), by file suffix.
MULTIQC_SUFFIXES = (".fastp.json", ".markdup.txt", ".stats.txt", ".mosdepth.summary.txt",
                    ".mosdepth.region.dist.txt")


def qc_files(folder: str, sample: str) -> dict[str, str]:
    """The QC files of one sample inside its QC folder (``folder`` may hold wildcards)."""
    prefix = f"{folder}/{sample}"
    return {
        "summary": f"{prefix}.mosdepth.summary.txt",
        "regions": f"{prefix}.regions.bed.gz",
        "thresholds": f"{prefix}.thresholds.bed.gz",
        "dist": f"{prefix}.mosdepth.region.dist.txt",
        "stats": f"{prefix}.stats.txt",
        "fastp_json": f"{prefix}.fastp.json",
        "fastp_html": f"{prefix}.fastp.html",
        "markdup": f"{prefix}.markdup.txt",
    }


def multiqc_inputs(folders: Iterable[str | Path]) -> list[str]:
    """The files of these QC folders that MultiQC reads, folder by folder, in name order."""
    return [str(path) for folder in folders for path in sorted(Path(folder).iterdir())
            if path.name.endswith(MULTIQC_SUFFIXES)]
