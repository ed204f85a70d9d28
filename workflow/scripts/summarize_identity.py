"""The cohort's tumour/normal identity table, also as a MultiQC section."""
from oncoweave.cli.glue import run_step
from oncoweave.variants.identity import summarize_identity


def main():
    table = summarize_identity(snakemake.input, snakemake.output.table, snakemake.output.multiqc)
    print(table.to_string(index=False))


run_step(snakemake, main)
