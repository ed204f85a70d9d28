"""The evidence table: CIViC (2018, CC0) plus curated current standards with citations."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import write_parquet
from oncoweave.therapy.evidence import EVIDENCE_SCHEMA, build_evidence


def main():
    table, left_out = build_evidence(snakemake.input.civic, snakemake.input.curated)
    write_parquet(table, snakemake.output[0], EVIDENCE_SCHEMA,
                  {f"civic_left_out_{reason}": str(n) for reason, n in left_out.items()})
    print(f"{len(table)} evidence rows; CIViC items left out: {left_out}")


run_step(snakemake, main)
