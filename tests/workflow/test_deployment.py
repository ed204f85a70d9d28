"""The workflow deployed the way cores deploy Snakemake workflows, offline: `snakedeploy
deploy-workflow` from the catalog's git host into a project of the user's own (config beside the
project's Snakefile, not in the workflow), then planned and run there through `all`; a local
`module:` (a clone or a git submodule) plans the same jobs; and the rules files are as the catalog
asks (`snakefmt --check`, `snakemake --lint`).

The git host is this checkout: a throwaway git configuration rewrites the GitHub URL to a
committed snapshot of the working tree (`url.<snapshot>.insteadOf`), so snakedeploy's clone and
Snakemake's own clone of the module both run as they would against GitHub."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO, SNAKEFILE, SNAKEMAKE, make_workdir, run_snakemake, write_maf_cohort

pytestmark = pytest.mark.workflow

HOST_URL = "https://github.com/oncoweave/oncoweave"
TAG = "v0-deployment-test"
BIN = SNAKEMAKE.parent
N_MAF_PATIENTS = 40


def _git(*args: str, cwd: Path, env: dict) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def _snapshot_of_the_checkout(dest: Path, env: dict) -> Path:
    """The working tree as a new user's clone would have it (tracked and not-ignored files,
    uncommitted edits included), committed and tagged."""
    listed = _git("ls-files", "-co", "--exclude-standard", "-z", cwd=REPO, env=env)
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git("init", "-q", cwd=dest, env=env)
    _git("add", "-A", cwd=dest, env=env)
    _git("-c", "user.name=oncoweave tests", "-c", "user.email=tests@oncoweave.invalid", "commit",
         "-q", "-m", "snapshot", cwd=dest, env=env)
    _git("tag", TAG, cwd=dest, env=env)
    return dest


@pytest.fixture(scope="module")
def offline_host(tmp_path_factory):
    """Environment under which HOST_URL is the snapshot, with an empty Snakemake cache."""
    root = tmp_path_factory.mktemp("git_host")
    gitconfig = root / "gitconfig"
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
           "XDG_CACHE_HOME": str(root / "cache"), "PYTHONUNBUFFERED": "1"}
    snapshot = _snapshot_of_the_checkout(root / "oncoweave", env)
    gitconfig.write_text(f'[url "file://{snapshot}"]\n\tinsteadOf = {HOST_URL}\n')
    return env, snapshot


@pytest.fixture(scope="module")
def project(offline_host, tmp_path_factory):
    """A project deployed by snakedeploy: workflow/Snakefile with the module, config/, profiles/."""
    env, _ = offline_host
    dest = tmp_path_factory.mktemp("deployed") / "project"
    subprocess.run([str(BIN / "snakedeploy"), "deploy-workflow", HOST_URL, str(dest), "--tag", TAG],
                   env=env, check=True, capture_output=True, text=True)
    return dest


def _snakemake_in(project: Path, env: dict, *args: str, timeout: int = 900):
    result = subprocess.run([str(SNAKEMAKE), *args], cwd=project, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def _job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of `snakemake -n`: rule -> jobs."""
    table = dry_run_output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)
            if rule != "total"}


@pytest.fixture(scope="module")
def checkout_job_counts(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("checkout_plan"))
    return _job_counts(run_snakemake(workdir, "-n").stdout)


def test_snakedeploy_writes_a_module_of_the_tagged_workflow_and_copies_its_config(project):
    snakefile = (project / "workflow" / "Snakefile").read_text()
    assert f'github("oncoweave/oncoweave", path="workflow/Snakefile", tag="{TAG}")' in snakefile
    assert "use rule * from oncoweave" in snakefile
    for name in ("config.yaml", "samples.tsv", "images.tsv", "clinical.tsv"):
        assert (project / "config" / name).read_bytes() == (REPO / "config" / name).read_bytes()
    assert (project / "profiles" / "slurm" / "config.yaml").is_file()


def test_the_deployed_module_plans_the_jobs_of_the_checkout(offline_host, project,
                                                            checkout_job_counts):
    env, _ = offline_host
    planned = _job_counts(_snakemake_in(project, env, "-n").stdout)
    assert planned == checkout_job_counts
    assert planned["align_reads"] == 15 and planned["render_patient_report"] >= 1
    # Its resources/ and src/ come from the tagged commit, unpacked once in the project.
    commit = _git("rev-parse", f"{TAG}^{{commit}}", cwd=offline_host[1], env=env).strip()
    unpacked = project / ".snakemake" / "workflow-sources" / "oncoweave" / "oncoweave" / commit
    assert (unpacked / "resources" / "reference" / "grch38_gene_regions.fa").is_file()
    assert (unpacked / "src" / "oncoweave" / "__init__.py").is_file()


def test_a_local_module_plans_the_jobs_of_the_checkout(tmp_path, checkout_job_counts):
    """A clone or git submodule named by path: the workflow's files are read from that clone."""
    project = make_workdir(tmp_path / "project")
    (project / "workflow").mkdir()
    (project / "workflow" / "Snakefile").write_text(
        f'configfile: "config/config.yaml"\n\n\nmodule oncoweave:\n    snakefile:\n'
        f'        "{REPO}/workflow/Snakefile"\n    config:\n        config\n\n\n'
        f"use rule * from oncoweave\n")
    planned = _job_counts(_snakemake_in(project, dict(os.environ), "-n").stdout)
    assert planned == checkout_job_counts
    assert not (project / ".snakemake" / "workflow-sources").exists()


def test_a_published_cohort_runs_through_all_in_the_deployed_project(offline_host, project):
    env, _ = offline_host
    barcodes = write_maf_cohort(project / "config", N_MAF_PATIENTS, seed=5, median_mutations=40)
    _snakemake_in(project, env, "--cores", "2")
    index = pd.read_csv(project / "results" / "report" / "index.tsv", sep="\t")
    assert sorted(index["patient"]) == sorted(barcodes)
    for path in index["report"]:
        assert (project / path).is_file()
    tmb = pd.read_parquet(project / "results" / "cohort" / "tmb.parquet")
    assert sorted(tmb["patient"]) == sorted(barcodes)
    assert (project / "results" / "fusion" / "patient_predictions.parquet").is_file()
    # Results, logs and benchmarks are the project's; nothing is written into the workflow's files.
    unpacked = next((project / ".snakemake" / "workflow-sources").glob("*/*/*"))
    assert not any((unpacked / name).exists() for name in ("results", "logs", "benchmarks"))
    assert (project / "logs" / "split_maf.log").is_file()


def test_rules_files_are_snakefmt_clean():
    result = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def test_snakemake_lint_is_clean(tmp_path):
    result = subprocess.run(
        [str(SNAKEMAKE), "--lint", "--snakefile", str(SNAKEFILE), "--directory",
         str(make_workdir(tmp_path))], capture_output=True, text=True)
    assert result.returncode == 0 and "in a good condition" in result.stdout + result.stderr, (
        result.stdout[-3000:] + result.stderr[-3000:])
