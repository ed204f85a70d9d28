"""Fit, calibrate and honestly evaluate the driver model; write it with its model card."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.drivers.labels import TRAINING_SCHEMA
from oncoweave.drivers.training import train_driver_model


def main():
    training, _ = read_parquet(snakemake.input[0], TRAINING_SCHEMA)
    train_driver_model(training, Path(snakemake.output.model).parent, snakemake.params.seed)


run_step(snakemake, main)
