"""driver_score, its top contributions in words, and clonality for the shard's variants."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.core.paths import recorded_path
from oncoweave.core.threads import single_threaded_openmp
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.model import DriverModel
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.drivers.scoring import score_drivers


def main():
    # Every patient's variants in one table: the model loads once and scores them together.
    variants, metadata = read_parquet(snakemake.input.variants)
    model_dir = Path(snakemake.input.model[0]).parent
    with single_threaded_openmp():  # threads: 1 (see oncoweave.core.threads)
        drivers = score_drivers(variants, DriverModel.load(model_dir))
    write_parquet(drivers, snakemake.output[0], DRIVERS_SCHEMA,
                  {**metadata, "driver_model_dir": recorded_path(model_dir)})
    print(f"{variants['patient'].nunique()} patients, {len(drivers)} variants scored")


run_step(snakemake, main)
