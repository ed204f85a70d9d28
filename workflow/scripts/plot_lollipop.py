"""The cohort's observed mutations of one driver gene along its protein."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.genome.protein import load_domains
from oncoweave.report.cohort_figures import plot_lollipop, protein_lengths, tumour_alterations


def main():
    gene = snakemake.wildcards.gene
    drivers = read_parquet(snakemake.input.drivers, DRIVERS_SCHEMA)[0]
    length = protein_lengths(snakemake.input.proteins)[gene]
    plot_lollipop(tumour_alterations(drivers), gene, length,
                  load_domains(snakemake.input.domains).get(gene, []), snakemake.output[0],
                  threshold=snakemake.params.driver_threshold,
                  n_patients=len(snakemake.params.patients))


run_step(snakemake, main)
