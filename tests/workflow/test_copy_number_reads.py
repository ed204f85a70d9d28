"""The toy run's copy number from reads (CNVkit) against the events planted in its reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oncoweave.core.tables import read_parquet
from oncoweave.variants.caller_evaluation import copy_number_truth, truth_table
from oncoweave.variants.cnvkit_calls import CNVKIT_SEGMENT_SCHEMA
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def copy_number(toy_run):
    workdir, _ = toy_run
    truth_vcf = workdir / "results/toy_cohort/truth.vcf.gz"
    planted = copy_number_truth(truth_vcf)
    read_patients = set(truth_table(truth_vcf)["patient"])
    table, _ = read_parquet(workdir / "results/cohort/copy_number.parquet",
                            expected_schema=COPY_NUMBER_SCHEMA)
    return workdir, planted, read_patients, table


def test_planted_copy_number_events_are_found_and_nothing_else(copy_number):
    workdir, planted, read_patients, table = copy_number
    assert set(planted["kind"]) == {"amplification", "deletion", "cn_loh"}
    assert set(table["source"]) == {"cnvkit"} and set(table["patient"]) == read_patients
    assert len(table) == 4 * len(read_patients)
    calls = table.set_index(["patient", "gene"])
    expected = {(row.patient, row.gene): row.call for row in planted.itertuples()}
    found = {key for key, call in expected.items() if calls.at[key, "call"] == call}
    false = {key: call for key, call in calls["call"].items()
             if key not in expected and call != "neutral"}
    print(f"\ncopy number from reads: {len(found)} of {len(expected)} planted events found, "
          f"{len(false)} false calls in {len(calls) - len(expected)} other patient-genes\n"
          + table.to_string(index=False))
    assert found == set(expected), {key: calls.at[key, "call"] for key in expected}
    assert not false
    egfr = calls.loc[("P06", "EGFR")]
    assert 6 <= egfr["total_copy_number"] <= 10 and egfr["log2_ratio"] > 1.0
    copies = ["total_copy_number", "minor_copy_number"]
    assert calls.loc[("P07", "BRCA2"), copies].tolist() == [1, 0]
    assert calls.loc[("P03", "BRCA1"), copies].tolist() == [2, 0]
    for patient in sorted(read_patients):
        # One CNVkit job per shard: each tumour's files in its own folder of the shard's output.
        (path,) = workdir.glob(f"results/shards/*/copy_number_reads/{patient}/segments.parquet")
        segments, metadata = read_parquet(path, expected_schema=CNVKIT_SEGMENT_SCHEMA)
        assert len(segments) >= 4
        assert metadata["reference"] == ("pooled reference of the cohort's normals"
                                         if patient == "P08" else f"paired normal {patient}-N")


def test_copy_number_drivers_and_features_follow_the_planted_events(copy_number):
    workdir, _, read_patients, _ = copy_number
    shards = sorted((workdir / "results/shards").glob("*/copy_number_drivers.parquet"))
    cn_drivers = pd.concat(pd.read_parquet(path) for path in shards)
    drivers = cn_drivers[cn_drivers["driver"]].set_index(["patient", "gene"])
    assert set(drivers.index) == {("P06", "EGFR"), ("P07", "BRCA2")}
    assert drivers.loc[("P06", "EGFR"), "alteration"] == "amplification"
    brca2 = drivers.loc[("P07", "BRCA2")]
    assert bool(brca2["biallelic"]) and "S1982Rfs" in brca2["second_hit"]
    loh = cn_drivers.set_index(["patient", "gene"]).loc[("P03", "BRCA1")]
    assert loh["call"] == "loh" and not loh["driver"]
    features = pd.read_parquet(workdir / "results/cohort/patient_features.parquet").set_index(
        "patient")
    assert features.at["P06", "gen_EGFR_cn"] == 2
    assert features.at["P07", "gen_BRCA2_biallelic"] == 1
    assert features.at["P03", "gen_BRCA1_loh"] == 1
    paired = sorted(read_patients - {"P03", "P07", "P08"})
    assert features.loc[paired, "gen_BRCA1_loh"].eq(0).all()
    # P08 has no normal: CNVkit's "no loss" cannot rule out copy-neutral LOH, so it stays unknown.
    assert np.isnan(features.at["P08", "gen_BRCA1_loh"])


def test_the_copy_number_rule_cost_per_patient(copy_number):
    """One CNVkit job per shard with read tumours (10,000 paired patients plan 200 of them, not
    10,000); each tumour's files in the shard's folder."""
    workdir, _, read_patients, _ = copy_number
    runs = pd.concat(pd.read_csv(path, sep="\t").assign(shard=path.stem) for path in
                     sorted((workdir / "benchmarks/call_copy_number_reads").glob("*.tsv")))
    # Directory outputs also hold Snakemake's .snakemake_timestamp.
    folders = [path for path in workdir.glob("results/shards/*/copy_number_reads/*")
               if path.is_dir()]
    tumours = {folder.name for folder in folders}
    assert tumours == read_patients
    assert set(runs["shard"]) == {folder.parent.parent.name for folder in folders}
    pooled = pd.read_csv(workdir / "benchmarks/cnvkit_pooled_reference/cohort.tsv", sep="\t")
    print(f"\ncall_copy_number_reads: {runs['s'].sum():.1f} s of wall for {len(tumours)} "
          f"tumours in {len(runs)} job(s) ({runs['s'].sum() / len(tumours):.1f} s a tumour); "
          f"pooled reference {pooled['s'].iat[0]:.1f} s")
