"""The cohort's copy number per gene: patients amplified, gained, lost, deep-deleted."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.report.cohort_copy_number import copy_number_page
from oncoweave.report.cohort_tables import write_html
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA


def main():
    table, metadata = read_parquet(snakemake.input[0], COPY_NUMBER_SCHEMA)
    source = (metadata or {}).get("input") or Path(snakemake.input[0]).name
    write_html(copy_number_page(table, source), snakemake.output[0])


run_step(snakemake, main)
