"""The MAF checked for maftools/cBioPortal, and an index of the exported cohort tables."""
from oncoweave.cohort_report import cohort_tables_page, validated_maf, write_html
from oncoweave.glue import run_step


def main():
    maf = validated_maf(snakemake.input.maf)
    write_html(cohort_tables_page(maf, dict(snakemake.input.items())), snakemake.output[0])


run_step(snakemake, main)
