"""Tumour mutational burden over the callable territory, or from the clinical sheet."""
import pandas as pd

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.therapy.tmb import TMB_SCHEMA, compute_tmb


def main():
    variants, _ = read_parquet(snakemake.input.variants)
    clinical = snakemake.params.clinical_tmb
    settings = snakemake.params.settings
    row = compute_tmb(variants, snakemake.input.get("tumour"), snakemake.input.get("normal"),
                      patient=snakemake.wildcards.patient, min_depth=settings["min_depth"],
                      min_callable_mb=settings["min_callable_mb"],
                      clinical_tmb=float(clinical) if clinical != "" else None)
    write_parquet(pd.DataFrame([row]), snakemake.output[0], TMB_SCHEMA,
                  {key: str(value) for key, value in settings.items()})
    print(row)


run_step(snakemake, main)
