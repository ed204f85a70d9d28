"""Tumour/normal identity: genotype concordance at the normal's germline sites (scikit-allel)."""
from oncoweave.cli.glue import run_step
from oncoweave.variants.identity import check_pair_identity, write_identity_tsv


def main():
    samples = snakemake.params.samples
    result = check_pair_identity(snakemake.input[0], samples["tumour"], samples["normal"],
                                 **snakemake.params.settings)
    write_identity_tsv(result, snakemake.wildcards.patient, snakemake.output[0])


run_step(snakemake, main)
