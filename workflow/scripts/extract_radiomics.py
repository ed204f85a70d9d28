"""pyradiomics features of each ingested lesion of the shard's patients."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.ingest import ingested_cases
from oncoweave.imaging.radiomics import radiomics_table, write_radiomics


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"])
    table = radiomics_table(cases, snakemake.input.params)
    write_radiomics(table, snakemake.output[0], snakemake.input.params)


run_step(snakemake, main)
