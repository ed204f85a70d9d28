"""Every possible SNV of the four canonical coding sequences scored, with lollipop plots."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.core.paths import recorded_path
from oncoweave.core.threads import single_threaded_openmp
from oncoweave.core.tables import write_parquet
from oncoweave.drivers.features import DriverKnowledge
from oncoweave.drivers.model import DriverModel
from oncoweave.drivers.plots import lollipop_plots
from oncoweave.drivers.schema import SATURATION_SCHEMA
from oncoweave.drivers.scoring import score_saturation


def main():
    model_dir = Path(snakemake.input.model[0]).parent
    knowledge = DriverKnowledge.load()
    with single_threaded_openmp():  # threads: 1 (see oncoweave.core.threads)
        saturation = score_saturation(DriverModel.load(model_dir), knowledge)
    write_parquet(saturation, snakemake.output.table, SATURATION_SCHEMA,
                  {"driver_model_dir": recorded_path(model_dir)})
    lollipop_plots(saturation, knowledge, Path(snakemake.output.plots[0]).parent)


run_step(snakemake, main)
