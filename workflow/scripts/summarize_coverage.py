"""Coverage per driver gene of each patient of the shard with reads, from mosdepth, as Parquet."""
import pandas as pd

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.tables import write_parquet
from oncoweave.variants.coverage import COVERAGE_SCHEMA, coverage_rows


def main():
    params = snakemake.params
    tables = [
        coverage_rows(row["patient"], row[kind], kind, files["regions"], files["thresholds"],
                      params.genes)
        for row in each_patient([row for row in params.patients if row["coverage"]])
        for kind, files in row["coverage"].items()
    ]
    write_parquet(pd.concat(tables, ignore_index=True), snakemake.output[0], COVERAGE_SCHEMA,
                  {"mosdepth_outputs": "regions.bed.gz, thresholds.bed.gz",
                   "config_hash": params.config_hash})


run_step(snakemake, main)
