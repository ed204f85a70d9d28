"""The cohort's lesions: size, shape and intensity per lesion and per modality."""
from oncoweave.cohort_report import radiomics_page, write_html
from oncoweave.glue import run_step
from oncoweave.variants import read_parquet


def main():
    write_html(radiomics_page(read_parquet(snakemake.input[0])[0]), snakemake.output[0])


run_step(snakemake, main)
