"""The cohort's variants: one Parquet table and a MAF for maftools / cBioPortal."""
from oncoweave.cohort import merge_variants
from oncoweave.glue import run_step


def main():
    merge_variants(snakemake.input, snakemake.output.parquet, snakemake.output.maf,
                   metadata={"config_hash": snakemake.params.config_hash})


run_step(snakemake, main)
