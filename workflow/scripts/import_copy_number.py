"""The cohort's per-gene copy number from the config's published table (GISTIC or .seg)."""
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.variants.copy_number import read_copy_number_table, write_copy_number


def main():
    # The sample sheet's tumours (and the MAF's barcodes) name the table's samples.
    sample_to_patient = {sample: patient for patient, sample in snakemake.params.tumours.items()}
    table = read_copy_number_table(snakemake.input.table, sample_to_patient)
    write_copy_number(table, snakemake.output[0], {"input": Path(snakemake.input.table).name})
    counts = table.groupby(["gene", "call"]).size()
    print(f"{table['patient'].nunique()} patients, {len(table)} gene calls")
    for (gene, call), n in counts.items():
        print(f"  {gene} {call}: {n}")


run_step(snakemake, main)
