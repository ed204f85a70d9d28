"""Running the workflow from tests: a fresh working directory per cohort, like a core would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
# The project's shared data: beside the checkout (as CI lays it out), else the developers' copy.
# Tests that need it skip with a reason when it is absent.
SHARED_DATA = next((path for path in (REPO.parent / "shared" / "data", Path("/work/shared/data"))
                    if path.is_dir()), REPO.parent / "shared" / "data")
SNAKEFILE = REPO / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def make_workdir(path: Path, samples_tsv: str | None = None) -> Path:
    """A working directory with the repo's config/ copied in (and optionally another sample sheet,
    then without the toy patients' images and with only its own patients' clinical rows:
    image- and clinical-sheet patients must be in the sample sheet)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "config", path / "config", dirs_exist_ok=True)
    if samples_tsv is not None:
        (path / "config" / "samples.tsv").write_text(samples_tsv)
        images = path / "config" / "images.tsv"
        images.write_text(images.read_text().splitlines()[0] + "\n")
        patients = {line.split("\t")[0] for line in samples_tsv.splitlines()[1:]}
        clinical = path / "config" / "clinical.tsv"
        header, *rows = clinical.read_text().splitlines()
        clinical.write_text("".join(f"{line}\n" for line in [header] + [
            row for row in rows if row.split("\t")[0] in patients]))
    return path


def make_read_patients_workdir(path: Path) -> Path:
    """A working directory of the toy cohort's read patients only (no tumour-only VCF patients):
    the DAG of every tool, at a fifth of the jobs, for the slow Slurm runs."""
    import pandas as pd  # only here: helpers is imported by every test module
    import yaml

    make_workdir(path)
    config_path = path / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["toy_cohort"]["vcf_patients"] = 0
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    patients = {f"P{k:02d}" for k in range(1, config["toy_cohort"]["patients"] + 1)}
    for sheet in ("samples.tsv", "images.tsv", "clinical.tsv"):
        table = pd.read_csv(path / "config" / sheet, sep="\t", dtype=str, keep_default_na=False)
        table[table["patient"].isin(patients)].to_csv(path / "config" / sheet, sep="\t",
                                                      index=False)
    return path


def write_maf_cohort(config_dir: Path, n_patients: int, seed: int, *,
                     median_mutations: float = 30, clinical: str = "observed") -> list[str]:
    """A simulated published cohort as one MAF in a workdir's config/: config/cohort.maf named in
    config.yaml, header-only sample and image sheets, and a clinical sheet with "observed" outcomes,
    "header" (no rows) or "censored" (every patient alive at last follow-up). Returns the patient
    ids (the MAF's barcodes)."""
    import pandas as pd  # only here: helpers is imported by every test module

    from oncoweave.toy.maf_cohort import simulate_maf_cohort, simulated_clinical

    simulate_maf_cohort(n_patients, config_dir / "cohort.maf", seed=seed,
                        median_mutations=median_mutations)
    calls = pd.read_csv(config_dir / "cohort.maf", sep="\t", comment="#", dtype=str)
    patients = list(dict.fromkeys(calls["Tumor_Sample_Barcode"]))
    for sheet in ("samples.tsv", "images.tsv"):
        header = (config_dir / sheet).read_text().splitlines()[0]
        (config_dir / sheet).write_text(header + "\n")
    table = simulated_clinical(patients, seed=seed)
    table = {"observed": table, "header": table.iloc[:0],
             "censored": table.assign(os_event=0)}[clinical]
    table.to_csv(config_dir / "clinical.tsv", sep="\t", index=False)
    text = (config_dir / "config.yaml").read_text()
    assert 'maf: ""' in text
    (config_dir / "config.yaml").write_text(text.replace('maf: ""', "maf: config/cohort.maf", 1))
    return patients


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1800,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`snakemake --snakefile <repo>/Snakefile --directory <workdir> ...` with output captured
    (``env``: variables to set on top of this process's)."""
    command = [str(SNAKEMAKE), "--snakefile", str(SNAKEFILE), "--directory", str(workdir),
               "--configfile", str(workdir / "config" / "config.yaml"), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                            env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-5000:]}\n{result.stderr[-8000:]}")
    return result


# FORMAT fields of `bcftools mpileup -a AD,DP | bcftools call` output, as the small VCFs of the
# calling tests declare them: (id, Number, Type, Description).
CALL_FORMATS = (("GT", 1, "String", "Genotype"), ("AD", "R", "Integer", "Allelic depths"),
                ("DP", 1, "Integer", "Read depth"))


def write_vcf_gz(path: Path, records: list[dict], *, contigs: dict[str, int], samples=(),
                 formats=(), infos=(), meta=()) -> Path:
    """A small bgzipped VCF written with pysam.

    ``contigs``: name -> length; ``meta``: (key, value) header lines; ``formats`` and ``infos``:
    (id, Number, Type, Description). Each record: {"contig", "pos" (1-based), "alleles"} and
    optionally "qual", "info" (a dict) and "samples" (sample -> {FORMAT id: value}, in that order).
    """
    import pysam  # only here: helpers is imported by every test module

    header = pysam.VariantHeader()
    for name, length in contigs.items():
        header.contigs.add(name, length=length)
    for key, value in meta:
        header.add_meta(key, value)
    for key, number, kind, description in formats:
        header.formats.add(key, number, kind, description)
    for key, number, kind, description in infos:
        header.info.add(key, number, kind, description)
    for sample in samples:
        header.add_sample(sample)
    with pysam.VariantFile(str(path), "wz", header=header) as vcf:
        for fields in records:
            record = vcf.new_record(contig=fields["contig"], start=fields["pos"] - 1,
                                    alleles=fields["alleles"], qual=fields.get("qual"),
                                    info=fields.get("info"))
            for sample, values in fields.get("samples", {}).items():
                for key, value in values.items():
                    record.samples[sample][key] = value
            vcf.write(record)
    return path


def report_index(workdir: Path) -> dict[str, Path]:
    """Patient -> its HTML report, from results/report/index.tsv (reports are written per shard)."""
    lines = (workdir / "results/report/index.tsv").read_text().splitlines()[1:]
    return {patient: workdir / path for patient, _, path in (line.split("\t") for line in lines)}


def shard_of(workdir: Path, patient: str) -> str:
    """The shard a patient of this working directory's sample sheet runs in (default sharding)."""
    import csv

    from oncoweave.core.shards import shard_map, shard_of_patients

    with open(workdir / "config" / "samples.tsv") as handle:
        patients = {row["patient"] for row in csv.DictReader(handle, delimiter="\t")}
    return shard_of_patients(shard_map(patients))[patient]


def indexed_bundled_reference(directory: Path) -> Path:
    """A copy of the bundled GRCh38 gene-region FASTA in ``directory``, faidx-indexed (indexes
    are not committed beside the bundled file)."""
    import pysam

    from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR

    path = directory / "grch38_gene_regions.fa"
    shutil.copy(BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa", path)
    pysam.faidx(str(path))
    return path
