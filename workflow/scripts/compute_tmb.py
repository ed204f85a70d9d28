"""Tumour mutational burden of each patient of the shard, over its callable territory, over the
configured territory of a MAF's calls, or from the clinical sheet."""
import pandas as pd

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.therapy.tmb import TMB_SCHEMA, compute_tmb


def maf_outside_counts():
    """MAF patient -> its TMB-eligible MAF rows outside the reference regions (none: {})."""
    if "maf" not in snakemake.input.keys():
        return {}
    from oncoweave.variants.maf_import import maf_tmb_counts, split_maf
    from oncoweave.variants.maf_shards import read_shard_rows

    rows = read_shard_rows(snakemake.input.maf, "MAF")
    counts = maf_tmb_counts(split_maf(rows)[1])["total"].to_dict()
    return {patient: counts.get(patient, 0) for patient in rows["patient"].unique()}


def main():
    variants, _ = read_parquet(snakemake.input.variants)
    settings = snakemake.params.settings
    outside = maf_outside_counts()
    rows = []
    for patient in each_patient(snakemake.params.patients):
        beds = {kind: files["thresholds"] for kind, files in patient["coverage"].items()}
        clinical = patient["clinical_tmb"]
        rows.append(compute_tmb(
            variants, beds.get("tumour"), beds.get("normal"), patient=patient["patient"],
            min_depth=settings["min_depth"], min_callable_mb=settings["min_callable_mb"],
            clinical_tmb=float(clinical) if clinical != "" else None,
            maf_outside_mutations=outside.get(patient["patient"]),
            maf_territory_mb=settings.get("maf_territory_mb")))
        print(rows[-1])
    write_parquet(pd.DataFrame(rows, columns=TMB_SCHEMA.names), snakemake.output[0], TMB_SCHEMA,
                  {key: str(value) for key, value in settings.items()})


run_step(snakemake, main)
