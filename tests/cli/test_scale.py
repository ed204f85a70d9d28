"""Cohort-scale planning (oncoweave.cli.scale): synthetic sheets and the dry-run timing they report."""

from __future__ import annotations

import pandas as pd
import pytest

from oncoweave.cli import scale

PATIENTS = 20


def test_synthetic_cohort_is_paired_fastq_rows_with_existing_files(tmp_path):
    config_file = scale.write_cohort(tmp_path, 3)
    sheet = pd.read_csv(config_file.parent / "samples.tsv", sep="\t", dtype=str).fillna("")
    assert len(sheet) == 6
    assert sheet.groupby("patient")["type"].apply(sorted).map(tuple).unique().tolist() == [
        ("normal", "tumour")]
    paths = pd.concat([sheet.fastq1, sheet.fastq2])
    assert paths.map(lambda p: (tmp_path / p).exists()).all()
    assert (sheet.bam == "").all() and (sheet.vcf == "").all()


@pytest.mark.workflow
def test_benchmark_reports_the_jobs_the_dag_holds(tmp_path):
    [timing] = scale.benchmark_scale([PATIENTS], tmp_path)
    output = (tmp_path / f"patients_{PATIENTS}" / "dry_run.log").read_text()
    counts = scale.job_stats(output)
    # The reported total is the DAG's: the sum over its rules...
    assert timing.patients == PATIENTS
    assert timing.jobs == sum(counts.values())
    # ...and the spine has every per-sample and per-patient job for the 20 paired patients.
    expected = scale.expected_spine_jobs(PATIENTS)
    assert {rule: counts.get(rule, 0) for rule in expected} == expected
    assert timing.jobs >= sum(expected.values())
    assert timing.wall_s > 0 and timing.peak_mb > 50  # a Python process with snakemake loaded
    assert 0 < timing.cpu_s < 4 * timing.wall_s


def test_synthetic_vcf_cohort_is_one_tumour_row_per_patient(tmp_path):
    config_file = scale.write_cohort(tmp_path, 4, kind="vcf")
    sheet = pd.read_csv(config_file.parent / "samples.tsv", sep="\t", dtype=str).fillna("")
    assert list(sheet.type) == ["tumour"] * 4 and (sheet.fastq1 == "").all()
    assert sheet.vcf.map(lambda p: (tmp_path / p).exists()).all()


def test_spine_is_one_job_per_sample_then_one_per_shard():
    expected = scale.expected_spine_jobs(120, shard_size=50)  # 120 patients: 4 shards
    assert expected["align_reads"] == 240
    assert expected["call_variants"] == expected["render_patient_report"] == 4
    assert expected["merge_variants"] == 1


def test_table_lists_each_size():
    table = scale.format_table([scale.PlanTiming(100, 2111, 4.84, 230.4, cpu_s=3.96)])
    assert table.splitlines()[0].split() == ["patients", "jobs", "wall", "s", "cpu", "s", "peak",
                                             "MB", "ms/job"]
    assert table.splitlines()[1].split() == ["100", "2111", "4.8", "4.0", "230", "2.29"]
