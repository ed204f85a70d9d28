"""The cohort's lesions: size, shape and intensity per lesion and per modality."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.report.cohort_tables import radiomics_page, write_html


def main():
    write_html(radiomics_page(read_parquet(snakemake.input[0])[0]), snakemake.output[0])


run_step(snakemake, main)
