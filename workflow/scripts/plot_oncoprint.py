"""The cohort's oncoprint of the four driver genes."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.report.cohort_figures import germline_pathogenic, plot_oncoprint, tumour_alterations


def main():
    drivers = read_parquet(snakemake.input.drivers, DRIVERS_SCHEMA)[0]
    threshold = snakemake.params.driver_threshold
    plot_oncoprint(tumour_alterations(drivers), germline_pathogenic(drivers, threshold),
                   snakemake.params.patients, snakemake.output[0], threshold=threshold)


run_step(snakemake, main)
