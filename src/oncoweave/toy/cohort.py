"""The simulated tumour/normal cohort with a planted truth set, written into one folder.

``make_toy_cohort`` writes, into one folder, the read patients' FASTQ (``toy.reads``) and the
truth.vcf.gz of their planted variants (``toy.planting``, ``toy.vcfs``), the tumour-only VCF
patients after them, samples.tsv and clinical.tsv (``toy.clinical``). Everything is drawn from
one seeded generator, so the same seed gives byte-identical FASTQ and truth.
"""

from __future__ import annotations

import csv
import posixpath
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pysam

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.genome.gene_models import canonical_models
from oncoweave.toy.clinical import write_clinical
from oncoweave.toy.layout import toy_samples
from oncoweave.toy.planting import (
    DRIVERS,
    GERMLINE_PATHOGENIC,
    Patient,
    plan_cohort,
    plan_vcf_patients,
    read_targets,
)
from oncoweave.toy.reads import (
    INSERT_SIZE,
    SimulationSettings,
    check_inside_windows,
    sample_jobs,
    simulate_reads,
    target_windows,
    window_genes,
)
from oncoweave.toy.vcfs import vcf_sample, write_patient_vcf, write_truth


def open_fasta(path: Path, workdir: Path) -> pysam.FastaFile:
    """Open a FASTA without writing an index beside it: a missing .fai is built in `workdir`."""
    if not path.is_file():
        raise InputError("reference FASTA not found", path=path)
    if Path(f"{path}.fai").is_file():
        return pysam.FastaFile(str(path))
    link = workdir / path.name
    link.symlink_to(path.resolve())
    try:
        return pysam.FastaFile(str(link))
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable FASTA ({err})", path=path) from None


def write_sheet(path: Path, outdir_as_given: str, patients: list[Patient],
                vcf_patients: list[Patient] = ()) -> None:
    purity = {p.name: p.purity for p in (*patients, *vcf_patients)}
    with replaced_on_success(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["patient", "sample", "type", "fastq1", "fastq2", "bam", "vcf", "purity"])
        for patient, sample, sample_type in toy_samples(len(patients)):
            reads = posixpath.join(outdir_as_given, "reads", sample)
            writer.writerow([patient, sample, sample_type, f"{reads}_R1.fastq.gz",
                             f"{reads}_R2.fastq.gz", "", "",
                             f"{purity[patient]:g}" if sample_type == "tumour" else ""])
        for patient in vcf_patients:
            vcf = posixpath.join(outdir_as_given, "vcf", f"{vcf_sample(patient)}.vcf.gz")
            writer.writerow([patient.name, vcf_sample(patient), "tumour", "", "", "", vcf,
                             f"{patient.purity:g}"])


def make_toy_cohort(outdir: str, n_patients: int, reference: Path, gff3: Path,
                    canonical: Path, targets_bed: Path, settings: SimulationSettings,
                    n_vcf_patients: int = 0) -> None:
    """Simulate the cohort into `outdir`: reads/ of ``n_patients`` read patients (truth.vcf.gz
    holds their planted variants), vcf/ of ``n_vcf_patients`` tumour-only VCF patients after
    them, samples.tsv and clinical.tsv of all."""
    _check_settings(n_patients, settings, n_vcf_patients)
    if shutil.which("dwgsim") is None:
        raise InputError("dwgsim is not on PATH (Debian package dwgsim)")
    models = canonical_models(gff3, canonical)
    missing = {d.gene for d in (*DRIVERS, GERMLINE_PATHOGENIC)} - models.keys()
    if missing:
        raise InputError(f"no canonical transcript for driver genes {sorted(missing)}",
                         path=canonical)
    with tempfile.TemporaryDirectory(prefix="oncoweave-toy-") as tmp:
        workdir = Path(tmp)
        with open_fasta(reference, workdir) as fasta:
            contig_lengths = dict(zip(fasta.references, fasta.lengths))
            targets = read_targets(targets_bed, contig_lengths)
            patients = plan_cohort(n_patients, fasta, targets, models, settings.seed)
            windows = target_windows(targets, contig_lengths)
            check_inside_windows(patients, windows)
            jobs = {}
            genes = window_genes(windows, targets)
            for number, patient in enumerate(patients, start=1):
                jobs.update(sample_jobs(patient, number, windows, fasta, settings, workdir,
                                        genes))
            reads_dir = Path(outdir) / "reads"
            reads_dir.mkdir(parents=True, exist_ok=True)
            simulate_reads(jobs, settings, reads_dir)
            write_truth(Path(outdir) / "truth.vcf.gz", fasta, patients, settings, reference)
            vcf_patients = plan_vcf_patients(n_patients + 1, n_vcf_patients, fasta, targets,
                                             models, settings.seed)
            check_inside_windows(vcf_patients, windows)
            (Path(outdir) / "vcf").mkdir(parents=True, exist_ok=True)
            counts_rng = np.random.default_rng([settings.seed, 98])
            for patient in vcf_patients:
                write_patient_vcf(Path(outdir) / "vcf" / f"{vcf_sample(patient)}.vcf.gz", fasta,
                                  patient, counts_rng)
    write_sheet(Path(outdir) / "samples.tsv", outdir, patients, vcf_patients)
    write_clinical(Path(outdir) / "clinical.tsv", [*patients, *vcf_patients], settings.seed)


def _check_settings(n_patients: int, settings: SimulationSettings, n_vcf_patients: int = 0) -> None:
    if n_patients < 1:
        raise InputError(f"--patients must be >= 1, got {n_patients}")
    if n_patients + n_vcf_patients > 99:
        raise InputError("toy patient ids have two digits: at most 99 patients in all")
    if settings.tumour_depth <= 0 or settings.normal_depth <= 0:
        raise InputError("--tumour-depth and --normal-depth must be > 0")
    if not 30 <= settings.read_length <= INSERT_SIZE - 50:
        raise InputError(f"--read-length must be 30-{INSERT_SIZE - 50}, got {settings.read_length}")
    if settings.threads < 1:
        raise InputError(f"--threads must be >= 1, got {settings.threads}")
