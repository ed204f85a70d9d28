"""Tumour mutational burden of each patient of the shard, over its callable territory or from the
clinical sheet."""
import pandas as pd

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.therapy.tmb import TMB_SCHEMA, compute_tmb


def main():
    variants, _ = read_parquet(snakemake.input.variants)
    settings = snakemake.params.settings
    rows = []
    for patient in each_patient(snakemake.params.patients):
        beds = {kind: files["thresholds"] for kind, files in patient["coverage"].items()}
        clinical = patient["clinical_tmb"]
        rows.append(compute_tmb(
            variants, beds.get("tumour"), beds.get("normal"), patient=patient["patient"],
            min_depth=settings["min_depth"], min_callable_mb=settings["min_callable_mb"],
            clinical_tmb=float(clinical) if clinical != "" else None))
        print(rows[-1])
    write_parquet(pd.DataFrame(rows, columns=TMB_SCHEMA.names), snakemake.output[0], TMB_SCHEMA,
                  {key: str(value) for key, value in settings.items()})


run_step(snakemake, main)
