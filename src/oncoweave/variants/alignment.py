"""One sample's alignment and its QC, as the ``align_reads`` and ``link_bam`` jobs run them.

A FASTQ pair goes through the integrity check (oncoweave.variants.fastq), fastp, ``bwa mem`` with
the sample's read group, ``samtools fixmate | sort`` and ``samtools markdup`` (with its index); a
user BAM is linked and indexed. Either BAM then gets its QC in the same job: coverage over the
targets (mosdepth, with the thresholds TMB territory and the reports read) and ``samtools stats``.

Each job writes three outputs: the BAM, its index and one QC folder holding every QC file under
the sample's name (``variants.qc_files``), so that a cohort of thousands of samples plans as few
files.
The commands and their arguments are those the rules ran as shell commands before; each one is
written to the job's log before it runs. Standard library only: the alignment environment has
the tools, not the other stages' libraries.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from oncoweave.core.errors import InputError
from oncoweave.variants.fastq import check_fastq_pair
from oncoweave.variants.qc_files import qc_files

log = logging.getLogger(__name__)

# mosdepth's depth thresholds: the callable territory of TMB and the reports' coverage columns.
MOSDEPTH_THRESHOLDS = "20,100,200"
# The name of the bwa index files inside the index folder (results/reference/bwa/genome.fa.bwt...).
BWA_INDEX_NAME = "genome.fa"
BWA_BATCH_BASES = "100000000"

# Threads of one alignment job, from the size of its reads: on a small panel's FASTQ pair the
# serial steps (checks, markdup, QC) dominate and two jobs side by side beat one job on two cores;
# a deep panel, an exome or a genome gets more (the cluster profile may set them with set-threads).
READS_MB_PER_THREAD = 250
MAX_ALIGN_THREADS = 8


def threads_for_reads(reads_mb: float) -> int:
    """bwa/fastp/samtools threads for a FASTQ pair of ``reads_mb`` MB (gzip), 1 to 8."""
    return max(1, min(MAX_ALIGN_THREADS, int(reads_mb // READS_MB_PER_THREAD) + 1))


def read_group(sample: str) -> str:
    """The ``@RG`` line bwa mem is given (``\\t`` escapes as bwa expects them): the sample name is
    the read group's ID, sample and library."""
    return f"@RG\\tID:{sample}\\tSM:{sample}\\tPL:ILLUMINA\\tLB:{sample}"


