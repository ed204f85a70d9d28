"""One cohort table from the shards' files of a stage, read together as a pyarrow dataset."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import concat_shard_tables


def main():
    table = concat_shard_tables(snakemake.input, snakemake.output[0])
    print(f"{table.num_rows} rows from {len(snakemake.input)} shards")


run_step(snakemake, main)
