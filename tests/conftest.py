import pytest

from helpers import make_workdir, run_snakemake


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory):
    """The bundled toy cohort run end to end once per test session, in its own working directory."""
    workdir = make_workdir(tmp_path_factory.mktemp("toy_run"))
    result = run_snakemake(workdir, "--cores", "2")
    return workdir, result
