"""One FASTQ sample: check, fastp, bwa mem, sort, markdup, then its QC (oncoweave.variants.alignment)."""
from oncoweave.cli.glue import run_step
from oncoweave.variants.alignment import align_pair


def main():
    inputs, outputs = snakemake.input, snakemake.output
    # No label here: run_step prefixes the job's error with params.label (once).
    align_pair(inputs.r1, inputs.r2, sample=snakemake.wildcards.fastq_sample,
               index_prefix=snakemake.params.index_prefix,
               fasta=inputs.fasta, targets=inputs.targets, bam=outputs.bam, bai=outputs.bai,
               qc_dir=outputs.qc, threads=snakemake.threads, tmpdir=snakemake.resources.tmpdir,
               fastp_extra=snakemake.params.fastp_extra)


run_step(snakemake, main)
