"""Somatic / germline / LOH / tumour-only calls from tumour and normal allele counts."""
import pandas as pd

from oncoweave.cli.glue import run_step
from oncoweave.variants.classify import CallingThresholds, classify_vcf


def main():
    samples = snakemake.params.samples
    identity = pd.read_csv(snakemake.input.identity, sep="\t").iloc[0]
    # A pair that failed the identity check is never analysed as a pair.
    summary = classify_vcf(snakemake.input.vcf, snakemake.output.vcf, samples["tumour"],
                           samples["normal"], CallingThresholds.from_mapping(
                               snakemake.params.thresholds, source="config calling.thresholds"),
                           pair_ok=identity["status"] != "fail")
    print(summary)


run_step(snakemake, main)
