"""Therapies for each patient's driver calls and TMB in the shard, with evidence levels and
AMP/ASCO/CAP tiers."""
import pandas as pd

from oncoweave.cli.glue import each_patient, run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.therapy.evidence import EVIDENCE_SCHEMA
from oncoweave.therapy.matching import THERAPIES_SCHEMA, match_therapies, reportable_tmbs


def main():
    drivers, _ = read_parquet(snakemake.input.drivers)
    evidence, _ = read_parquet(snakemake.input.evidence, expected_schema=EVIDENCE_SCHEMA)
    tmb = reportable_tmbs(snakemake.input.tmb)
    tables, cancer_types = [], {}
    for row in each_patient(snakemake.params.patients):
        patient = row["patient"]
        cancer_types[patient] = row["cancer_type"]
        tables.append(match_therapies(drivers, evidence, patient=patient,
                                      cancer_type=row["cancer_type"] or None,
                                      tmb=tmb.get(patient)))
        print(f"{patient}: {len(tables[-1])} therapy matches")
    matches = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=THERAPIES_SCHEMA.names)
    # The cancer type each patient was matched for (the report says so).
    write_parquet(matches, snakemake.output[0], THERAPIES_SCHEMA,
                  {"cancer_type": ";".join(f"{p}={t}" for p, t in sorted(cancer_types.items()))})


run_step(snakemake, main)
