"""The cohort's per-gene copy number: CNVkit's of the read tumours, the published table's else."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA, merge_copy_number, write_copy_number


def main():
    measured = [read_parquet(path, expected_schema=COPY_NUMBER_SCHEMA)[0]
                for path in snakemake.input.cnvkit]
    published = None
    if "published" in snakemake.input.keys():
        published = read_parquet(snakemake.input.published, expected_schema=COPY_NUMBER_SCHEMA)[0]
    table = merge_copy_number(measured, published)
    write_copy_number(table, snakemake.output[0])
    for (source, call), n in table.groupby(["source", "call"]).size().items():
        print(f"{source} {call}: {n}")


run_step(snakemake, main)