class Commands:
    """Runs tools with their stderr in ``stream`` (the job's log), each command logged first."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr

    def note(self, argv: Sequence[str], stdout: str | None = None, cwd: str | None = None
             ) -> None:
        line = shlex.join(argv) + (f" > {shlex.quote(stdout)}" if stdout else "")
        log.info("running: %s%s", line, f" (in {cwd})" if cwd else "")
        self.stream.flush()

    def run(self, argv: Sequence[str], stdout: str | None = None) -> None:
        """One command; ``stdout`` (a path) receives its output."""
        self.pipe([argv], stdout)

    def pipe(self, commands: Sequence[Sequence[str]], stdout: str | None = None,
             cwd: str | None = None) -> None:
        """A pipeline ``a | b | c`` (run in ``cwd`` when given); fails (like ``set -o pipefail``)
        if any command fails."""
        for argv in commands:
            self.note(argv, cwd=cwd)
        processes: list[subprocess.Popen] = []
        sink = open(stdout, "wb") if stdout else None
        try:
            upstream = None
            for number, argv in enumerate(commands):
                last = number == len(commands) - 1
                process = subprocess.Popen(
                    list(argv), stdin=upstream, stderr=self.stream, cwd=cwd,
                    stdout=(sink if sink else None) if last else subprocess.PIPE)
                if upstream is not None:
                    upstream.close()  # the next command owns it now (SIGPIPE reaches the writer)
                upstream = process.stdout
                processes.append(process)
        except BaseException:
            for process in processes:  # a tool that could not start: stop the ones before it
                process.kill()
                process.wait()
            raise
        finally:
            if sink:
                sink.close()
        codes = [process.wait() for process in processes]
        failed = [(argv[0], code) for argv, code in zip(commands, codes) if code != 0]
        if failed:
            raise subprocess.CalledProcessError(failed[0][1], shlex.join(
                [part for argv in commands for part in (*argv, "|")][:-1]))


def align_pair(r1: str, r2: str, *, sample: str, label: str = "", index_prefix: str, fasta: str,
               targets: str, bam: str, bai: str, qc_dir: str, threads: int = 1,
               tmpdir: str | None = None, fastp_extra: str = "",
               commands: Commands | None = None) -> None:
    """FASTQ pair -> duplicate-marked, indexed ``bam`` and the sample's QC folder ``qc_dir``.

    The pair is checked first (a truncated or broken file raises InputError naming it, prefixed
    by ``label``, before any tool runs). The trimmed reads and the unmarked BAM live only in a
    scratch folder under ``tmpdir``.
    """
    try:
        first, second = check_fastq_pair(r1, r2)
    except InputError as err:
        raise InputError(f"{label}: {err}" if label else str(err)) from None
    log.info("%s + %s: %d read pairs, %d bases", first.path, second.path, first.records,
             first.bases + second.bases)
    commands = commands or Commands()
    threads = str(threads)
    Path(qc_dir).mkdir(parents=True, exist_ok=True)
    files = qc_files(qc_dir, sample)
    with tempfile.TemporaryDirectory(prefix="align_reads.", dir=tmpdir) as scratch:
        scratch = os.path.abspath(scratch)
        trimmed = [f"{scratch}/R1.fastq.gz", f"{scratch}/R2.fastq.gz"]
        # fastp trimming + QC (-R: the report's title).
        commands.run(["fastp", "--thread", threads, *shlex.split(fastp_extra), "-i", r1, "-I", r2,
                      "-o", trimmed[0], "-O", trimmed[1], "-j", files["fastp_json"],
                      "-h", files["fastp_html"], "-R", sample])
        # bwa mem with the read group; fixmate -m adds the mate scores markdup needs; sort by
        # coordinate. -K: a fixed batch of bases, so that the alignments (bwa estimates insert
        # sizes per batch) do not depend on the number of threads.
        # The BAM header's one @PG line is bwa's, run inside the scratch folder so that it names
        # no temporary path; --no-PG: samtools adds none (theirs would: sort -T, markdup's input),
        # its commands are in the job's log. Two runs write the same BAM.
        sorted_bam = f"{scratch}/sorted.bam"
        commands.pipe([
            ["bwa", "mem", "-t", threads, "-K", BWA_BATCH_BASES, "-R", read_group(sample),
             linked_index(index_prefix, scratch), "R1.fastq.gz", "R2.fastq.gz"],
            ["samtools", "fixmate", "--no-PG", "-m", "-u", "-", "-"],
            ["samtools", "sort", "--no-PG", "-@", threads, "-m", "500M", "-T", f"{scratch}/sort",
             "-o", sorted_bam, "-"],
        ], cwd=scratch)
        commands.run(["samtools", "markdup", "--no-PG", "-@", threads, "-f", files["markdup"],
                      "--write-index", sorted_bam, f"{bam}##idx##{bai}"])
        _alignment_qc(bam, fasta=fasta, targets=targets, files=files, threads=threads,
                      commands=commands)


def linked_index(index_prefix: str, scratch: str) -> str:
    """The bwa index prefix as bwa, run inside ``scratch``, is given it: the index folder linked
    there under its relative path (``results/reference/bwa/genome.fa``), or as ``index/`` when
    it is absolute."""
    prefix = Path(index_prefix)
    inside = not prefix.is_absolute() and prefix.parent != Path(".") and ".." not in prefix.parts
    relative = prefix if inside else Path("index") / prefix.name
    link = Path(scratch) / relative.parent
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.abspath(prefix.parent), target_is_directory=True)
    return relative.as_posix()


def link_bam(source: str, *, sample: str, fasta: str, targets: str, bam: str, bai: str,
             qc_dir: str, threads: int = 1, commands: Commands | None = None) -> None:
    """A user BAM linked as ``bam`` (a link, not a copy: user BAMs can be large), indexed there
    (never beside the input), and its QC folder ``qc_dir``."""
    commands = commands or Commands()
    target = os.path.realpath(source)
    log.info("linking %s -> %s", bam, target)
    Path(bam).parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(bam):
        os.remove(bam)
    os.symlink(target, bam)
    commands.run(["samtools", "index", "-o", bai, bam])
    Path(qc_dir).mkdir(parents=True, exist_ok=True)
    _alignment_qc(bam, fasta=fasta, targets=targets, files=qc_files(qc_dir, sample),
                  threads=str(threads), commands=commands)


def _alignment_qc(bam: str, *, fasta: str, targets: str, files: Mapping[str, str],
                  threads: str, commands: Commands) -> None:
    """Coverage over the targets (mosdepth) and alignment statistics (samtools stats) of ``bam``."""
    prefix = files["summary"].removesuffix(".mosdepth.summary.txt")
    commands.run(["mosdepth", "--threads", threads, "--no-per-base", "--by", targets,
                  "--thresholds", MOSDEPTH_THRESHOLDS, prefix, bam])
    commands.run(["samtools", "stats", "--reference", fasta, bam], stdout=files["stats"])
