"""The `benchmark` commands: per-rule summary of a run's benchmark files, and timed runs (the toy
cohort, VCF import, a simulated MAF cohort, imaging steps).

The tables themselves come from ``core.benchmark_files``; pandas loads only with a command, so
`oncoweave --help` stays quick.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oncoweave.core.errors import InputError
from oncoweave.core.paths import REPO_ROOT


def require_fresh_workdir(workdir: Path) -> None:
    """A timed run starts from nothing: ``workdir`` must be new or empty."""
    if workdir.exists() and any(workdir.iterdir()):
        raise InputError("working directory must be new or empty (a fresh run)", path=workdir)


def run_toy_cohort(workdir: Path, cores: int) -> float:
    """Run the workflow on the bundled toy cohort in a fresh ``workdir``; returns wall seconds."""
    snakefile = REPO_ROOT / "Snakefile"
    if not snakefile.exists():
        raise InputError("no Snakefile in the repository", path=snakefile)
    require_fresh_workdir(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # Sheet paths in config/ are relative to the working directory.
    shutil.copytree(REPO_ROOT / "config", workdir / "config")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile),
               "--directory", str(workdir), "--cores", str(cores)]
    start = time.perf_counter()
    completed = subprocess.run(command, check=False)
    wall_s = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"snakemake failed (exit {completed.returncode}); see {workdir}/logs")
    return wall_s


def register(subparsers) -> None:
    parser = subparsers.add_parser("benchmark", help="per-rule run time and memory of a run")
    commands = parser.add_subparsers(dest="benchmark_command", required=True, metavar="<action>")
    summarize = commands.add_parser("summarize", help="summarise benchmarks/<rule>/*.tsv")
    summarize.add_argument("--benchmarks", required=True, help="the run's benchmarks/ folder")
    summarize.set_defaults(func=_cmd_summarize)
    toy_run = commands.add_parser("toy-run", help="time the workflow end to end on the toy cohort")
    toy_run.add_argument("--cores", type=int, default=2)
    toy_run.add_argument("--workdir", help="new or empty folder (default: a new temporary one)")
    toy_run.set_defaults(func=_cmd_toy_run)
    imaging = commands.add_parser(
        "imaging", help="seconds per lesion of a finished run: radiomics (ours and pyradiomics "
        "called directly) and embedding")
    imaging.add_argument("--run-dir", default=".", help="the run's working directory")
    imaging.add_argument("--params", help="pyradiomics params (default: config/radiomics.yaml)")
    imaging.add_argument("--repeats", type=int, default=3)
    imaging.set_defaults(func=_cmd_imaging)
    vcf_import = commands.add_parser(
        "vcf-import", help="VCF -> Parquet (export-variants) on a synthetic VCF, against "
        "`bcftools query` of the same fields")
    vcf_import.add_argument("--records", type=int, default=1_000_000)
    vcf_import.add_argument("--seed", type=int, default=0)
    vcf_import.add_argument("--workdir", help="folder for the VCF and outputs (default: temporary)")
    vcf_import.set_defaults(func=_cmd_vcf_import)
    maf_run = commands.add_parser(
        "maf-run", help="a simulated MAF cohort of N patients through `snakemake all`: wall, "
        "peak memory, the slowest rules")
    maf_run.add_argument("--patients", type=int, default=10_000)
    maf_run.add_argument("--cores", type=int, default=2)
    maf_run.add_argument("--seed", type=int, default=1)
    maf_run.add_argument("--territory-mb", type=float, default=38.0,
                         help="tmb: maf_territory_mb of the run (an exome: about 38)")
    maf_run.add_argument("--shard-size", type=int, help="sharding: shard_size of the run "
                         "(default: the config's)")
    maf_run.add_argument("--workdir", help="new or empty folder (default: a new temporary one)")
    maf_run.set_defaults(func=_cmd_maf_run)


def _cmd_summarize(args) -> int:
    from oncoweave.core.benchmark_files import format_summary, summarize_benchmarks

    print(format_summary(summarize_benchmarks(args.benchmarks)))
    return 0


def _cmd_toy_run(args) -> int:
    from oncoweave.core.benchmark_files import (
        format_summary,
        orchestration_overhead,
        summarize_benchmarks,
    )

    if args.cores < 1:
        raise InputError(f"--cores must be at least 1, got {args.cores}")
    workdir = Path(args.workdir) if args.workdir else Path(
        tempfile.mkdtemp(prefix="oncoweave-toy-run-"))
    try:
        wall_s = run_toy_cohort(workdir.resolve(), args.cores)
    except RuntimeError as err:
        print(f"oncoweave benchmark toy-run: {err}", file=sys.stderr)
        return 1
    summary = summarize_benchmarks(workdir / "benchmarks")
    total_cpu_s = float(summary["total_cpu_s"].sum())
    total_job_s = float(summary["total_wall_s"].sum())
    print(format_summary(summary))
    print(f"\nworking directory: {workdir}")
    print(f"end-to-end wall: {wall_s:.1f} s on {args.cores} cores; {int(summary['jobs'].sum())} "
          f"jobs; job wall: {total_job_s:.1f} s; rule CPU: {total_cpu_s:.1f} s")
    # The first is the goal's measure; the second also counts jobs waiting on I/O or each other.
    print(f"orchestration overhead (wall / (job wall / cores)): "
          f"{orchestration_overhead(wall_s, total_job_s, args.cores):.2f}; "
          f"(wall / (rule CPU / cores)): "
          f"{orchestration_overhead(wall_s, total_cpu_s, args.cores):.2f}")
    return 0


def ingested_run_cases(run_dir: Path) -> list[dict]:
    """The lesions a finished run ingested (results/imaging/<patient>/<lesion>/)."""
    from oncoweave.imaging.ingest import ingested_cases

    records = sorted((run_dir / "results/imaging").glob("*/*/ingest.parquet"))
    if not records:
        raise InputError("no ingested lesions (results/imaging/*/*/ingest.parquet); run the "
                         "workflow first", path=run_dir)
    return ingested_cases(records, [r.with_name("image.nii.gz") for r in records],
                          [r.with_name("mask.nii.gz") for r in records])


def _cmd_imaging(args) -> int:
    import pandas as pd

    from oncoweave.imaging.deep_features import benchmark_embedding
    from oncoweave.imaging.defaults import DEFAULT_PARAMS
    from oncoweave.imaging.radiomics_checks import benchmark_radiomics

    run_dir = Path(args.run_dir).resolve()
    cases = ingested_run_cases(run_dir)
    radiomics = benchmark_radiomics(cases, args.params or DEFAULT_PARAMS, args.repeats)
    print(pd.DataFrame(radiomics["cases"]).to_string(index=False, float_format="%.3f"))
    print(f"radiomics: {radiomics['ours_s_per_case']:.3f} s per lesion "
          f"(pyradiomics directly: {radiomics['direct_s_per_case']:.3f} s)")
    encoder = run_dir / "results/imaging/encoder"
    if encoder.exists():
        embedding = benchmark_embedding(cases, encoder)
        print(f"embedding: {embedding['embedding_seconds_per_case']:.3f} s per lesion on "
              f"{embedding['embedding_device']}; training {embedding['training_seconds_per_epoch']:.2f}"
              f" s per epoch ({embedding['training_n_cases']} lesions, {embedding['training_device']})")
    return 0


def _cmd_vcf_import(args) -> int:
    import pandas as pd

    from oncoweave.variants.vcf_benchmark import time_vcf_import

    if args.records < 1:
        raise InputError(f"--records must be at least 1, got {args.records}")
    workdir = Path(args.workdir) if args.workdir else Path(
        tempfile.mkdtemp(prefix="oncoweave-vcf-import-"))
    workdir.mkdir(parents=True, exist_ok=True)
    timings = time_vcf_import(workdir, args.records, args.seed)
    print(pd.DataFrame(timings).to_string(index=False, float_format="%.2f"))
    print(f"\n{args.records:,} records in {workdir}")
    return 0


def _cmd_maf_run(args) -> int:
    from oncoweave.cli.maf_benchmark import run_maf_cohort, write_maf_run
    from oncoweave.core.benchmark_files import format_summary, summarize_benchmarks

    if args.patients < 1 or args.cores < 1:
        raise InputError(f"--patients and --cores must be at least 1, got {args.patients} and "
                         f"{args.cores}")
    workdir = (Path(args.workdir) if args.workdir else Path(
        tempfile.mkdtemp(prefix="oncoweave-maf-run-"))).resolve()
    require_fresh_workdir(workdir)
    config_file = write_maf_run(workdir, args.patients, args.seed, args.territory_mb,
                                args.shard_size)
    try:
        wall_s, peak_mb = run_maf_cohort(workdir, config_file, args.cores)
    except RuntimeError as err:
        print(f"oncoweave benchmark maf-run: {err}", file=sys.stderr)
        return 1
    summary = summarize_benchmarks(workdir / "benchmarks")
    total_cpu_s = float(summary["total_cpu_s"].sum())
    print(format_summary(summary.sort_values("total_wall_s", ascending=False).head(12)))
    largest_job = float(summary["max_rss_mb"].max())
    print(f"\nworking directory: {workdir}")
    print(f"{args.patients:,} MAF patients through all: {wall_s:.1f} s on {args.cores} cores, "
          f"{int(summary['jobs'].sum()):,} jobs, rule CPU {total_cpu_s:.1f} s")
    print(f"peak memory: {max(peak_mb, largest_job):,.0f} MB (largest process of the run; "
          f"largest job by its benchmark: {largest_job:,.0f} MB)")
    return 0
