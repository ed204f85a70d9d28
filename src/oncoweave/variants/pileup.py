"""Candidate calls of a shard's read patients: one bcftools pileup per patient, several at a time.

Each patient's tumour (+ normal) BAMs go through ``bcftools mpileup | call | norm | view`` over the
targets, exactly as one job per patient would run them; a shard job runs ``threads`` of these side
by side, so a cohort of thousands of patients plans as one calling job per shard. Standard library
only (the work is bcftools').
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from oncoweave.core.errors import InputError

log = logging.getLogger(__name__)


def pileup_command(bams: Sequence[str], samples: Sequence[str], fasta: str, targets: str,
                   output_vcf: str, *, min_base_quality: int, min_mapping_quality: int) -> str:
    """The shell pipeline from BAMs to normalised candidates (bgzipped VCF + tabix index).

    -d/-L lift the depth caps (indels vanish at high depth otherwise); -p applies -m/-F per sample,
    so a 10 % tumour indel is a candidate even when the pooled fraction is lower; call -m -A keeps
    every allele seen, the classification decides later. Then left-align and split multiallelic
    sites, and keep only sites where a real allele was seen. -G names each BAM's reads after its
    sheet sample, whatever SM tag the BAM carries. Last, the header loses bcftools' Command lines
    (dates and paths that differ between runs; the Version lines stay, the variants table records
    them), so that two runs write the same file.
    """
    names = "".join(f"* {bam} {sample}\n" for bam, sample in zip(bams, samples, strict=True))
    q = shlex.quote
    stem = output_vcf.removesuffix(".vcf.gz")
    raw, header = f"{stem}.raw.vcf.gz", f"{stem}.header.txt"
    return (
        "set -o pipefail; "
        f"bcftools mpileup -f {q(fasta)} -T {q(targets)} -G <(printf '%s' {q(names)})"
        " -a FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP -d 100000 -L 100000 -p -m 2 -F 0.02"
        f" -q {int(min_mapping_quality)} -Q {int(min_base_quality)} -Ou {' '.join(map(q, bams))}"
        " | bcftools call -m -A -Ou"
        f" | bcftools norm -f {q(fasta)} -m -any -Ou"
        f" | bcftools view -e 'ALT=\"<*>\" || ALT=\".\"' -Oz -o {q(raw)}"
        f" && {without_command_lines(raw, output_vcf, header)}"
        f" && bcftools index -t {q(output_vcf)}"
    )


def without_command_lines(source: str, output: str, header: str) -> str:
    """Shell: ``source`` (VCF/BCF) as ``output`` without its ``##bcftools...Command=`` header lines,
    the records as they are (``header``: a scratch file; both removed)."""
    q = shlex.quote
    return (f"bcftools view --no-version -h {q(source)}"
            f" | grep -v '^##bcftools[^=]*Command=' > {q(header)}"
            f" && bcftools reheader -h {q(header)} -o {q(output)} {q(source)}"
            f" && rm {q(source)} {q(header)}")


def call_patients(patients: Sequence[Mapping], out_dir: str | Path, *, fasta: str, targets: str,
                  min_base_quality: int, min_mapping_quality: int, threads: int = 1) -> list[Path]:
    """Write ``<out_dir>/<patient>.vcf.gz`` (+ .tbi) for each patient, ``threads`` at a time.

    Each patient is a mapping with ``patient``, ``bams`` (tumour first) and ``samples`` (their
    sheet names). A failing pileup raises InputError naming the patient and bcftools' last words.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def call(patient: Mapping) -> Path:
        output = out_dir / f"{patient['patient']}.vcf.gz"
        command = pileup_command(patient["bams"], patient["samples"], fasta, targets, str(output),
                                 min_base_quality=min_base_quality,
                                 min_mapping_quality=min_mapping_quality)
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
        for line in done.stderr.splitlines():
            log.info("%s: %s", patient["patient"], line)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:] or ["no message"]
            raise InputError(f"bcftools pileup of patient {patient['patient']} failed "
                             f"(exit {done.returncode}): {last[0]}", path=patient["bams"][0])
        log.info("%s: candidates written", patient["patient"])
        return output

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(call, patients))
