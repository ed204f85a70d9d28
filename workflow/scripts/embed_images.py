"""Embed each ingested lesion with the cohort's trained encoder."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.imaging.deep_features import embed_cases, write_deep_features
from oncoweave.imaging.ingest import ingested_cases


def main():
    lesions = snakemake.params.lesions
    cases = ingested_cases(lesions["records"], lesions["images"], lesions["masks"])
    bundle = Path(snakemake.input.model).parent.parent
    write_deep_features(embed_cases(cases, bundle), snakemake.output[0], bundle)


run_step(snakemake, main)
