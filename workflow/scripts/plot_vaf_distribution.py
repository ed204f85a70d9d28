"""Tumour VAF distributions of the cohort's PASS calls."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.report.cohort_figures import plot_vaf_distribution
from oncoweave.variants.schema import VARIANTS_SCHEMA


def main():
    plot_vaf_distribution(read_parquet(snakemake.input[0], VARIANTS_SCHEMA)[0], snakemake.output[0])


run_step(snakemake, main)
