"""Running the workflow from tests: a fresh working directory per cohort, like a core would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The project's shared data: beside the checkout (as CI lays it out), else the developers' copy.
# Tests that need it skip with a reason when it is absent.
SHARED_DATA = next((path for path in (REPO.parent / "shared" / "data", Path("/work/shared/data"))
                    if path.is_dir()), REPO.parent / "shared" / "data")
SNAKEFILE = REPO / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def make_workdir(path: Path, samples_tsv: str | None = None) -> Path:
    """A working directory with the repo's config/ copied in (and optionally another sample sheet,
    then without the toy patients' images: image-sheet patients must be in the sample sheet)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "config", path / "config", dirs_exist_ok=True)
    if samples_tsv is not None:
        (path / "config" / "samples.tsv").write_text(samples_tsv)
        images = path / "config" / "images.tsv"
        images.write_text(images.read_text().splitlines()[0] + "\n")
    return path


def run_snakemake(workdir: Path, *args: str, check: bool = True,
                  timeout: int = 1800) -> subprocess.CompletedProcess:
    """`snakemake --snakefile <repo>/Snakefile --directory <workdir> ...` with output captured."""
    command = [str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
               "--configfile", str(workdir / "config" / "config.yaml"), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                            env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-5000:]}\n{result.stderr[-8000:]}")
    return result
