"""Fit, calibrate and honestly evaluate the driver model; write it with its model card."""
from pathlib import Path

from oncoweave.driver_labels import TRAINING_SCHEMA
from oncoweave.driver_model import train_driver_model
from oncoweave.glue import run_step
from oncoweave.variants import read_parquet


def main():
    training, _ = read_parquet(snakemake.input[0], TRAINING_SCHEMA)
    train_driver_model(training, Path(snakemake.output.model).parent, snakemake.params.seed)


run_step(snakemake, main)
