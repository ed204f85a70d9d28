"""Every possible SNV of the four canonical coding sequences scored, with lollipop plots."""
from pathlib import Path

from oncoweave.driver_features import DriverKnowledge
from oncoweave.driver_model import SATURATION_SCHEMA, DriverModel, lollipop_plots, score_saturation
from oncoweave.glue import run_step
from oncoweave.variants import write_parquet


def main():
    model_dir = Path(snakemake.input.model[0]).parent
    knowledge = DriverKnowledge.load()
    saturation = score_saturation(DriverModel.load(model_dir), knowledge)
    write_parquet(saturation, snakemake.output.table, SATURATION_SCHEMA,
                  {"driver_model_dir": str(model_dir)})
    lollipop_plots(saturation, knowledge, Path(snakemake.output.plots[0]).parent)


run_step(snakemake, main)
