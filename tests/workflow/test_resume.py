"""A run killed with SIGKILL (the whole process group, as a power loss would) resumes when the
same command is run again: no `--unlock`, no `--rerun-incomplete`. Killed three times (during the
alignment of a patient's reads, during a per-shard Python stage, then during the GPU rule
train_fusion), the resumed run ends with every Parquet table equal to a clean run's (but the job
timings), and no job that had finished runs again.

A 40-patient MAF cohort and one patient from reads (1000 Genomes reads over TP53): each run about
a minute."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import (
    SNAKEFILE,
    SNAKEMAKE,
    TEST_DATA,
    make_workdir,
    run_snakemake,
    write_maf_cohort,
)

pytestmark = pytest.mark.workflow


def _maf_workdir(path: Path) -> Path:
    """A 40-patient MAF cohort in four shards (so that a kill falls between shards), and patient
    R1 from paired reads (so that a kill can fall inside an alignment)."""
    workdir = make_workdir(path)
    write_maf_cohort(workdir / "config", 40, seed=7)
    config = workdir / "config" / "config.yaml"
    config.write_text(config.read_text().replace("shard_size: 50", "shard_size: 10", 1))
    reads = TEST_DATA / "1000g_tp53_reads"
    samples = workdir / "config" / "samples.tsv"
    samples.write_text(samples.read_text() + f"R1\tR1-T\ttumour\t{reads}/NA06984_T_1.fastq.gz\t"
                       f"{reads}/NA06984_T_2.fastq.gz\t\t\t\n")
    return workdir


def _run_until_killed(workdir: Path, started: str, timeout: float = 300) -> None:
    """Start the README's command and SIGKILL its process group once ``started`` (a log file of
    the job to kill in) exists."""
    process = subprocess.Popen(
        [str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--cores", "2"], cwd=workdir,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not (workdir / started).exists():
            assert process.poll() is None, f"the run ended before {started} started"
            assert time.monotonic() < deadline, f"{started} did not start in {timeout} s"
            time.sleep(0.05)
        time.sleep(0.3)  # inside the job, not at its first line
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tables(workdir: Path) -> dict[str, object]:
    """Every Parquet table but the run's job timings (results/benchmarks.parquet) and MultiQC's
    own data table (it holds its creation date, as the README says of the tools' QC files)."""
    return {str(path.relative_to(workdir)): pq.read_table(path)
            for path in sorted((workdir / "results").rglob("*.parquet"))
            if path.name != "benchmarks.parquet" and "multiqc_data" not in path.parts}


def _finished_outputs(workdir: Path) -> dict[str, int]:
    """Output files that existed complete (not marked incomplete by Snakemake) -> mtime."""
    incomplete = workdir / ".snakemake" / "incomplete"
    marked = {base64.b64decode(path.name).decode() for path in incomplete.iterdir()} \
        if incomplete.is_dir() else set()
    return {str(path.relative_to(workdir)): path.stat().st_mtime_ns
            for path in (workdir / "results").rglob("*")
            if path.is_file() and str(path.relative_to(workdir)) not in marked
            and not any(str(path.relative_to(workdir)).startswith(m) for m in marked)}


@pytest.fixture(scope="module")
def clean_and_resumed(tmp_path_factory):
    clean = _maf_workdir(tmp_path_factory.mktemp("clean"))
    run_snakemake(clean, "--cores", "2")
    resumed = _maf_workdir(tmp_path_factory.mktemp("resumed"))
    before_resumes = []
    for started in ("logs/align_reads/R1-T.log", "logs/score_drivers/s001.log",
                    "logs/train_fusion/model.log"):
        _run_until_killed(resumed, started)
        before_resumes.append(_finished_outputs(resumed))
    killed_in_alignment = "results/mapped/R1-T.bam" not in before_resumes[0]
    result = subprocess.run([str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--cores", "2"],
                            cwd=resumed, capture_output=True, text=True, timeout=900)
    return clean, resumed, result, before_resumes, killed_in_alignment


def test_the_same_command_resumes_a_killed_run(clean_and_resumed):
    _, resumed, result, _, killed_in_alignment = clean_and_resumed
    assert killed_in_alignment, "the first kill came after the alignment had finished"
    assert result.returncode == 0, result.stderr[-5000:]
    assert "removed the lock left by a killed run" in result.stderr
    assert (resumed / "results" / "report" / "index.html").is_file()


def test_the_resumed_run_ends_with_the_clean_runs_tables(clean_and_resumed):
    clean, resumed, *_ = clean_and_resumed
    clean_tables, resumed_tables = _tables(clean), _tables(resumed)
    assert sorted(resumed_tables) == sorted(clean_tables)
    assert len(clean_tables) > 20
    for name, table in clean_tables.items():
        assert resumed_tables[name].equals(table), name


def test_after_the_resumed_run_nothing_is_left_to_do(clean_and_resumed):
    _, resumed, *_ = clean_and_resumed
    result = run_snakemake(resumed, "-n", env={"PYTHONHASHSEED": "3"})
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def test_no_finished_job_runs_again(clean_and_resumed):
    _, resumed, _, before_resumes, _ = clean_and_resumed
    assert all(len(later) > len(earlier) for earlier, later in zip(before_resumes,
                                                                  before_resumes[1:]))
    now = _finished_outputs(resumed)
    for outputs in before_resumes:
        changed = [name for name, mtime in outputs.items() if now.get(name) != mtime]
        assert not changed, changed[:5]
