"""Bad input stops the workflow with one clear line naming the file and row, and no partial output."""

from __future__ import annotations

import gzip
import shutil

import pytest

from helpers import REPO, make_workdir, run_snakemake, shard_of

pytestmark = pytest.mark.workflow

READS = REPO / "tests/data/1000g_tp53_reads"
HEADER = "patient\tsample\ttype\tfastq1\tfastq2\tbam\tvcf\tpurity\n"


def fastq_row(patient, sample, kind, r1="reads/R1.fastq.gz", r2="reads/R2.fastq.gz"):
    return f"{patient}\t{sample}\t{kind}\t{r1}\t{r2}\t\t\t\n"


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "reads").mkdir()
    shutil.copy(READS / "NA06984_T_1.fastq.gz", tmp_path / "reads/R1.fastq.gz")
    shutil.copy(READS / "NA06984_T_2.fastq.gz", tmp_path / "reads/R2.fastq.gz")
    return tmp_path


def error_line(result, *words: str) -> str:
    """The one output line that holds every word (the error names the file and row together)."""
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if all(word in line for word in words)]
    assert lines, f"no line holds all of {words}:\n{result.stderr[-3000:]}"
    return lines[0]


@pytest.mark.parametrize("sheet, expected", [
    (HEADER.replace("purity", "purity\tbatch").replace("\n", "", 1) + "\n"
     + fastq_row("P1", "P1-T", "tumour").rstrip("\n") + "\tb1\n",
     ["samples.tsv", "batch"]),
    (HEADER + fastq_row("P1", "P1-T", "tumour") + fastq_row("P2", "P1-T", "tumour"),
     ["samples.tsv", "row 2", "P1-T"]),
    (HEADER + fastq_row("P1", "P1-T", "tumour") + fastq_row("P1", "P1-N", "normal")
     + fastq_row("P1", "P1-N2", "normal"), ["samples.tsv", "row 3", "normal"]),
    (HEADER + fastq_row("P1", "P1-T", "tumour", r1="reads/missing.fastq.gz"),
     ["samples.tsv", "row 1", "fastq1", "missing.fastq.gz"]),
], ids=["unknown-column", "duplicate-sample", "two-normals", "missing-file"])
def test_bad_sheet_stops_before_any_job(workdir, sheet, expected):
    make_workdir(workdir, sheet)
    result = run_snakemake(workdir, "--cores", "1", check=False)
    assert result.returncode != 0
    error_line(result, *expected)
    assert not (workdir / "results").exists(), "a job ran although the sheet was bad"


def test_truncated_fastq_is_named_and_leaves_nothing(workdir):
    data = (workdir / "reads/R1.fastq.gz").read_bytes()
    (workdir / "reads/R1.fastq.gz").write_bytes(data[: len(data) // 2])
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    result = run_snakemake(workdir, "--cores", "1", "results/mapped/P1-T.bam", check=False)
    assert result.returncode != 0
    error_line(result, "reads/R1.fastq.gz", "row 1", "truncated")
    # The check runs first in align_reads: no BAM, no fastp report.
    assert not list((workdir / "results/mapped").glob("P1-T*"))
    assert not (workdir / "results/qc/fastp").exists() or not list(
        (workdir / "results/qc/fastp").iterdir())


def test_file_that_is_not_a_bam(workdir):
    (workdir / "reads/fake.bam").write_bytes(gzip.compress(b"not a bam at all\n"))
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\treads/fake.bam\t\t\n")
    result = run_snakemake(workdir, "--cores", "1", "results/checks/P1-T.bam.ok", check=False)
    assert result.returncode != 0
    error_line(result, "reads/fake.bam", "row 1", "not a BAM")
    assert not (workdir / "results/checks/P1-T.bam.ok").exists()


def test_vcf_on_wrong_contig_names(workdir):
    vcf = workdir / "reads/calls.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=17>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1-T\n"
        "17\t7578406\t.\tC\tT\t50\tPASS\t.\tGT\t0/1\n")
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\t\treads/calls.vcf\t\n")
    imported = f"results/shards/{shard_of(workdir, 'P1')}/imported"
    result = run_snakemake(workdir, "--cores", "1", imported, check=False)
    assert result.returncode != 0
    error_line(result, "reads/calls.vcf", "row 1", "'17'")
    assert not (workdir / imported).exists()


def test_hg19_bam_contigs_are_refused(workdir):
    shutil.copy(REPO / "tests/data/bad_inputs/NA06984_T.hg19_head.bam", workdir / "reads/hg19.bam")
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\treads/hg19.bam\t\t\n")
    result = run_snakemake(workdir, "--cores", "1", "results/checks/P1-T.bam.ok", check=False)
    assert result.returncode != 0
    error_line(result, "reads/hg19.bam", "row 1", "chr17")
