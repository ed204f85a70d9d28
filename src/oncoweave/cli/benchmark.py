"""Per-rule resource summary of Snakemake benchmark files, and a timed run of the toy cohort.

Every rule writes ``benchmarks/<rule>/<wildcards>.tsv`` (Snakemake's ``benchmark:`` directive):
one row per repeat with wall seconds ``s``, ``max_rss`` (MB), ``cpu_time`` (s) and more; fields
that could not be sampled (jobs faster than Snakemake's sampling interval) read ``NA`` or ``-``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.paths import REPO_ROOT
from oncoweave.core.tables import schema_field

BENCHMARK_COLUMNS = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                     "mean_load", "cpu_time"]
SUMMARY_COLUMNS = ["rule", "jobs", "total_wall_s", "mean_wall_s", "max_wall_s", "total_cpu_s",
                   "max_rss_mb"]


def summarize_benchmarks(benchmark_dir: str | Path) -> pd.DataFrame:
    """One row per rule: jobs, total/mean/max wall seconds, total CPU seconds, max RSS (MB).

    A job is one benchmark file (repeats inside it are averaged); unsampled CPU/RSS values are
    left out of the sums and maxima rather than counted as zero.
    """
    summary = benchmark_jobs(benchmark_dir).groupby("rule", sort=True).agg(
        jobs=("wall_s", "size"),
        total_wall_s=("wall_s", "sum"),
        mean_wall_s=("wall_s", "mean"),
        max_wall_s=("wall_s", "max"),
        total_cpu_s=("cpu_s", "sum"),
        max_rss_mb=("max_rss_mb", "max"),
    ).reset_index()
    return summary[SUMMARY_COLUMNS]


BENCHMARKS_SCHEMA = pa.schema([
    schema_field("rule", pa.string(), "Rule name (first folder below benchmarks/)"),
    schema_field("job", pa.string(), "The job's wildcards: the benchmark file's path below the rule"),
    schema_field("wall_s", pa.float64(), "Wall-clock seconds (mean over repeats)"),
    schema_field("cpu_s", pa.float64(), "CPU seconds; null when the job was too short to sample", True),
    schema_field("max_rss_mb", pa.float64(), "Peak resident memory (MB); null when unsampled", True),
])


def benchmark_jobs(benchmark_dir: str | Path) -> pd.DataFrame:
    """One row per job (benchmark file), in BENCHMARKS_SCHEMA's columns, sorted by rule and job."""
    benchmark_dir = Path(benchmark_dir)
    files = sorted(benchmark_dir.rglob("*.tsv"))
    if not files:
        raise InputError("no benchmark files (*.tsv) found", path=benchmark_dir)
    return pd.DataFrame([_read_job(path, benchmark_dir) for path in files],
                        columns=BENCHMARKS_SCHEMA.names)


def plot_benchmarks(summary: pd.DataFrame, path: str | Path) -> None:
    """Total wall seconds and peak memory per rule, side by side (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summary.sort_values("total_wall_s")
    figure, (wall, memory) = plt.subplots(1, 2, sharey=True,
                                          figsize=(10, 0.28 * len(summary) + 1.5))
    wall.barh(summary["rule"], summary["total_wall_s"], color="tab:blue")
    wall.set_xlabel("wall seconds, all jobs of the rule")
    memory.barh(summary["rule"], summary["max_rss_mb"].fillna(0), color="tab:orange")
    memory.set_xlabel("peak memory of one job (MB)")
    figure.tight_layout()
    with replaced_on_success(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)


def _read_job(path: Path, benchmark_dir: Path) -> dict:
    """Wall, CPU and peak RSS of one benchmark file; the rule is its first folder below the root."""
    try:
        table = pd.read_csv(path, sep="\t", na_values=["NA", "-"])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"not a Snakemake benchmark TSV ({err})", path=path) from None
    missing = [c for c in ("s", "max_rss", "cpu_time") if c not in table.columns]
    if missing:
        raise InputError(f"not a Snakemake benchmark TSV: missing columns {missing}", path=path)
    if table.empty:
        raise InputError("benchmark file has no rows", path=path)
    for column in ("s", "max_rss", "cpu_time"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & table[column].notna()
        if bad.any():
            raise InputError(f"not a number: {table[column][bad].iloc[0]!r}", path=path,
                             row=int(bad.idxmax()) + 2, column=column)
        table[column] = values
    relative = path.relative_to(benchmark_dir)
    rule = relative.parts[0] if len(relative.parts) > 1 else relative.stem
    job = str(Path(*relative.parts[1:]).with_suffix("")) if len(relative.parts) > 1 else ""
    return {"rule": rule, "job": job, "wall_s": table["s"].mean(),
            "cpu_s": table["cpu_time"].mean(), "max_rss_mb": table["max_rss"].max()}


def format_summary(summary: pd.DataFrame) -> str:
    return summary.to_string(index=False, float_format=lambda value: f"{value:.2f}")


def orchestration_overhead(wall_s: float, total_cpu_s: float, cores: int) -> float:
    """End-to-end wall over the ideal wall (all rule CPU spread over all cores); 1.0 = none."""
    ideal_wall_s = total_cpu_s / cores
    return wall_s / ideal_wall_s if ideal_wall_s > 0 else float("inf")


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
    print(format_summary(summarize_benchmarks(args.benchmarks)))
    return 0


def _cmd_toy_run(args) -> int:
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
    print(format_summary(summary))
    print(f"\nworking directory: {workdir}")
    print(f"end-to-end wall: {wall_s:.1f} s on {args.cores} cores; rule CPU: {total_cpu_s:.1f} s")
    print(f"orchestration overhead (wall / (rule CPU / cores)): "
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
