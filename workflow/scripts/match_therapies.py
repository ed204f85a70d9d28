"""Therapies for the patient's driver calls and TMB, with evidence levels and AMP/ASCO/CAP tiers."""
from oncoweave.cli.glue import run_step
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.therapy.evidence import EVIDENCE_SCHEMA
from oncoweave.therapy.matching import THERAPIES_SCHEMA, match_therapies, reportable_tmb


def main():
    patient = snakemake.wildcards.patient
    drivers, _ = read_parquet(snakemake.input.drivers)
    evidence, _ = read_parquet(snakemake.input.evidence, expected_schema=EVIDENCE_SCHEMA)
    matches = match_therapies(drivers, evidence, patient=patient,
                              cancer_type=snakemake.params.cancer_type or None,
                              tmb=reportable_tmb(snakemake.input.tmb, patient))
    write_parquet(matches, snakemake.output[0], THERAPIES_SCHEMA,
                  {"cancer_type": snakemake.params.cancer_type})
    print(f"{patient}: {len(matches)} therapy matches")


run_step(snakemake, main)
