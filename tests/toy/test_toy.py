"""The toy-cohort generator: deterministic reads, a truth VCF that matches published coordinates,
a sample sheet, and reads that map back to the reference."""

from __future__ import annotations

import gzip
import re
import subprocess
from itertools import islice
from pathlib import Path

import pandas as pd
import pysam
import pytest

from helpers import indexed_bundled_reference
from oncoweave.cli.main import main
from oncoweave.genome.gene_models import canonical_models
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.genome.sequence import reverse_complement, translate
from oncoweave.toy import clinical as toy_clinical
from oncoweave.toy import planting
from oncoweave.toy.layout import toy_samples
from oncoweave.toy.planting import PASSENGER_VAFS, PURITIES

CONTIGS = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")
# GRCh38 VCF alleles of the planted drivers as ClinVar/COSMIC give them.
KNOWN_DRIVERS = {
    "p.R175H": ("chr17", 7675088, "C", "T"),
    "p.R248Q": ("chr17", 7674220, "C", "T"),
    "p.R273H": ("chr17", 7673802, "C", "T"),
    "p.L858R": ("chr7", 55191822, "T", "G"),
    "p.T790M": ("chr7", 55181378, "C", "T"),
    "p.E746_A750del": ("chr7", 55174771, "AGGAATTAAGAGAAGC", "A"),
    "p.E23Vfs*17": ("chr17", 43124027, "ACT", "A"),  # BRCA1 185delAG
    "p.S1982Rfs*22": ("chr13", 32340300, "GT", "G"),  # BRCA2 6174delT
    "p.Q1756Pfs*74": ("chr17", 43057062, "T", "TG"),  # BRCA1 5382insC, germline
}
SMALL_RUN = ["--patients", "2", "--tumour-depth", "40", "--normal-depth", "20"]


