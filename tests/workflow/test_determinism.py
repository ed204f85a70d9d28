"""Two clean runs of the same cohort in two working directories write the same bytes: every file
under results/ is identical but the run's job timings (EXCLUDED), and no output names either
working directory or the checkout's absolute path. Durations are in the benchmark files and
the job logs, never in the workflow's own JSON or Parquet outputs.

A 20-patient MAF cohort (no reads, so none of the tools' own QC files: a read run also differs
in TOOL_QC, which the tools write with dates and temporary paths). Each run about 30 s."""

from __future__ import annotations

import gzip
from fnmatch import fnmatch
from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO, make_workdir, run_snakemake, write_maf_cohort

pytestmark = pytest.mark.workflow

# Timings by definition: the gathered benchmark files and their plot.
EXCLUDED = {"results/benchmarks.parquet", "results/benchmarks.png"}
# Written by the tools of a read run, kept as they write them: fastp's JSON (its "command" names
# a temporary path) and HTML, samtools markdup's statistics (its COMMAND line names the scratch
# BAM), MultiQC's report and data (creation date, absolute paths).
TOOL_QC = ("results/qc/mapped/*/*.fastp.json", "results/qc/mapped/*/*.fastp.html",
           "results/qc/mapped/*/*.markdup.txt", "results/qc/multiqc.html",
           "results/qc/multiqc_data/*")


def _results(workdir: Path) -> dict[str, bytes]:
    return {path.relative_to(workdir).as_posix(): path.read_bytes()
            for path in sorted((workdir / "results").rglob("*")) if path.is_file()}


def _text(content: bytes) -> bytes:
    """A file's bytes, decompressed when gzip or BGZF (.vcf.gz, .bcf, .nii.gz)."""
    return gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    runs = []
    for name in ("first", "second"):
        workdir = make_workdir(tmp_path_factory.mktemp(name))
        write_maf_cohort(workdir / "config", 20, seed=11)
        run_snakemake(workdir, "--cores", "2")
        runs.append((workdir, _results(workdir)))
    return runs


def test_every_result_is_byte_identical_but_the_job_timings(two_runs):
    (_, first), (_, second) = two_runs
    assert first.keys() == second.keys()
    assert EXCLUDED <= first.keys()  # the exclusions name files that exist
    # No read in this cohort, so none of the tools' QC files: nothing else is left out.
    assert not [path for path in first if any(fnmatch(path, pattern) for pattern in TOOL_QC)]
    different = sorted(path for path in first if first[path] != second[path])
    assert set(different) <= EXCLUDED, different
    # What the comparison covers: the models, the evaluation, the tables and the reports.
    for path in ("results/fusion/model/configs/metadata.json",
                 "results/fusion/model/models/model.pt",
                 "results/fusion/evaluation/survival/metrics.json",
                 "results/cohort/variants.parquet", "results/report/index.html"):
        assert path in first, path
    assert sum(path.endswith(".parquet") for path in first) >= 10
    assert any(path.endswith(".bcf") for path in first)


def test_no_output_names_a_working_directory_or_the_checkout(two_runs):
    for workdir, results in two_runs:
        for absolute in (str(workdir), str(REPO)):
            named = [path for path, content in results.items()
                     if absolute.encode() in _text(content)]
            assert not named, (absolute, named)


def test_the_durations_are_in_the_benchmarks_and_the_logs(two_runs):
    workdir, results = two_runs[0]
    benchmark = pd.read_csv(workdir / "benchmarks/train_fusion/model.tsv", sep="\t")
    assert benchmark["s"].iloc[0] > 0
    log = (workdir / "logs/train_fusion/model.log").read_text()
    assert "100 epochs on cpu in " in log
    for path in ("results/fusion/model/configs/metadata.json",
                 "results/fusion/evaluation/survival/metrics.json",
                 "results/fusion/evaluation/response/metrics.json"):
        assert b"seconds" not in results[path], path
