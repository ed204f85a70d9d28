"""Cohort-scale planning: how long `snakemake -n` takes, and how much memory, for N patients.

`oncoweave benchmark-scale --patients 100 1000 10000` writes a paired tumour/normal sample sheet of
FASTQ rows per size (each row's files are empty placeholders: planning needs them to exist, not to
hold reads), so the DAG has the full per-sample chain (alignment with its QC) and the per-shard
chain (calling to reports), then times a dry run of the workflow on each sheet. ``--kind vcf``
writes one tumour row with a VCF per patient instead (the published-cohort case).
"""

from __future__ import annotations

import gzip

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from oncoweave.core.errors import InputError
from oncoweave.core.paths import REPO_ROOT
from oncoweave.core.shards import DEFAULT_SHARD_SIZE, shard_map

SAMPLE_COLUMNS = ("patient", "sample", "type", "fastq1", "fastq2", "bam", "vcf", "purity")
IMAGE_COLUMNS = ("patient", "image", "mask", "modality", "label")
CLINICAL_COLUMNS = ("patient", "age", "sex", "stage", "cancer_type", "treatment", "os_months",
                    "os_event", "response")
TOTAL_JOBS = re.compile(r"^total\s+(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PlanTiming:
    patients: int
    jobs: int
    wall_s: float
    peak_mb: float
    # User + system CPU seconds of the snakemake process: steadier than wall on a shared machine.
    cpu_s: float = 0.0


def write_cohort(directory: Path, patients: int, kind: str = "fastq") -> Path:
    """A working directory with a cohort of `patients` patients (paired FASTQ, or one tumour VCF
    each with ``kind="vcf"``); returns its config."""
    reads = directory / "reads"
    reads.mkdir(parents=True, exist_ok=True)
    # Planning reads each input's first bytes: the files start as a real one would (no records).
    fastq_start = gzip.compress(b"@read/1\nACGT\n+\nIIII\n", mtime=0)
    vcf_start = gzip.compress(b"##fileformat=VCFv4.2\n", mtime=0)
    rows = ["\t".join(SAMPLE_COLUMNS)]
    for number in range(1, patients + 1):
        patient = f"S{number:06d}"
        if kind == "vcf":
            vcf = reads / f"{patient}-T.vcf.gz"
            vcf.write_bytes(vcf_start)
            rows.append("\t".join([patient, f"{patient}-T", "tumour", "", "", "", str(vcf), ""]))
            continue
        for sample_type, suffix in (("tumour", "T"), ("normal", "N")):
            sample = f"{patient}-{suffix}"
            pair = [reads / f"{sample}_R{read}.fastq.gz" for read in (1, 2)]
            for path in pair:
                path.write_bytes(fastq_start)
            purity = "0.7" if sample_type == "tumour" else ""
            rows.append("\t".join([patient, sample, sample_type, str(pair[0]), str(pair[1]), "", "",
                                   purity]))
    config_dir = directory / "config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "samples.tsv").write_text("\n".join(rows) + "\n")
    (config_dir / "images.tsv").write_text("\t".join(IMAGE_COLUMNS) + "\n")
    (config_dir / "clinical.tsv").write_text("\t".join(CLINICAL_COLUMNS) + "\n")
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    config.update(samples=str(config_dir / "samples.tsv"), images=str(config_dir / "images.tsv"),
                  clinical=str(config_dir / "clinical.tsv"))
    config_file = config_dir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_file


def snakemake_executable() -> str:
    beside_python = Path(sys.executable).with_name("snakemake")
    return str(beside_python) if beside_python.exists() else (shutil.which("snakemake") or "snakemake")


def time_dry_run(workdir: Path, config_file: Path, cores: int = 2,
                 extra_args: tuple[str, ...] = ()) -> tuple[int, float, float, str, float]:
    """Run `snakemake -n` once: (jobs planned, wall seconds, peak RSS MB of the process, output,
    CPU seconds of the process)."""
    command = [snakemake_executable(), "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(config_file), "--cores", str(cores), "-n",
               "--quiet", "rules", *extra_args]
    log_path = workdir / "dry_run.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        # wait4 gives this child's own peak memory (getrusage(RUSAGE_CHILDREN) would be the max so far).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    output = log_path.read_text()
    if process.returncode != 0:
        raise RuntimeError(f"snakemake -n failed ({process.returncode}):\n{output[-3000:]}")
    match = TOTAL_JOBS.search(output)
    jobs = int(match.group(1)) if match else 0
    cpu = usage.ru_utime + usage.ru_stime
    return jobs, wall, usage.ru_maxrss / 1024, output, cpu  # ru_maxrss is in KiB on Linux


def benchmark_scale(sizes: list[int], root: Path, cores: int = 2,
                    kind: str = "fastq") -> list[PlanTiming]:
    timings = []
    for patients in sizes:
        workdir = root / f"patients_{patients}"
        config_file = write_cohort(workdir, patients, kind)
        jobs, wall, peak, _, cpu = time_dry_run(workdir, config_file, cores)
        timings.append(PlanTiming(patients, jobs, wall, peak, cpu))
    return timings


# The spine's rules of a paired FASTQ cohort: one alignment job per sample (with its QC), then
# one job per shard of patients for each light stage.
SPINE_JOBS_PER_SAMPLE = ("align_reads",)
SPINE_JOBS_PER_SHARD = ("call_variants", "classify_variants", "annotate_consequences",
                        "export_variants", "compute_tmb", "score_drivers", "match_therapies",
                        "summarize_coverage", "render_patient_report")
SPINE_JOBS_ONCE = ("link_reference", "index_reference", "index_reference_bwa", "merge_variants",
                   "summarize_identity", "report_qc", "index_patient_reports", "all")


def expected_spine_jobs(patients: int, shard_size: int = DEFAULT_SHARD_SIZE) -> dict[str, int]:
    """Jobs per spine rule that the DAG must hold for `patients` paired FASTQ patients."""
    ids = [f"S{number:06d}" for number in range(1, patients + 1)]
    shards = len(shard_map(ids, shard_size))
    expected = dict.fromkeys(SPINE_JOBS_PER_SAMPLE, 2 * patients)
    expected.update(dict.fromkeys(SPINE_JOBS_PER_SHARD, shards))
    expected.update(dict.fromkeys(SPINE_JOBS_ONCE, 1))
    return expected


def job_stats(output: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table (rule -> jobs), without its total line."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = {}
    for line in table.strip().splitlines()[2:]:  # after the header and its rule
        rule, count = line.split()
        counts[rule] = int(count)
    counts.pop("total", None)
    return counts


def format_table(timings: list[PlanTiming]) -> str:
    lines = [f"{'patients':>9} {'jobs':>9} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'ms/job':>7}"]
    lines += [f"{t.patients:>9} {t.jobs:>9} {t.wall_s:>8.1f} {t.cpu_s:>8.1f} {t.peak_mb:>8.0f}"
              f" {1000 * t.wall_s / max(t.jobs, 1):>7.2f}" for t in timings]
    return "\n".join(lines)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "benchmark-scale", help="time `snakemake -n` (wall s, peak MB) on synthetic cohorts")
    parser.add_argument("--patients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--kind", choices=("fastq", "vcf"), default="fastq",
                        help="paired FASTQ patients (default) or one tumour VCF per patient")
    parser.add_argument("--workdir", help="folder for the synthetic cohorts (default: temporary)")
    parser.set_defaults(func=_cmd_benchmark_scale)


def _cmd_benchmark_scale(args) -> int:
    if any(n < 1 for n in args.patients):
        raise InputError(f"--patients must be at least 1, got {args.patients}")
    if args.workdir:
        timings = benchmark_scale(args.patients, Path(args.workdir), args.cores, args.kind)
    else:
        with tempfile.TemporaryDirectory(prefix="oncoweave-scale-") as root:
            timings = benchmark_scale(args.patients, Path(root), args.cores, args.kind)
    print(format_table(timings))
    return 0
