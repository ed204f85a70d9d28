"""Every job's benchmark file in one table, and a per-rule plot of run time and memory."""
from oncoweave.core.benchmark_files import (
    BENCHMARKS_SCHEMA,
    benchmark_jobs,
    format_summary,
    plot_benchmarks,
    summarize_benchmarks,
)
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import write_parquet


def main():
    write_parquet(benchmark_jobs(snakemake.params.benchmarks), snakemake.output.table,
                  BENCHMARKS_SCHEMA)
    summary = summarize_benchmarks(snakemake.params.benchmarks)
    plot_benchmarks(summary, snakemake.output.plot)
    print(format_summary(summary))


run_step(snakemake, main)
