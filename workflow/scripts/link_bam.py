"""One user BAM (checked by check_bam): linked, indexed, then its QC (oncoweave.variants.alignment)."""
from oncoweave.cli.glue import run_step
from oncoweave.variants.alignment import link_bam


def main():
    inputs, outputs = snakemake.input, snakemake.output
    link_bam(inputs.bam, sample=snakemake.wildcards.bam_sample, fasta=inputs.fasta,
             targets=inputs.targets, bam=outputs.bam, bai=outputs.bai, qc_dir=outputs.qc,
             threads=snakemake.threads)


run_step(snakemake, main)
