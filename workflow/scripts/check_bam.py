"""A BAM/CRAM input must be one, be aligned to the configured reference's contigs and be
coordinate-sorted."""
from oncoweave.cli.glue import run_step
from oncoweave.genome.reference import fasta_contigs
from oncoweave.variants.inputs import check_bam


def main():
    check_bam(snakemake.input.bam, fasta_contigs(snakemake.input.fai),
              reference_fasta=snakemake.input.fasta)


run_step(snakemake, main)
