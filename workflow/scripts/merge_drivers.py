"""The cohort's scored variants in one table."""
import pandas as pd

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.schema import DRIVERS_SCHEMA


def main():
    tables = [read_parquet(path, DRIVERS_SCHEMA)[0] for path in snakemake.input]
    write_parquet(pd.concat(tables, ignore_index=True), snakemake.output[0], DRIVERS_SCHEMA)


run_step(snakemake, main)
