"""Every patient's therapy matches at their best AMP/ASCO/CAP tier: one Parquet, one report page."""
import pandas as pd

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.report.cohort_tables import (
    THERAPY_TIERS_SCHEMA,
    therapy_tiers,
    therapy_tiers_page,
    write_html,
)
from oncoweave.therapy.matching import THERAPIES_SCHEMA


def main():
    therapies = pd.concat([read_parquet(path, THERAPIES_SCHEMA)[0] for path in snakemake.input],
                          ignore_index=True)
    tiers = therapy_tiers(therapies)
    write_parquet(tiers, snakemake.output.table, THERAPY_TIERS_SCHEMA)
    write_html(therapy_tiers_page(tiers, snakemake.params.patients), snakemake.output.page)


run_step(snakemake, main)
