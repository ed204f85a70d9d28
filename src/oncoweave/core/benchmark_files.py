"""Snakemake benchmark files read into tables: one row per job, a per-rule summary, its plot.

Every rule writes ``benchmarks/<rule>/<wildcards>.tsv`` (Snakemake's ``benchmark:`` directive):
one row per repeat with wall seconds ``s``, ``max_rss`` (MB), ``cpu_time`` (s) and more; fields
that could not be sampled (jobs faster than Snakemake's sampling interval) read ``NA`` or ``-``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
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


def orchestration_overhead(wall_s: float, total_job_s: float, cores: int) -> float:
    """End-to-end wall over the ideal wall (the jobs' seconds, wall or CPU, spread over all
    cores); 1.0 = none."""
    ideal_wall_s = total_job_s / cores
    return wall_s / ideal_wall_s if ideal_wall_s > 0 else float("inf")
