"""`oncoweave benchmark maf-run`: a simulated published cohort of N patients as one MAF, run
through `snakemake all` (reports included): wall time, the peak memory of any process, and the
jobs' own time, so anyone can rerun the 10,000-patient figure of the README."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import yaml

from oncoweave.cli.scale import CLINICAL_COLUMNS, IMAGE_COLUMNS, SAMPLE_COLUMNS
from oncoweave.core.paths import REPO_ROOT


def write_maf_run(directory: Path, patients: int, seed: int, territory_mb: float,
                  shard_size: int | None = None) -> Path:
    """A working directory with the simulated MAF (``config/cohort.maf.gz``), header-only sample
    and image sheets, and a clinical row per barcode with seeded outcomes (about half the deaths
    observed, so the outcome models have events); returns its config."""
    from oncoweave.toy.maf_cohort import simulate_maf_cohort, simulated_clinical

    config_dir = directory / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    maf = config_dir / "cohort.maf.gz"
    summary = simulate_maf_cohort(patients, maf, seed=seed)
    width = max(4, len(str(patients)))
    barcodes = [f"SIM-{number:0{width}d}-T" for number in range(1, patients + 1)]
    clinical = simulated_clinical(barcodes, seed)[list(CLINICAL_COLUMNS)]
    clinical.to_csv(config_dir / "clinical.tsv", sep="\t", index=False)
    (config_dir / "samples.tsv").write_text("\t".join(SAMPLE_COLUMNS) + "\n")
    (config_dir / "images.tsv").write_text("\t".join(IMAGE_COLUMNS) + "\n")
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    config.update(samples=str(config_dir / "samples.tsv"), images=str(config_dir / "images.tsv"),
                  clinical=str(config_dir / "clinical.tsv"), maf=str(maf))
    config["tmb"]["maf_territory_mb"] = territory_mb
    if shard_size:
        config["sharding"]["shard_size"] = shard_size
    config_file = config_dir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"{maf}: {summary.rows:,} rows of {patients:,} patients, {summary.in_regions:,} in the "
          "reference regions", flush=True)
    return config_file


def run_maf_cohort(directory: Path, config_file: Path, cores: int) -> tuple[float, float]:
    """`snakemake --cores N` (target all) in ``directory``: (wall seconds, peak RSS MB of the
    largest process of its tree: Snakemake or any job it waited for)."""
    from oncoweave.cli.scale import snakemake_executable

    command = [snakemake_executable(), "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory",
               str(directory), "--configfile", str(config_file), "--cores", str(cores)]
    started = time.perf_counter()
    with open(directory / "run.log", "w") as log:
        process = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall_s = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"snakemake failed; see {directory / 'run.log'}")
    return wall_s, usage.ru_maxrss / 1024
