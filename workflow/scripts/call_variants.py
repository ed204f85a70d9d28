"""Candidate calls of the shard's read patients: one bcftools pileup each, `threads` at a time."""
from oncoweave.cli.glue import run_step
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.variants.pileup import call_patients


def main():
    params = snakemake.params
    with directory_replaced_on_success(snakemake.output[0]) as folder:
        call_patients(params.patients, folder, fasta=snakemake.input.fasta,
                      targets=snakemake.input.targets, min_base_quality=params.min_bq,
                      min_mapping_quality=params.min_mq, threads=snakemake.threads)


run_step(snakemake, main)
