"""pyradiomics features of each ingested lesion of one patient."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.ingest import ingested_cases
from oncoweave.imaging.radiomics import radiomics_table, write_radiomics


def main():
    cases = ingested_cases(snakemake.input.records, snakemake.input.images, snakemake.input.masks)
    table = radiomics_table(cases, snakemake.input.params)
    write_radiomics(table, snakemake.output[0], snakemake.input.params)


run_step(snakemake, main)
