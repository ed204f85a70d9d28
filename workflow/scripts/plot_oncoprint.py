"""The cohort's oncoprint of the four driver genes, with their copy number when the run has it."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.report.cohort_figures import germline_pathogenic, plot_oncoprint, tumour_alterations
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA


def main():
    drivers = read_parquet(snakemake.input.drivers, DRIVERS_SCHEMA)[0]
    copy_number = None
    if "copy_number" in snakemake.input.keys():
        copy_number = read_parquet(snakemake.input.copy_number, COPY_NUMBER_SCHEMA)[0]
    threshold = snakemake.params.driver_threshold
    plot_oncoprint(tumour_alterations(drivers), germline_pathogenic(drivers, threshold),
                   snakemake.params.patients, snakemake.output[0], threshold=threshold,
                   copy_number=copy_number)


run_step(snakemake, main)
