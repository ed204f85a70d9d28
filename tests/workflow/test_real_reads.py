"""Real 1000 Genomes reads (NA06984, hg19-era exome, 34-38 bp) through the FASTQ path onto GRCh38."""

from __future__ import annotations

import shutil

import pysam
import pytest

from helpers import REPO, make_workdir, run_snakemake
from oncoweave.genome.gene_models import canonical_models

pytestmark = pytest.mark.workflow

READS = REPO / "tests/data/1000g_tp53_reads"
REFERENCE = REPO / "resources/reference"


def test_real_reads_map_to_tp53_on_grch38(tmp_path):
    (tmp_path / "reads").mkdir()
    for mate in (1, 2):
        shutil.copy(READS / f"NA06984_T_{mate}.fastq.gz", tmp_path / f"reads/NA06984_{mate}.fastq.gz")
    sheet = ("patient\tsample\ttype\tfastq1\tfastq2\tbam\tvcf\tpurity\n"
             "NA06984\tNA06984-T\ttumour\treads/NA06984_1.fastq.gz\treads/NA06984_2.fastq.gz\t\t\t\n")
    make_workdir(tmp_path, sheet)
    run_snakemake(tmp_path, "--cores", "2", "results/mapped/NA06984-T.bam",
                  "results/qc/mapped/NA06984-T")

    with pysam.AlignmentFile(str(tmp_path / "results/mapped/NA06984-T.bam")) as bam:
        reads = [r for r in bam.fetch(until_eof=True) if not r.is_secondary and not r.is_supplementary]
    mapped = [r for r in reads if not r.is_unmapped]
    # fastp drops a few low-quality pairs of these old 34-38 bp reads; most must reach the BAM.
    assert 0.9 * 2 * 2475 <= len(reads) <= 2 * 2475
    assert len(mapped) / len(reads) >= 0.9
    # The reads were aligned to hg19 (GRCh38 = hg19 + 96,682 here); re-aligned they must pile up over
    # the canonical TP53 transcript of the GRCh38 contig.
    tp53 = canonical_models(REFERENCE / "gene_models.regions.gff3",
                            REFERENCE / "canonical_transcripts.tsv")["TP53"]
    on_tp53 = [r for r in mapped if r.reference_name == tp53.contig
               and tp53.start - 500 <= r.reference_start <= tp53.end + 500]
    assert len(on_tp53) / len(mapped) >= 0.9
    summary = (tmp_path / "results/qc/mapped/NA06984-T/NA06984-T.mosdepth.summary.txt").read_text()
    tp53_row = next(line.split("\t") for line in summary.splitlines()
                    if line.startswith("chr17_TP53_region"))
    assert float(tp53_row[3]) > 5, "no coverage over the TP53 targets"
