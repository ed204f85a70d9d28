"""`snakemake --profile profiles/slurm` on a real single-node Slurm: every job through sbatch, GPUs for
GPU rules only, and a job cancelled mid-run is retried to the same results as a local run.

The cluster (tests/workflow/slurm_cluster.py) is installed and started here when missing (root + apt-get),
otherwise these tests skip. One run serves all tests: the fault is injected into it.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

import slurm_cluster
from helpers import REPO, SNAKEFILE, SNAKEMAKE, make_read_patients_workdir

pytestmark = pytest.mark.workflow

PROFILES = ("--profile", str(REPO / "profiles" / "slurm"), "--profile", str(REPO / "profiles" / "ci"))
# The long per-sample jobs (check, trim, map, markdup): the ones the fault test cancels.
CANCEL_COMMENT = re.compile(r"^rule_align_reads_")
PROLOG_LINE = re.compile(r"oncoweave-slurm: SLURM_JOB_ID=(\d+) CUDA_VISIBLE_DEVICES=(\S+)")
RULE_LINE = re.compile(r"^\s*(?:local)?rule (\w+):")
WILDCARDS_LINE = re.compile(r"^\s*wildcards: (.*)")


@pytest.fixture(scope="session")
def slurm():
    reason = slurm_cluster.ensure_installed()
    if reason:
        pytest.skip(reason)
    cluster = slurm_cluster.start_cluster()
    try:
        yield cluster
    finally:
        slurm_cluster.remove_cluster(cluster)


def test_bare_profile_name_resolves_after_linking(tmp_path):
    """`snakemake --profile slurm` (the README's command) finds profiles/slurm via ~/.config."""
    home = tmp_path / "home"
    link = slurm_cluster.link_user_profile(REPO, "slurm", home=home)
    assert link.resolve() == (REPO / "profiles" / "slurm").resolve()
    workdir = make_read_patients_workdir(tmp_path / "run")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    dry = subprocess.run([str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--profile", "slurm", "-n"],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    log = dry.stdout + dry.stderr
    # "Using profiles slurm and workflow specific profile .../profiles/default" beside the workflow
    # profile every run reads.
    assert re.search(r"Using profiles? slurm\b", log), log[-2000:]
    # The groups are accepted: one group job per shard (8 read patients make one shard).
    assert log.count("Group job shard") == 1


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    return [str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
            "--configfile", str(workdir / "config" / "config.yaml"), *PROFILES, *args]


def planned_jobs(dry_run_output: str) -> tuple[dict[str, int], set[str]]:
    """Jobs per rule (the 'Job stats' table) and the rules whose resources ask for a GPU."""
    counts = {}
    table = dry_run_output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    for line in table.splitlines()[3:]:
        rule, count = line.split()
        if rule != "total":
            counts[rule] = int(count)
    gpu_rules, rule = set(), None
    for line in dry_run_output.splitlines():
        if match := RULE_LINE.match(line):
            rule = match.group(1)
        elif "resources:" in line and re.search(r"\bgpu=|gres=gpu", line):
            gpu_rules.add(rule)
    return counts, gpu_rules


class Canceller(threading.Thread):
    """Cancels the first per-sample job that has been running a few seconds (once)."""

    def __init__(self, cluster: slurm_cluster.SlurmCluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.cancelled: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set() and self.cancelled is None:
            listing = self.cluster.query(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k|%M"],
                                         check=False)
            for job_id, comment, elapsed in (line.split("|") for line in listing.splitlines()):
                if CANCEL_COMMENT.match(comment) and seconds(elapsed) >= 3:
                    self.cluster.query(["scancel", job_id])
                    self.cancelled = job_id
                    break
            self.done.wait(0.5)


def seconds(elapsed: str) -> int:
    """squeue's %M ('[days-][hours:]minutes:seconds') in seconds."""
    days, _, clock = elapsed.rpartition("-")
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total + int(days or 0) * 86400


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    """The toy cohort's read patients through Slurm in a fresh working directory, with one job
    cancelled mid-run."""
    workdir = make_read_patients_workdir(tmp_path_factory.mktemp("slurm_run"))
    dry = subprocess.run(snakemake_command(workdir, "-n"), cwd=workdir, env=slurm.env,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts, gpu_rules = planned_jobs(dry.stdout + dry.stderr)

    canceller = Canceller(slurm)
    canceller.start()
    started = time.monotonic()
    try:
        run = subprocess.run(snakemake_command(workdir), cwd=workdir, env=slurm.env,
                             capture_output=True, text=True, timeout=1500)
    finally:
        canceller.done.set()
        canceller.join()
    seconds = time.monotonic() - started
    print(f"\nSlurm run of the toy cohort: {seconds:.0f} s")
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-6000:]}{slurm.log_tail()}"
    queue = slurm.query(["squeue", "-h", "-t", "all", "-o", "%i|%k|%T"])
    slurm_jobs = {i: (comment, state) for i, comment, state in
                  (line.split("|") for line in queue.splitlines())}
    return {"workdir": workdir, "counts": counts, "gpu_rules": gpu_rules, "log": run.stderr,
            "cancelled": canceller.cancelled, "slurm_jobs": slurm_jobs,
            "job_logs": read_job_logs(workdir / ".snakemake" / "slurm_logs")}


def read_job_logs(logdir: Path) -> dict[str, dict]:
    """Per Slurm job id: the GPU devices it saw and the (rule, wildcards) it ran, from its log."""
    jobs = {}
    for path in sorted(logdir.rglob("*.log")):
        text = path.read_text(errors="replace")
        prolog = PROLOG_LINE.search(text)
        ran, rule = set(), None
        for line in text.splitlines():
            if match := RULE_LINE.match(line):
                rule = match.group(1)
                ran.add((rule, ""))
            elif (match := WILDCARDS_LINE.match(line)) and rule:
                ran.discard((rule, ""))
                ran.add((rule, match.group(1).strip()))
        jobs[path.stem] = {"path": path, "prolog": prolog.groups() if prolog else None, "ran": ran}
    return jobs


def test_every_job_ran_through_sbatch(slurm_run):
    job_logs, slurm_jobs = slurm_run["job_logs"], slurm_run["slurm_jobs"]
    assert job_logs, "no Slurm job logs written"
    for job_id, job in job_logs.items():
        # The prolog line is written by slurmstepd: the job really ran under Slurm, with this id.
        assert job["prolog"] and job["prolog"][0] == job_id, f"{job['path']}: no Slurm prolog line"
        assert job_id in slurm_jobs, f"job {job_id} unknown to slurmctld"
    ran = defaultdict(set)
    for job in job_logs.values():
        for rule, wildcards in job["ran"]:
            ran[rule].add(wildcards)
    expected = {rule: n for rule, n in slurm_run["counts"].items() if rule != "all"}
    assert {rule: len(ran[rule]) for rule in expected} == expected


def test_profile_groups_run_as_one_slurm_job_per_sample_patient_and_shard(slurm_run):
    finished = [job for job_id, job in slurm_run["job_logs"].items()
                if job_id != slurm_run["cancelled"]]
    rules_of = [{rule for rule, _ in job["ran"]} for job in finished]
    counts = slurm_run["counts"]
    sample_jobs = [rules for rules in rules_of if "align_reads" in rules]
    assert len(sample_jobs) == counts["align_reads"]
    assert all(rules == {"align_reads"} for rules in sample_jobs)
    patient_jobs = [rules for rules in rules_of if "call_variants" in rules]
    assert len(patient_jobs) == counts["call_variants"]
    assert all(rules == {"call_variants"} for rules in patient_jobs)
    shard_jobs = [rules for rules in rules_of if "classify_variants" in rules]
    assert len(shard_jobs) == counts["classify_variants"]
    assert all({"annotate_consequences", "export_variants", "compute_tmb", "score_drivers",
                "match_therapies"} <= rules for rules in shard_jobs)


def test_gpus_go_to_gpu_rules_only(slurm_run):
    gpu_rules = slurm_run["gpu_rules"]
    for job_id, job in slurm_run["job_logs"].items():
        rules = {rule for rule, _ in job["ran"]}
        if not rules:  # cancelled before its first rule started
            continue
        devices = job["prolog"][1]
        wants_gpu = bool(rules & gpu_rules)
        assert (devices != "unset") == wants_gpu, (
            f"Slurm job {job_id} ({sorted(rules)}) saw CUDA_VISIBLE_DEVICES={devices}")


def test_cancelled_job_is_retried_to_the_same_results(slurm_run, toy_run):
    cancelled = slurm_run["cancelled"]
    assert cancelled, "no running per-sample job was seen to cancel"
    comment, state = slurm_run["slurm_jobs"][cancelled]
    assert state == "CANCELLED"
    reruns = [i for i, (c, s) in slurm_run["slurm_jobs"].items()
              if c == comment and i != cancelled and s == "COMPLETED"]
    assert reruns, f"{comment}: cancelled job {cancelled} was not resubmitted"

    local_dir, _ = toy_run
    on_slurm = pd.read_parquet(slurm_run["workdir"] / "results/cohort/variants.parquet")
    local = pd.read_parquet(local_dir / "results/cohort/variants.parquet")
    local = local[local["patient"].isin(set(on_slurm["patient"]))]
    pd.testing.assert_frame_equal(canonical(on_slurm), canonical(local))


def canonical(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["patient", "chrom", "pos", "ref", "alt"]).reset_index(drop=True)
