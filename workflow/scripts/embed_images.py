"""Embed each ingested lesion with the cohort's trained encoder (no rows, with the reason, when
the encoder was not fitted)."""
from oncoweave.cli.glue import run_step
from oncoweave.imaging.deep_features import embed_cohort
from oncoweave.imaging.ingest import ingested_cases


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"])
    embed_cohort(cases, snakemake.input.bundle, snakemake.output[0])


run_step(snakemake, main)
