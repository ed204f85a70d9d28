"""Integrity of a FASTQ pair (gzip intact, records well formed, mates pair) before any trimming."""
from oncoweave.glue import run_step
from oncoweave.inputs import check_fastq_pair


def main():
    first, second = check_fastq_pair(snakemake.input.r1, snakemake.input.r2)
    print(f"{first.path}: {first.records} records, {first.bases} bases; "
          f"{second.path}: {second.records} records, {second.bases} bases")


run_step(snakemake, main)
