"""A BAM/CRAM input must be one, and be aligned to the configured reference's contigs."""
from oncoweave.glue import run_step
from oncoweave.inputs import check_bam
from oncoweave.reference import fasta_contigs


def main():
    check_bam(snakemake.input.bam, fasta_contigs(snakemake.input.fai))


run_step(snakemake, main)
