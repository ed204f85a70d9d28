"""Tumour VAF distributions of the cohort's PASS calls."""
from oncoweave.cohort_report import plot_vaf_distribution
from oncoweave.glue import run_step
from oncoweave.variants import VARIANTS_SCHEMA, read_parquet


def main():
    plot_vaf_distribution(read_parquet(snakemake.input[0], VARIANTS_SCHEMA)[0], snakemake.output[0])


run_step(snakemake, main)
