"""The cohort's per-gene copy number: CNVkit's of the read tumours, the published table's else."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA, merge_copy_number, write_copy_number


def main():
    measured = [read_parquet(path, expected_schema=COPY_NUMBER_SCHEMA)[0]
                for path in snakemake.params.cnvkit_genes]
    published, sources = None, []
    if measured:
        sources.append(f"CNVkit on {len(measured)} read tumour(s)")
    if "published" in snakemake.input.keys():
        published, metadata = read_parquet(snakemake.input.published,
                                           expected_schema=COPY_NUMBER_SCHEMA)
        sources.append((metadata or {}).get("input") or "the published table")
    table = merge_copy_number(measured, published)
    # "input" names where the rows came from: the cohort report's summary page says it.
    write_copy_number(table, snakemake.output[0], {"input": " and ".join(sources)})
    for (source, call), n in table.groupby(["source", "call"]).size().items():
        print(f"{source} {call}: {n}")


run_step(snakemake, main)