def generate(base: Path, seed: int) -> Path:
    """Run the generator from `base` with a relative OUTDIR, as the workflow does."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        assert main(["toy-cohort", "cohort", "--seed", str(seed), *SMALL_RUN]) == 0
    return base / "cohort"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {name: generate(tmp_path_factory.mktemp(name), seed)
            for name, seed in (("first", 7), ("again", 7), ("other_seed", 8))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return indexed_bundled_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def truth(runs) -> list:
    with pysam.VariantFile(str(runs["first"] / "truth.vcf.gz")) as vcf:
        return list(vcf)


@pytest.fixture(scope="module")
def sheet(runs) -> pd.DataFrame:
    return pd.read_csv(runs["first"] / "samples.tsv", sep="\t", dtype=str, keep_default_na=False)


def file_bytes(outdir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(outdir)): p.read_bytes() for p in sorted(outdir.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_identical_bytes(runs):
    first, again = file_bytes(runs["first"]), file_bytes(runs["again"])
    assert sorted(first) == sorted([
        "reads/P01-N_R1.fastq.gz", "reads/P01-N_R2.fastq.gz", "reads/P01-T_R1.fastq.gz",
        "reads/P01-T_R2.fastq.gz", "reads/P02-T_R1.fastq.gz", "reads/P02-T_R2.fastq.gz",
        "samples.tsv", "clinical.tsv", "truth.vcf.gz", "truth.vcf.gz.tbi"])
    assert first == again
    other = file_bytes(runs["other_seed"])
    assert other["reads/P01-T_R1.fastq.gz"] != first["reads/P01-T_R1.fastq.gz"]
    assert other["truth.vcf.gz"] != first["truth.vcf.gz"]


def test_clinical_sheet_follows_the_drivers(runs):
    clinical = pd.read_csv(runs["first"] / "clinical.tsv", sep="\t", dtype=str)
    assert list(clinical.columns) == toy_clinical.CLINICAL_COLUMNS
    # P01 carries the germline BRCA1 frameshift; P02's first driver is EGFR L858R.
    assert list(clinical.cancer_type) == ["Breast Cancer", "Lung Adenocarcinoma"]
    assert clinical.os_months.astype(float).gt(0).all()
    assert set(clinical.os_event) <= {"0", "1"} and set(clinical.response) <= {"PR", "PD"}


def test_outcomes_follow_the_hidden_risk():
    """Across many toy patients, higher hidden risk means shorter survival (what fusion finds)."""
    from scipy.stats import spearmanr

    from oncoweave.toy.clinical import hidden_risk

    outcomes = [toy_clinical.simulate_outcome(n, False, "II", seed=1) for n in range(1, 201)]
    risk = [hidden_risk(n, 1) for n in range(1, 201)]
    months = [months for months, _, _ in outcomes]
    assert spearmanr(risk, months).statistic < -0.3
    assert 0.3 < sum(event for _, event, _ in outcomes) / 200 < 0.95


def test_sheet_rows_and_relative_paths(sheet):
    assert list(sheet.columns) == ["patient", "sample", "type", "fastq1", "fastq2", "bam", "vcf",
                                   "purity"]
    assert list(zip(sheet.patient, sheet["sample"], sheet.type)) == toy_samples(2) == [
        ("P01", "P01-T", "tumour"), ("P01", "P01-N", "normal"), ("P02", "P02-T", "tumour")]
    assert list(sheet.fastq1) == [f"cohort/reads/{s}_R1.fastq.gz" for s in sheet["sample"]]
    assert list(sheet.fastq2) == [f"cohort/reads/{s}_R2.fastq.gz" for s in sheet["sample"]]
    assert set(sheet.bam) == set(sheet.vcf) == {""}
    tumours = sheet.type == "tumour"
    assert {float(p) for p in sheet.purity[tumours]} <= set(PURITIES)
    assert set(sheet.purity[~tumours]) == {""}


def protein_change(transcript, hgvs_c: str, fasta) -> str:
    """One-letter HGVS p. of a CDS substitution, deletion or dup, by translating the edited CDS."""
    first, last, change = re.match(r"c\.(\d+)(?:_(\d+))?(.+)", hgvs_c).groups()
    first, last = int(first), int(last or first)
    cds = transcript.cds_sequence(fasta)
    edited = {"del": cds[:first - 1] + cds[last:],
              "dup": cds[:last] + cds[first - 1:]}.get(change)
    if edited is None:  # substitution X>Y
        edited = cds[:first - 1] + change[-1] + cds[first:]
    before, after = translate(cds), translate(edited)
    at = next(i for i, (a, b) in enumerate(zip(before, after)) if a != b)
    if len(edited) == len(cds):
        return f"p.{before[at]}{at + 1}{after[at]}"
    if (len(cds) - len(edited)) % 3 == 0:
        lost = (len(cds) - len(edited)) // 3
        return f"p.{before[at]}{at + 1}_{before[at + lost - 1]}{at + lost}del"
    return f"p.{before[at]}{at + 1}{after[at]}fs*{after.index('*', at) - at + 1}"


def test_truth_has_the_drivers_at_their_published_coordinates(truth, reference):
    models = canonical_models(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3",
                              BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv")
    drivers = {r.info["HGVSP"]: r for r in truth if "HGVSP" in r.info}
    assert set(drivers) == set(KNOWN_DRIVERS)
    with pysam.FastaFile(str(reference)) as fasta:
        for hgvs_p, record in drivers.items():
            chrom, pos = CONTIGS.to_genomic(record.chrom, record.pos)
            assert (chrom, pos, record.ref, record.alts[0]) == KNOWN_DRIVERS[hgvs_p]
            transcript = models[record.info["GENE"]]
            assert transcript.hgvs_c(record.pos, record.ref, record.alts[0], fasta) == \
                record.info["HGVSC"]
            assert protein_change(transcript, record.info["HGVSC"], fasta) == hgvs_p
    assert drivers["p.Q1756Pfs*74"].info["STATUS"] == "germline"
    assert {drivers[p].info["STATUS"] for p in KNOWN_DRIVERS if p != "p.Q1756Pfs*74"} == {"somatic"}


def test_truth_alleles_match_the_reference_and_are_normalised(runs, truth, reference):
    with pysam.FastaFile(str(reference)) as fasta:
        for record in truth:
            assert fasta.fetch(record.chrom, record.pos - 1, record.pos - 1 + len(record.ref)) == \
                record.ref
    normalised = subprocess.run(
        ["bcftools", "norm", "-f", str(reference), str(runs["first"] / "truth.vcf.gz")],
        capture_output=True, text=True, check=True).stdout
    after_norm = [tuple(line.split("\t")[:5]) for line in normalised.splitlines()
                  if not line.startswith("#")]
    assert after_norm == [(r.chrom, str(r.pos), ".", r.ref, r.alts[0]) for r in truth]
    for left, right in zip(truth, truth[1:]):
        if left.chrom == right.chrom:
            assert right.pos - (left.pos + len(left.ref) - 1) > 15


def vaf(record, patient: str, field: str = "VAF") -> float | None:
    value = record.samples[patient][field]
    return None if value is None else round(value, 4)  # VCF floats are single precision


def carried(truth, patient: str) -> list:
    return [r for r in truth if r.samples[patient]["GT"] != (0, 0)]


def test_truth_genotypes_and_vafs_follow_the_design(truth, sheet):
    purity = dict(zip(sheet.patient[sheet.type == "tumour"],
                      sheet.purity[sheet.type == "tumour"].astype(float)))
    for patient in ("P01", "P02"):
        records = carried(truth, patient)
        germline = [r for r in records if r.info["STATUS"] == "germline"]
        somatic = [r for r in records if r.info["STATUS"] == "somatic"]
        low, high = planting.GERMLINE_SNPS_PER_PATIENT
        assert low <= len(germline) - (patient == "P01") <= high
        assert {vaf(r, patient) for r in germline} <= {0.5, 1.0}
        for record in germline:
            expected_gt = (1, 1) if vaf(record, patient) == 1.0 else (0, 1)
            assert record.samples[patient]["GT"] == expected_gt
        passengers = [r for r in somatic if "HGVSP" not in r.info]
        assert {vaf(r, patient) for r in passengers} <= set(PASSENGER_VAFS)
        assert any(len(r.ref) != len(r.alts[0]) for r in passengers)
        clonal = [r for r in somatic if "HGVSP" in r.info and r.info["HGVSP"] != "p.T790M"]
        assert {vaf(r, patient) for r in clonal} == {round(purity[patient] / 2, 4)}
    paired, tumour_only = carried(truth, "P01"), carried(truth, "P02")
    loh = [r for r in paired if r.info["STATUS"] == "loh"]
    assert len(loh) == 1
    assert vaf(loh[0], "P01") == round(0.5 + purity["P01"] / 2, 4)
    assert vaf(loh[0], "P01", "NVAF") == 0.5
    assert {vaf(r, "P01", "NVAF") for r in paired if r.info["STATUS"] == "somatic"} == {0.0}
    assert {vaf(r, "P02", "NVAF") for r in tumour_only} == {None}


def read_names_and_sequences(path: Path, limit: int | None = None):
    with gzip.open(path, "rt") as handle:
        lines = islice(handle, None if limit is None else 4 * limit)
        records = list(zip(*[iter(lines)] * 4))
    return [(name.split()[0][1:].rsplit("/", 1)[0], sequence.strip())
            for name, sequence, _, _ in records]


def kmer_reads(path: Path, kmers: set[str]) -> int:
    return sum(any(k in sequence for k in kmers) for _, sequence in read_names_and_sequences(path))


def test_mates_stay_in_sync_and_only_the_tumour_carries_r175h(runs, truth, reference):
    reads = runs["first"] / "reads"
    r1 = read_names_and_sequences(reads / "P01-T_R1.fastq.gz")
    r2 = read_names_and_sequences(reads / "P01-T_R2.fastq.gz")
    assert [name for name, _ in r1] == [name for name, _ in r2]
    assert len({name for name, _ in r1}) == len(r1)
    r175h = next(r for r in truth if r.info.get("HGVSP") == "p.R175H")
    with pysam.FastaFile(str(reference)) as fasta:
        left = fasta.fetch(r175h.chrom, r175h.pos - 16, r175h.pos - 1)
        right = fasta.fetch(r175h.chrom, r175h.pos, r175h.pos + 15)
    alt = {left + r175h.alts[0] + right, reverse_complement(left + r175h.alts[0] + right)}
    ref = {left + r175h.ref + right, reverse_complement(left + r175h.ref + right)}
    for mate in ("R1", "R2"):
        assert kmer_reads(reads / f"P01-T_{mate}.fastq.gz", alt) > 0
        assert kmer_reads(reads / f"P01-N_{mate}.fastq.gz", alt) == 0
        assert kmer_reads(reads / f"P01-N_{mate}.fastq.gz", ref) > 0


def test_reads_map_back_to_the_reference(runs, reference, tmp_path):
    subprocess.run(["bwa", "index", str(reference)], capture_output=True, check=True)
    fastqs = []
    for mate in ("R1", "R2"):
        with gzip.open(runs["first"] / "reads" / f"P01-T_{mate}.fastq.gz", "rt") as handle:
            records = list(zip(*[iter(handle)] * 4))[::50]  # ~200 pairs from all components
        fastqs.append(tmp_path / f"{mate}.fastq")
        fastqs[-1].write_text("".join("".join(record) for record in records))
    sam = tmp_path / "sample.sam"
    with sam.open("w") as out:
        subprocess.run(["bwa", "mem", "-t", "2", str(reference), *map(str, fastqs)], stdout=out,
                       stderr=subprocess.DEVNULL, check=True)
    with pysam.AlignmentFile(str(sam)) as alignments:
        primary = [a for a in alignments if not a.is_secondary and not a.is_supplementary]
    assert len(primary) >= 300
    # read names carry the window they came from, e.g. P01-T-c03_chr17_TP53_34500_36000_...
    on_source_contig = [a for a in primary
                        if a.is_mapped and f"_{a.reference_name}_" in a.query_name]
    assert len(on_source_contig) / len(primary) > 0.95


def test_bad_input_names_the_file_and_writes_nothing(tmp_path, capsys):
    targets = tmp_path / "targets.bed"
    targets.write_text("chr17_TP53\t100\t200\tTP53\nchr99\t100\t200\tX\n")
    outdir = tmp_path / "cohort"
    assert main(["toy-cohort", str(outdir), "--targets", str(targets), *SMALL_RUN]) == 2
    assert "targets.bed, row 2, column 'contig'" in capsys.readouterr().err
    assert main(["toy-cohort", str(outdir), "--patients", "0"]) == 2
    assert "--patients must be >= 1" in capsys.readouterr().err
    assert not outdir.exists()


@pytest.fixture(scope="module")
def with_vcf_patients(tmp_path_factory):
    base = tmp_path_factory.mktemp("vcf_patients")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        assert main(["toy-cohort", "cohort", "--seed", "7", *SMALL_RUN, "--vcf-patients", "6"]) == 0
    return base / "cohort"


def test_vcf_patients_leave_the_read_patients_unchanged(runs, with_vcf_patients):
    first, extended = file_bytes(runs["first"]), file_bytes(with_vcf_patients)
    for name in first:
        if name.startswith("reads/") or name.startswith("truth"):
            assert extended[name] == first[name], name
    assert sorted(n for n in extended if n.startswith("vcf/")) == sorted(
        f"vcf/P{k:02d}-T.vcf.gz{suffix}" for k in range(3, 9) for suffix in ("", ".tbi"))


def test_vcf_patients_are_tumour_only_rows_with_their_vcf(with_vcf_patients):
    sheet = pd.read_csv(with_vcf_patients / "samples.tsv", sep="\t", dtype=str,
                        keep_default_na=False)
    rows = sheet[sheet.vcf != ""]
    assert list(rows.patient) == [f"P{k:02d}" for k in range(3, 9)]
    assert set(rows.type) == {"tumour"} and set(rows.fastq1) == {""}
    assert list(rows.vcf) == [f"cohort/vcf/{p}-T.vcf.gz" for p in rows.patient]
    clinical = pd.read_csv(with_vcf_patients / "clinical.tsv", sep="\t")
    assert list(clinical.patient) == [f"P{k:02d}" for k in range(1, 9)]


def test_vcf_patient_calls_match_the_reference_and_their_planted_vaf(with_vcf_patients,
                                                                      reference):
    sheet = pd.read_csv(with_vcf_patients / "samples.tsv", sep="\t", dtype=str,
                        keep_default_na=False).set_index("sample")
    fasta = pysam.FastaFile(str(reference))
    drivers = 0
    for vcf_path in sorted((with_vcf_patients / "vcf").glob("*.vcf.gz")):
        sample = vcf_path.name.removesuffix(".vcf.gz")
        purity = float(sheet.loc[sample, "purity"])
        with pysam.VariantFile(str(vcf_path)) as vcf:
            assert list(vcf.header.samples) == [sample]
            for record in vcf:
                assert fasta.fetch(record.chrom, record.start, record.stop).upper() == record.ref
                call = record.samples[sample]
                assert sum(call["AD"]) == call["DP"]
                assert tuple(a + b for a, b in zip(call["ADF"], call["ADR"])) == call["AD"]
                site = CONTIGS.to_genomic(record.chrom, record.pos)
                if (*site, record.ref, record.alts[0]) in KNOWN_DRIVERS.values():
                    drivers += 1  # clonal heterozygous: VAF purity / 2
                    assert abs(call["AD"][1] / call["DP"] - purity / 2) < 0.12
    assert drivers >= 2  # at rates 0.45 (TP53) and 0.2 (EGFR) over 6 patients, at this seed
