"""Therapies for each patient's driver calls and TMB in the shard, with evidence levels and
AMP/ASCO/CAP tiers."""
import logging

from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA
from oncoweave.therapy.evidence import EVIDENCE_SCHEMA
from oncoweave.therapy.matching import THERAPIES_SCHEMA, match_patients, reportable_tmbs

log = logging.getLogger("oncoweave")


def main():
    drivers, _ = read_parquet(snakemake.input.drivers)
    evidence, _ = read_parquet(snakemake.input.evidence, expected_schema=EVIDENCE_SCHEMA)
    tmb = reportable_tmbs(snakemake.input.tmb)
    rows = snakemake.params.patients
    copy_number = None
    if "copy_number" in snakemake.input.keys():
        copy_number, _ = read_parquet(snakemake.input.copy_number,
                                      expected_schema=CN_DRIVERS_SCHEMA)
    # The whole shard in one pass (the same rows, in the same order, as one patient at a time).
    matches = match_patients(drivers, evidence, [(row["patient"], row["cancer_type"] or None,
                                                  tmb.get(row["patient"])) for row in rows],
                             copy_number=copy_number)
    counts = matches["patient"].value_counts()
    for row in rows:
        print(f"{row['patient']}: {counts.get(row['patient'], 0)} therapy matches")
    log.info("%d patients: %d therapy matches", len(rows), len(matches))
    # The cancer type each patient was matched for (the report says so).
    cancer_types = {row["patient"]: row["cancer_type"] for row in rows}
    write_parquet(matches, snakemake.output[0], THERAPIES_SCHEMA,
                  {"cancer_type": ";".join(f"{p}={t}" for p, t in sorted(cancer_types.items()))})


run_step(snakemake, main)
