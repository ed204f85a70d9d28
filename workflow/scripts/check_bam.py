"""A BAM/CRAM input must be one, and be aligned to the configured reference's contigs."""
from oncoweave.cli.glue import run_step
from oncoweave.genome.reference import fasta_contigs
from oncoweave.variants.inputs import check_bam


def main():
    check_bam(snakemake.input.bam, fasta_contigs(snakemake.input.fai))


run_step(snakemake, main)
