"""Labelled variants of the four genes (ClinVar truth sets, cancer hotspots, CIViC) with features."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import write_parquet
from oncoweave.drivers.labels import TRAINING_SCHEMA, build_training_set


def main():
    training = build_training_set(Path(snakemake.input[0]).parent)
    write_parquet(training, snakemake.output[0], TRAINING_SCHEMA)
    print(training.groupby(["gene", "label"]).size().to_string())


run_step(snakemake, main)
