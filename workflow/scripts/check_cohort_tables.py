"""The MAF checked for maftools/cBioPortal, and an index of the exported cohort tables."""
from oncoweave.cli.glue import run_step
from oncoweave.report.cohort_tables import cohort_tables_page, validated_maf, write_html


def main():
    maf = validated_maf(snakemake.input.maf)
    write_html(cohort_tables_page(maf, dict(snakemake.input.items())), snakemake.output[0])


run_step(snakemake, main)
