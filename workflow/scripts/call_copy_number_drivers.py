"""Copy-number driver calls of the shard's patients beside their point-mutation driver scores."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA, copy_number_drivers
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA


def main():
    copy_number, _ = read_parquet(snakemake.input.copy_number, expected_schema=COPY_NUMBER_SCHEMA)
    drivers, _ = read_parquet(snakemake.input.drivers)
    patients = {row["patient"] for row in snakemake.params.patients}
    shard = copy_number[copy_number["patient"].isin(patients)]
    table = copy_number_drivers(shard, drivers, min_driver_score=snakemake.params.threshold)
    write_parquet(table, snakemake.output[0], CN_DRIVERS_SCHEMA,
                  {"min_driver_score": str(snakemake.params.threshold)})
    for row in table[table["driver"]].itertuples():
        print(f"{row.patient}: {row.reason}")
    print(f"{len(table)} gene calls, {int(table['driver'].sum())} copy-number drivers")


run_step(snakemake, main)
