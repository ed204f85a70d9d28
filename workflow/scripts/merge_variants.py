"""The cohort's variants: one Parquet table and a MAF for maftools / cBioPortal."""
from oncoweave.cli.glue import run_step
from oncoweave.variants.cohort import merge_variants


def main():
    merge_variants(snakemake.input, snakemake.output.parquet, snakemake.output.maf,
                   metadata={"config_hash": snakemake.params.config_hash})


run_step(snakemake, main)
