"""The cohort's radiomic features in one table (every patient extracted with the same settings)."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.radiomics import merge_radiomics


def main():
    merge_radiomics(snakemake.input, snakemake.output[0])


run_step(snakemake, main)
