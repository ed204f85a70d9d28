"""`oncoweave toy-cohort OUTDIR`: a simulated tumour/normal cohort with a planted truth set.

Reads come from the real reference, cut down to "target windows" (targets +- 350 bp, merged).
Each sample is a mixture of haploid component genomes simulated separately with dwgsim:

* normal: parental haplotypes A and B, depth/2 each;
* tumour: 20 components of depth/20 each, components 0-9 from haplotype A and 10-19 from B.
  A variant carried by the first k components has an expected tumour VAF of k/20: a germline
  het is on haplotype A (k = 10), a homozygous one on both (k = 20), a somatic variant of VAF v
  on round(20 v) components (A first), and an LOH event (reference allele lost in the tumour
  cells) on all of A plus round(10 * purity) components of B.

The patient's purity is the tumour-cell fraction: clonal drivers sit at purity/2, passengers at
VAFs up to the purity. Everything is drawn from one seeded generator and dwgsim runs with seeds
derived from it, so the same seed gives byte-identical FASTQ and truth.
"""

from __future__ import annotations

import csv
import posixpath
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pysam

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import indexed_vcf_on_success, replaced_on_success
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR
from oncoweave.genome.transcripts import (
    Transcript,
    canonical_models,
    complement,
    left_normalise,
    translate,
)

TUMOUR_COMPONENTS = 20
HAPLOTYPE_A_COMPONENTS = TUMOUR_COMPONENTS // 2
WINDOW_FLANK = 350  # read pairs are ~300 bp: full depth reaches this far into the window
MIN_SPACING = 15  # bases between planted variants, so truth matching stays unambiguous
PASSENGER_VAFS = (0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60)
PURITIES = (0.6, 0.7, 0.8, 0.9)
GERMLINE_POOL_SIZE = 40
# Per patient, inclusive ranges: enough germline SNPs for the tumour/normal identity check.
GERMLINE_SNPS_PER_PATIENT = (14, 22)
PASSENGER_SNVS_PER_PATIENT = (4, 6)
PASSENGER_INDELS_PER_PATIENT = (2, 3)
HOMOZYGOUS_FRACTION = 0.15
INSERT_SIZE, INSERT_SD = 300, 30
BASE_ERROR_RATE = 0.002
BASES = "ACGT"
MAX_DRAWS = 10_000  # random sites tried per variant before the targets count as full


@dataclass(frozen=True)
class PlantedCoding:
    """A named coding variant planted from its HGVS c. on the gene's canonical transcript."""
    gene: str
    hgvs_c: str
    hgvs_p: str
    vaf: float | None = None  # None: clonal (purity / 2)


# Spread round-robin over the patients, so even a 2-patient cohort carries all of them.
DRIVERS = (
    PlantedCoding("TP53", "c.524G>A", "p.R175H"),
    PlantedCoding("EGFR", "c.2573T>G", "p.L858R"),
    PlantedCoding("TP53", "c.818G>A", "p.R273H"),
    # COSMIC's commonest exon-19 deletion; it cannot be shifted, so HGVS keeps these positions.
    PlantedCoding("EGFR", "c.2235_2249del", "p.E746_A750del"),
    PlantedCoding("TP53", "c.743G>A", "p.R248Q"),
    PlantedCoding("BRCA1", "c.68_69del", "p.E23Vfs*17"),
    PlantedCoding("BRCA2", "c.5946del", "p.S1982Rfs*22"),
    PlantedCoding("EGFR", "c.2369C>T", "p.T790M", vaf=0.10),  # resistance subclone
)
# Founder frameshift (5382insC), carried in the germline of the first patient.
GERMLINE_PATHOGENIC = PlantedCoding("BRCA1", "c.5266dup", "p.Q1756Pfs*74")

_HGVS_C = re.compile(r"^c\.(\d+)(?:_(\d+))?(?:([ACGT])>([ACGT])|(del)|(dup))$")
_HGVS_P_START = re.compile(r"^p\.([A-Z*])(\d+)")


@dataclass(frozen=True)
class Variant:
    contig: str
    pos: int
    ref: str
    alt: str
    status: str  # somatic | germline | loh
    gene: str
    hgvs_c: str = ""
    hgvs_p: str = ""

    @property
    def end(self) -> int:
        return self.pos + len(self.ref) - 1


@dataclass
class Patient:
    name: str
    has_normal: bool
    purity: float
    from_vcf: bool = False  # a tumour-only VCF patient (plan_vcf_patients), not a read patient
    # variant -> how many of the 20 tumour components / of the 2 normal haplotypes carry it
    tumour_components: dict[Variant, int] = field(default_factory=dict)
    normal_haplotypes: dict[Variant, int] = field(default_factory=dict)

    def add_germline(self, variant: Variant, haplotypes: int, tumour_components: int) -> None:
        self.normal_haplotypes[variant] = haplotypes
        self.tumour_components[variant] = tumour_components

    def driver_genes(self) -> set[str]:
        """Genes of the planted somatic drivers (the named coding variants)."""
        return {v.gene for v in self.tumour_components if v.status == "somatic" and v.hgvs_p}


@dataclass(frozen=True)
class Window:
    contig: str
    start: int  # 1-based inclusive
    end: int

    @property
    def name(self) -> str:
        return f"{self.contig}_{self.start}_{self.end}"


@dataclass(frozen=True)
class SimulationSettings:
    tumour_depth: float
    normal_depth: float
    read_length: int
    threads: int
    seed: int


def toy_samples(n_patients: int) -> list[tuple[str, str, str]]:
    """(patient, sample, type) of the cohort, in sheet order; the last patient has no normal."""
    samples = []
    for number in range(1, n_patients + 1):
        patient = f"P{number:02d}"
        samples.append((patient, f"{patient}-T", "tumour"))
        if number < n_patients:
            samples.append((patient, f"{patient}-N", "normal"))
    return samples


# --- reference and targets -------------------------------------------------------------------

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


def read_targets(bed_path: Path, contig_lengths: dict[str, int]) -> list[tuple[str, int, int, str]]:
    """BED rows (contig, 0-based start, end, gene) of the targets, checked against the reference."""
    if not bed_path.is_file():
        raise InputError("targets BED not found", path=bed_path)
    targets = []
    with bed_path.open() as handle:
        for row_number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                raise InputError("expected contig, start, end, gene", path=bed_path, row=row_number)
            contig, start, end, gene = fields[:4]
            if contig not in contig_lengths:
                raise InputError(f"contig {contig!r} is not in the reference", path=bed_path,
                                 row=row_number, column="contig")
            if not (start.isdigit() and end.isdigit() and int(start) < int(end)
                    <= contig_lengths[contig]):
                raise InputError(f"bad interval {start}-{end}", path=bed_path, row=row_number)
            targets.append((contig, int(start), int(end), gene))
    if not targets:
        raise InputError("no target intervals", path=bed_path)
    return targets


def target_windows(targets: list[tuple[str, int, int, str]],
                   contig_lengths: dict[str, int]) -> list[Window]:
    """Targets +- WINDOW_FLANK, clipped to the contig and merged."""
    windows: list[Window] = []
    for contig, start, end, _ in sorted(targets):
        first = max(1, start + 1 - WINDOW_FLANK)
        last = min(contig_lengths[contig], end + WINDOW_FLANK)
        if windows and windows[-1].contig == contig and first <= windows[-1].end + 1:
            windows[-1] = Window(contig, windows[-1].start, max(windows[-1].end, last))
        else:
            windows.append(Window(contig, first, last))
    return windows


# --- planting the truth ----------------------------------------------------------------------

class TruthPlanter:
    """Draws variants into the targets, keeping every planted variant MIN_SPACING apart."""

    def __init__(self, fasta: pysam.FastaFile, targets: list[tuple[str, int, int, str]],
                 rng: np.random.Generator):
        self.fasta = fasta
        self.targets = targets
        self.rng = rng
        lengths = np.array([end - start for _, start, end, _ in targets], dtype=float)
        self.target_weights = lengths / lengths.sum()
        self.occupied: list[Variant] = []

    def is_free(self, contig: str, pos: int, end: int) -> bool:
        return all(other.contig != contig or pos - other.end > MIN_SPACING
                   or other.pos - end > MIN_SPACING for other in self.occupied)

    def claim(self, variant: Variant) -> Variant:
        if not self.is_free(variant.contig, variant.pos, variant.end):
            raise ValueError(f"{variant} lies within {MIN_SPACING} bp of another planted variant")
        self.occupied.append(variant)
        return variant

    def _random_site(self) -> tuple[str, int, str]:
        contig, start, end, gene = self.targets[
            self.rng.choice(len(self.targets), p=self.target_weights)]
        return contig, int(self.rng.integers(start + 1, end + 1)), gene

    def random_variant(self, status: str, indel: bool) -> Variant:
        """A random SNV or 1-6 bp indel in the targets, left-normalised, on free ground."""
        for _ in range(MAX_DRAWS):
            contig, pos, gene = self._random_site()
            ref_base = self.fasta.fetch(contig, pos - 1, pos).upper()
            if ref_base not in BASES:
                continue
            if not indel:
                ref, alt = ref_base, str(self.rng.choice([b for b in BASES if b != ref_base]))
            else:
                size = int(self.rng.integers(1, 7))
                if self.rng.random() < 0.5:
                    ref = self.fasta.fetch(contig, pos - 1, pos + size).upper()
                    alt = ref[0]
                else:
                    ref = ref_base
                    alt = ref_base + "".join(self.rng.choice(list(BASES), size=size))
                if set(ref) - set(BASES):
                    continue
                pos, ref, alt = left_normalise(self.fasta, contig, pos, ref, alt)
            if self.is_free(contig, pos, pos + len(ref) - 1):
                return self.claim(Variant(contig, pos, ref, alt, status, gene))
        raise InputError(f"targets too small to plant {len(self.occupied) + 1} variants "
                         f"{MIN_SPACING} bp apart")

    def coding_variant(self, planted: PlantedCoding, transcript: Transcript,
                       status: str) -> Variant:
        pos, ref, alt = coding_alleles(planted, transcript, self.fasta)
        return self.claim(Variant(transcript.contig, pos, ref, alt, status, planted.gene,
                                  planted.hgvs_c, planted.hgvs_p))


def coding_alleles(planted: PlantedCoding, transcript: Transcript,
                   fasta: pysam.FastaFile) -> tuple[int, str, str]:
    """VCF alleles (left-normalised) of a substitution/del/dup given in c. notation.

    Checks that the HGVS p. reference residue is what the reference codon encodes, and that
    the alleles print back as the same c. notation (so the c. was 3'-shifted and its bases right).
    """
    match = _HGVS_C.match(planted.hgvs_c)
    if not match:
        raise ValueError(f"unsupported HGVS c. {planted.hgvs_c!r}")
    first_c, last_c = int(match[1]), int(match[2] or match[1])
    ends = (transcript.cds_to_genomic(first_c), transcript.cds_to_genomic(last_c))
    positions = (min(ends), max(ends))
    contig = transcript.contig
    if match[3]:
        pos = positions[0]
        ref = fasta.fetch(contig, pos - 1, pos).upper()
        alt = match[4] if transcript.strand == "+" else complement(match[4])
    else:
        anchor = positions[0] - 1
        span = fasta.fetch(contig, anchor - 1, positions[1]).upper()  # anchor + affected bases
        ref, alt = (span, span[0]) if match[5] else (span[0], span)
        pos, ref, alt = left_normalise(fasta, contig, anchor, ref, alt)
    residue, protein_pos = _HGVS_P_START.match(planted.hgvs_p).groups()
    protein_pos = int(protein_pos)
    codon = "".join(fasta.fetch(contig, p - 1, p).upper()
                    for p in transcript.codon_positions(protein_pos))
    encoded = translate(codon if transcript.strand == "+" else complement(codon))
    if encoded != residue:
        raise ValueError(f"{planted.gene} codon {protein_pos} encodes {encoded}, "
                         f"not {residue} ({planted.hgvs_p})")
    printed = transcript.hgvs_c(pos, ref, alt, fasta)
    if printed != planted.hgvs_c:
        raise ValueError(f"{planted.gene} {planted.hgvs_c} prints back as {printed}")
    return pos, ref, alt


def somatic_components(vaf: float) -> int:
    return int(round(vaf * TUMOUR_COMPONENTS))


def loh_components(purity: float) -> int:
    return HAPLOTYPE_A_COMPONENTS + int(round(purity * HAPLOTYPE_A_COMPONENTS))


def plan_cohort(n_patients: int, fasta: pysam.FastaFile, targets: list[tuple[str, int, int, str]],
                models: dict[str, Transcript], seed: int) -> list[Patient]:
    """Every patient's planted variants, drawn deterministically from `seed`."""
    rng = np.random.default_rng(seed)
    planter = TruthPlanter(fasta, targets, rng)
    patients = [Patient(f"P{number:02d}", has_normal=number < n_patients,
                        purity=float(rng.choice(PURITIES))) for number in range(1, n_patients + 1)]
    for index, planted in enumerate(DRIVERS):
        patient = patients[index % n_patients]
        variant = planter.coding_variant(planted, models[planted.gene], "somatic")
        vaf = planted.vaf if planted.vaf is not None else patient.purity / 2
        patient.tumour_components[variant] = somatic_components(vaf)
    pathogenic = planter.coding_variant(GERMLINE_PATHOGENIC, models[GERMLINE_PATHOGENIC.gene],
                                        "germline")
    patients[0].add_germline(pathogenic, 1, HAPLOTYPE_A_COMPONENTS)
    pool = [planter.random_variant("germline", indel=False) for _ in range(GERMLINE_POOL_SIZE)]
    for number, patient in enumerate(patients, start=1):
        _plant_patient(patient, number, planter, pool, rng)
    return patients


# Tumour-only patients handed over as VCFs (no reads) after the read patients: they cost a few
# cheap jobs each, so the toy cohort is large enough to cross-validate the fusion models. Each
# draws its drivers: a TP53 hotspot (as common as in carcinomas) and EGFR L858R.
VCF_TP53_RATE = 0.45
VCF_TP53_DRIVERS = (DRIVERS[0], DRIVERS[2], DRIVERS[4])
VCF_EGFR_RATE = 0.2
VCF_EGFR_DRIVER = DRIVERS[1]
VCF_DEPTH = 200  # mean tumour depth of the VCF's FORMAT/DP


def plan_vcf_patients(first_number: int, count: int, fasta: pysam.FastaFile,
                      targets: list[tuple[str, int, int, str]], models: dict[str, Transcript],
                      seed: int) -> list[Patient]:
    """Tumour-only patients ``first_number``.. with drivers, passengers and germline SNPs, drawn
    from their own stream so that adding them leaves the read patients unchanged."""
    rng = np.random.default_rng([seed, 97])
    shared = TruthPlanter(fasta, targets, rng)
    drivers = {planted: shared.coding_variant(planted, models[planted.gene], "somatic")
               for planted in (*VCF_TP53_DRIVERS, VCF_EGFR_DRIVER)}
    pool = [shared.random_variant("germline", indel=False) for _ in range(GERMLINE_POOL_SIZE)]
    patients = []
    for number in range(first_number, first_number + count):
        patient = Patient(f"P{number:02d}", has_normal=False, purity=float(rng.choice(PURITIES)),
                          from_vcf=True)
        chosen = []
        if rng.random() < VCF_TP53_RATE:
            chosen.append(VCF_TP53_DRIVERS[int(rng.integers(len(VCF_TP53_DRIVERS)))])
        if rng.random() < VCF_EGFR_RATE:
            chosen.append(VCF_EGFR_DRIVER)
        for planted in chosen:
            patient.tumour_components[drivers[planted]] = somatic_components(patient.purity / 2)
        # Passengers keep clear of the drivers and the germline pool, within this patient only.
        planter = TruthPlanter(fasta, targets, rng)
        planter.occupied = list(shared.occupied)
        _plant_patient(patient, number, planter, pool, rng)
        patients.append(patient)
    return patients


def _count_in(bounds: tuple[int, int], rng: np.random.Generator) -> int:
    """A random count within inclusive bounds."""
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _plant_patient(patient: Patient, number: int, planter: TruthPlanter, pool: list[Variant],
                   rng: np.random.Generator) -> None:
    vafs = [v for v in PASSENGER_VAFS if v <= patient.purity]
    n_snvs = _count_in(PASSENGER_SNVS_PER_PATIENT, rng)
    n_indels = _count_in(PASSENGER_INDELS_PER_PATIENT, rng)
    for indel in [False] * n_snvs + [True] * n_indels:
        variant = planter.random_variant("somatic", indel)
        patient.tumour_components[variant] = somatic_components(float(rng.choice(vafs)))
    n_germline = _count_in(GERMLINE_SNPS_PER_PATIENT, rng)
    for index in sorted(rng.choice(len(pool), size=n_germline, replace=False)):
        homozygous = rng.random() < HOMOZYGOUS_FRACTION
        patient.add_germline(pool[index], 2 if homozygous else 1,
                             TUMOUR_COMPONENTS if homozygous else HAPLOTYPE_A_COMPONENTS)
    if patient.has_normal and number % 2 == 1:
        loh = planter.random_variant("loh", indel=False)
        patient.add_germline(loh, 1, loh_components(patient.purity))


# --- simulating reads ------------------------------------------------------------------------

def component_sequences(windows: list[Window], fasta: pysam.FastaFile,
                        variants: set[Variant]) -> list[tuple[str, str]]:
    """(window name, sequence) with `variants` applied, for one haploid component genome."""
    records = []
    for window in windows:
        sequence = fasta.fetch(window.contig, window.start - 1, window.end).upper()
        inside = sorted((v for v in variants if v.contig == window.contig
                         and window.start <= v.pos and v.end <= window.end),
                        key=lambda v: v.pos, reverse=True)  # right to left keeps offsets valid
        for variant in inside:
            offset = variant.pos - window.start
            sequence = sequence[:offset] + variant.alt + sequence[offset + len(variant.ref):]
        records.append((window.name, sequence))
    return records


def write_fasta(records: list[tuple[str, str]], path: Path) -> None:
    with path.open("w") as handle:
        for name, sequence in records:
            handle.write(f">{name}\n")
            handle.writelines(sequence[i:i + 60] + "\n" for i in range(0, len(sequence), 60))


@dataclass(frozen=True)
class ComponentJob:
    sample: str
    index: int
    fasta: Path
    depth: float
    seed: int

    @property
    def prefix(self) -> str:
        return f"{self.sample}-c{self.index:02d}"


def sample_jobs(patient: Patient, patient_number: int, windows: list[Window],
                fasta: pysam.FastaFile, settings: SimulationSettings,
                workdir: Path) -> dict[str, list[ComponentJob]]:
    """The dwgsim runs of a patient's samples, each with its component FASTA written."""
    layouts = {f"{patient.name}-T": (patient.tumour_components, TUMOUR_COMPONENTS,
                                     settings.tumour_depth / TUMOUR_COMPONENTS)}
    if patient.has_normal:
        layouts[f"{patient.name}-N"] = (patient.normal_haplotypes, 2, settings.normal_depth / 2)
    jobs = {}
    for sample_index, (sample, (carriers, n_components, depth)) in enumerate(layouts.items()):
        jobs[sample] = []
        for index in range(n_components):
            component_fasta = workdir / f"{sample}-c{index:02d}.fa"
            present = {v for v, count in carriers.items() if count > index}
            write_fasta(component_sequences(windows, fasta, present), component_fasta)
            seed = int(np.random.SeedSequence(
                [settings.seed, patient_number, sample_index, index]).generate_state(1)[0] >> 1)
            jobs[sample].append(ComponentJob(sample, index, component_fasta, depth, seed))
    return jobs


def run_dwgsim(job: ComponentJob, read_length: int) -> tuple[Path, Path]:
    out_prefix = job.fasta.with_suffix("")
    command = ["dwgsim", "-e", str(BASE_ERROR_RATE), "-E", str(BASE_ERROR_RATE), "-r", "0",
               "-y", "0", "-d", str(INSERT_SIZE), "-s", str(INSERT_SD),
               "-1", str(read_length), "-2", str(read_length), "-C", f"{job.depth:g}",
               "-z", str(job.seed), "-o", "1", "-P", job.prefix, str(job.fasta), str(out_prefix)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dwgsim failed for {job.prefix}: {result.stderr[-2000:]}")
    return (Path(f"{out_prefix}.bwa.read1.fastq.gz"), Path(f"{out_prefix}.bwa.read2.fastq.gz"))


def concatenate_gzip(parts: list[Path], output: Path) -> None:
    """Join gzip files member by member (valid gzip; dwgsim writes mtime 0, so bytes are stable)."""
    with replaced_on_success(output) as temporary, temporary.open("wb") as handle:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, handle)


# --- outputs ---------------------------------------------------------------------------------

def truth_header(fasta: pysam.FastaFile, patients: list[Patient], settings: SimulationSettings,
                 reference: Path) -> pysam.VariantHeader:
    header = pysam.VariantHeader()
    header.add_line(f"##source=oncoweave toy-cohort {__version__}")
    header.add_line(f"##reference={reference.name}")
    header.add_line(
        f"##oncoweave_toy=<patients={len(patients)},seed={settings.seed},"
        f"tumour_depth={settings.tumour_depth:g},normal_depth={settings.normal_depth:g},"
        f"read_length={settings.read_length},tumour_components={TUMOUR_COMPONENTS}>")
    header.add_line("##oncoweave_toy_note=Coordinates are reference-contig positions; alleles "
                    "left-aligned and trimmed as bcftools norm -f writes them. One record per "
                    "planted variant; a patient carries it when its GT is not 0/0.")
    for contig, length in zip(fasta.references, fasta.lengths):
        header.contigs.add(contig, length=length)
    header.add_meta("INFO", items=[
        ("ID", "STATUS"), ("Number", 1), ("Type", "String"),
        ("Description", "How it was planted: somatic (tumour only), germline (normal and "
                        "tumour), loh (germline het whose reference allele the tumour cells "
                        "lost)")])
    header.add_meta("INFO", items=[("ID", "GENE"), ("Number", 1), ("Type", "String"),
                                   ("Description", "Gene of the target interval holding it")])
    header.add_meta("INFO", items=[
        ("ID", "HGVSC"), ("Number", 1), ("Type", "String"),
        ("Description", "HGVS c. on the canonical transcript (planted drivers and the germline "
                        "pathogenic variant)")])
    header.add_meta("INFO", items=[
        ("ID", "HGVSP"), ("Number", 1), ("Type", "String"),
        ("Description", "HGVS p. with one-letter residues (planted drivers and the germline "
                        "pathogenic variant)")])
    header.add_meta("FORMAT", items=[
        ("ID", "GT"), ("Number", 1), ("Type", "String"),
        ("Description", "The patient's genotype: 0/1 somatic or germline het (loh included), "
                        "1/1 germline hom, 0/0 not carried")])
    header.add_meta("FORMAT", items=[
        ("ID", "VAF"), ("Number", 1), ("Type", "Float"),
        ("Description", f"Expected tumour VAF: the fraction of the {TUMOUR_COMPONENTS} simulated "
                        "tumour components carrying ALT")])
    header.add_meta("FORMAT", items=[
        ("ID", "NVAF"), ("Number", 1), ("Type", "Float"),
        ("Description", "Expected normal VAF (0.5 germline het, 1 hom, 0 somatic); missing when "
                        "the patient has no normal")])
    for patient in patients:
        header.add_sample(patient.name)
    return header


def in_reference_order(variants, fasta: pysam.FastaFile) -> list[Variant]:
    """``variants`` sorted as a VCF must be: by the FASTA's contig order, position, alleles."""
    order = {contig: i for i, contig in enumerate(fasta.references)}
    return sorted(variants, key=lambda v: (order[v.contig], v.pos, v.ref, v.alt))


def write_truth(path: Path, fasta: pysam.FastaFile, patients: list[Patient],
                settings: SimulationSettings, reference: Path) -> None:
    header = truth_header(fasta, patients, settings, reference)
    variants = in_reference_order({v for p in patients for v in p.tumour_components}, fasta)
    with indexed_vcf_on_success(path) as temporary:
        with pysam.VariantFile(str(temporary), "wz", header=header) as vcf:
            for variant in variants:
                vcf.write(_truth_record(vcf, variant, patients))


def _truth_record(vcf: pysam.VariantFile, variant: Variant, patients: list[Patient]):
    record = vcf.new_record(contig=variant.contig, start=variant.pos - 1,
                            alleles=(variant.ref, variant.alt))
    record.info["STATUS"] = variant.status
    record.info["GENE"] = variant.gene
    if variant.hgvs_p:
        record.info["HGVSC"] = variant.hgvs_c
        record.info["HGVSP"] = variant.hgvs_p
    for patient in patients:
        _fill_sample(record.samples[patient.name], patient, variant)
    return record


def _fill_sample(call, patient: Patient, variant: Variant) -> None:
    components = patient.tumour_components.get(variant, 0)
    haplotypes = patient.normal_haplotypes.get(variant, 0)
    if variant.status == "somatic":
        call["GT"] = (0, 1) if components else (0, 0)
    else:
        call["GT"] = ((0, 0), (0, 1), (1, 1))[haplotypes]
    call["VAF"] = components / TUMOUR_COMPONENTS
    if patient.has_normal:
        call["NVAF"] = haplotypes / 2


def vcf_sample(patient: Patient) -> str:
    return f"{patient.name}-T"


def write_patient_vcf(path: Path, fasta: pysam.FastaFile, patient: Patient,
                      rng: np.random.Generator) -> None:
    """The tumour-only VCF a caller would hand over for ``patient``: its planted variants with
    GT and read counts (AD, ADF, ADR, DP) drawn around VCF_DEPTH at their expected VAF."""
    header = pysam.VariantHeader()
    header.add_line(f"##source=oncoweave toy-cohort {__version__} (tumour-only VCF patient)")
    for contig, length in zip(fasta.references, fasta.lengths):
        header.contigs.add(contig, length=length)
    header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", 1), ("Type", "String"),
                                     ("Description", "Genotype")])
    header.add_meta("FORMAT", items=[("ID", "DP"), ("Number", 1), ("Type", "Integer"),
                                     ("Description", "Read depth")])
    for key, what in (("AD", "Allelic depths"), ("ADF", "Allelic depths, forward strand"),
                      ("ADR", "Allelic depths, reverse strand")):
        header.add_meta("FORMAT", items=[("ID", key), ("Number", "R"), ("Type", "Integer"),
                                         ("Description", f"{what} (REF, ALT)")])
    header.add_sample(vcf_sample(patient))
    variants = in_reference_order(patient.tumour_components, fasta)
    with indexed_vcf_on_success(path) as temporary:
        with pysam.VariantFile(str(temporary), "wz", header=header) as vcf:
            for variant in variants:
                vaf = patient.tumour_components[variant] / TUMOUR_COMPONENTS
                depth = int(rng.poisson(VCF_DEPTH))
                alt = int(rng.binomial(depth, vaf))
                forward = (int(rng.binomial(depth - alt, 0.5)), int(rng.binomial(alt, 0.5)))
                record = vcf.new_record(contig=variant.contig, start=variant.pos - 1,
                                        alleles=(variant.ref, variant.alt), filter="PASS")
                call = record.samples[vcf_sample(patient)]
                call["GT"] = (1, 1) if vaf >= 1 else (0, 1)
                call["DP"], call["AD"] = depth, (depth - alt, alt)
                call["ADF"] = forward
                call["ADR"] = (depth - alt - forward[0], alt - forward[1])
                vcf.write(record)


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


def toy_vcf_samples(n_patients: int, n_vcf_patients: int) -> list[str]:
    """Tumour sample names of the VCF patients that follow ``n_patients`` read patients."""
    return [f"P{number:02d}-T" for number in range(n_patients + 1, n_patients + n_vcf_patients + 1)]


# The tumour type of a toy patient follows its planted driver, so therapy matching has a disease to
# match against; a germline BRCA1/2 carrier is a breast cancer patient.
CANCER_TYPE_OF_DRIVER_GENE = {"EGFR": "Lung Adenocarcinoma", "TP53": "Colorectal Adenocarcinoma",
                              "BRCA1": "Breast Cancer", "BRCA2": "Ovarian Cancer"}
CANCER_TYPES = tuple(sorted(set(CANCER_TYPE_OF_DRIVER_GENE.values())))
CLINICAL_COLUMNS = ["patient", "age", "sex", "stage", "cancer_type", "treatment", "os_months",
                    "os_event", "response"]


def cancer_type(patient_number: int, genes: set[str]) -> str:
    """The cancer type of patient number ``patient_number`` (1-based) with somatic drivers in
    ``genes``: that of its first driver (DRIVERS order), else one by patient number."""
    if patient_number == 1:  # carries GERMLINE_PATHOGENIC
        return CANCER_TYPE_OF_DRIVER_GENE[GERMLINE_PATHOGENIC.gene]
    for planted in DRIVERS:
        if planted.gene in genes:
            return CANCER_TYPE_OF_DRIVER_GENE[planted.gene]
    return CANCER_TYPES[patient_number % len(CANCER_TYPES)]


STAGES = ("I", "II", "III", "IV")
# The toy outcome model (log hazard per month, documented in README "The toy cohort"): the hidden
# risk that the synthetic lesion phantoms show (oncoweave.toy.images.hidden_risk), a TP53 driver,
# and stage each raise the hazard, so imaging, genomics and clinical data each carry part of it.
BASELINE_HAZARD_PER_MONTH = 1 / 36
WEIBULL_SHAPE = 2.0  # > 1: event times less dispersed than exponential ones
# Each part spreads the log hazard about equally (sd 0.7-0.9), so no modality alone explains it.
LOG_HAZARD_PER_UNIT_RISK = 3.0
LOG_HAZARD_TP53_DRIVER = 1.5
LOG_HAZARD_PER_STAGE = 0.7
CENSORING_MONTHS = (6.0, 60.0)  # administrative censoring, uniform over this follow-up


def simulate_outcome(patient_number: int, tp53: bool, stage: str,
                     seed: int) -> tuple[float, int, str]:
    """(os_months, os_event, RECIST response) of a toy patient, from its hidden risk, a TP53 driver
    and stage (Weibull proportional hazards); responders are PR, the others PD."""
    from oncoweave.toy.images import hidden_risk  # toy_images needs SimpleITK; import only here

    rng = np.random.default_rng([seed, patient_number, 7])  # apart from the sheet's
    risk = hidden_risk(patient_number, seed)
    log_hazard = (LOG_HAZARD_PER_UNIT_RISK * (risk - 0.5) + LOG_HAZARD_TP53_DRIVER * tp53
                  + LOG_HAZARD_PER_STAGE * (STAGES.index(stage) - 1.5))
    # Cumulative hazard (t / scale)^k x exp(log_hazard) with scale = 1 / baseline hazard.
    event_time = ((rng.exponential() / np.exp(log_hazard)) ** (1 / WEIBULL_SHAPE)
                  / BASELINE_HAZARD_PER_MONTH)
    censor_time = rng.uniform(*CENSORING_MONTHS)
    # Response to first-line treatment falls with the same hidden risk.
    responds = rng.random() < 1 / (1 + np.exp(3.0 * (risk - 0.5) + 0.5 * tp53))
    return (round(float(min(event_time, censor_time)), 1), int(event_time <= censor_time),
            "PR" if responds else "PD")


def write_clinical(path: Path, patients: list[Patient], seed: int) -> None:
    """Age, sex, stage, cancer type and simulated outcomes (simulate_outcome) per patient."""
    rng = np.random.default_rng([seed, len(patients)])
    with replaced_on_success(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(CLINICAL_COLUMNS)
        for number, patient in enumerate(patients, start=1):
            genes = patient.driver_genes()
            # A VCF patient's cancer type is drawn apart from its drivers, so the clinical table
            # carries no proxy of the genomic part of the outcome.
            kind = (str(rng.choice(CANCER_TYPES)) if patient.from_vcf
                    else cancer_type(number, genes))
            sex = ("F" if kind in ("Breast Cancer", "Ovarian Cancer")
                   else str(rng.choice(["F", "M"])))
            age = int(rng.integers(38, 80))
            stage = str(rng.choice(STAGES))
            os_months, os_event, response = simulate_outcome(number, "TP53" in genes, stage, seed)
            writer.writerow([patient.name, age, sex, stage, kind, "", os_months, os_event,
                             response])


# ---------------------------------------------------------------------------------------------
# The workflow's toy cohort: patient number -> what its image is. Real pyradiomics test cases
# (NRRD, copied unchanged) for P01-P03, matched to the cancer type where one fits (P01 breast,
# P02 lung); phantoms for P04-P06 and P08, P05 as DICOM with planted PHI; P07 has no image, so
# later stages meet a patient without imaging. Patients after P08 get NIfTI phantoms.
PHANTOM, DICOM_PHANTOM = "phantom", "dicom_phantom"
TOY_IMAGE_PLAN = {1: "testcase:breast1", 2: "testcase:lung1", 3: "testcase:brain1",
                  4: PHANTOM, 5: DICOM_PHANTOM, 6: PHANTOM, 7: None, 8: PHANTOM}
TESTCASE_MODALITY = {"brain1": "MR", "breast1": "MR", "lung1": "CT"}
TESTCASE_FOLDER = "pyradiomics_testcases"


def toy_image_rows(outdir: str | Path, n_patients: int) -> list[dict]:
    """Image-sheet rows of the toy cohort's first ``n_patients`` (TOY_IMAGE_PLAN), plus 'source'.

    Paths are ``outdir``-joined strings; 'source' tells write_toy_images what to write
    (testcase:<name>, PHANTOM or DICOM_PHANTOM) and is not an image-sheet column.
    """
    rows = []
    for number in range(1, n_patients + 1):
        patient = f"P{number:02d}"
        source = TOY_IMAGE_PLAN.get(number, PHANTOM)
        if source is None:
            continue
        if source.startswith("testcase:"):
            folder = Path(outdir) / patient
            name = source.partition(":")[2]
            rows.append({"patient": patient, "lesion": "L1", "image": str(folder / "image.nrrd"),
                         "mask": str(folder / "mask.nrrd"), "modality": TESTCASE_MODALITY[name],
                         "label": 1, "source": source})
        else:
            rows.append(phantom_row(Path(outdir), patient, dicom=source == DICOM_PHANTOM))
    return rows


def toy_image_files(rows: list[dict], directory: Callable[[str], str] = str) -> list[str]:
    """Every path ``rows`` name (images and masks); a DICOM folder passed through ``directory``.

    In a rule's output give ``directory=directory`` (Snakemake's flag) so the series folder is a
    directory output; the plain strings serve as the image sheet's ``generated`` set.
    """
    files = []
    for row in rows:
        files.append(directory(row["image"]) if row["source"] == DICOM_PHANTOM else row["image"])
        files.append(row["mask"])
    return files


def bundled_testcase_files(resources_imaging: str | Path) -> list[str]:
    """The pyradiomics test-case NRRDs under ``resources_imaging`` that TOY_IMAGE_PLAN uses."""
    names = sorted({source.partition(":")[2] for source in TOY_IMAGE_PLAN.values()
                    if source and source.startswith("testcase:")})
    folder = Path(resources_imaging) / TESTCASE_FOLDER
    return [str(folder / f"{name}_{kind}.nrrd") for name in names for kind in ("image", "label")]


def phantom_row(outdir: Path, patient: str, dicom: bool) -> dict:
    """Image-sheet row of a toy phantom (NIfTI, or a DICOM series folder), plus its source."""
    image = outdir / patient / ("dicom" if dicom else "image.nii.gz")
    return {"patient": patient, "lesion": "L1", "image": str(image),
            "mask": str(outdir / patient / "mask.nii.gz"), "modality": "CT", "label": 1,
            "source": DICOM_PHANTOM if dicom else PHANTOM}


def simulate_reads(jobs: dict[str, list[ComponentJob]], settings: SimulationSettings,
                   reads_dir: Path) -> None:
    all_jobs = [job for sample_jobs_ in jobs.values() for job in sample_jobs_]
    with ThreadPoolExecutor(max_workers=settings.threads) as pool:
        outputs = dict(zip(all_jobs, pool.map(
            lambda job: run_dwgsim(job, settings.read_length), all_jobs)))
    for sample, sample_components in jobs.items():
        for mate in (0, 1):
            concatenate_gzip([outputs[job][mate] for job in sample_components],
                             reads_dir / f"{sample}_R{mate + 1}.fastq.gz")


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
            _check_inside_windows(patients, windows)
            jobs = {}
            for number, patient in enumerate(patients, start=1):
                jobs.update(sample_jobs(patient, number, windows, fasta, settings, workdir))
            reads_dir = Path(outdir) / "reads"
            reads_dir.mkdir(parents=True, exist_ok=True)
            simulate_reads(jobs, settings, reads_dir)
            write_truth(Path(outdir) / "truth.vcf.gz", fasta, patients, settings, reference)
            vcf_patients = plan_vcf_patients(n_patients + 1, n_vcf_patients, fasta, targets,
                                             models, settings.seed)
            _check_inside_windows(vcf_patients, windows)
            (Path(outdir) / "vcf").mkdir(parents=True, exist_ok=True)
            counts_rng = np.random.default_rng([settings.seed, 98])
            for patient in vcf_patients:
                write_patient_vcf(Path(outdir) / "vcf" / f"{vcf_sample(patient)}.vcf.gz", fasta,
                                  patient, counts_rng)
    write_sheet(Path(outdir) / "samples.tsv", outdir, patients, vcf_patients)
    write_clinical(Path(outdir) / "clinical.tsv", [*patients, *vcf_patients], settings.seed)


def _check_inside_windows(patients: list[Patient], windows: list[Window]) -> None:
    for variant in {v for p in patients for v in p.tumour_components}:
        if not any(w.contig == variant.contig and w.start <= variant.pos and variant.end <= w.end
                   for w in windows):
            raise ValueError(f"planted {variant} lies outside the simulated windows")


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


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "toy-cohort", help="simulate a tumour/normal cohort (reads, truth VCF, sample sheet)")
    parser.add_argument("outdir", metavar="OUTDIR")
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--vcf-patients", type=int, default=0,
                        help="tumour-only patients given as VCFs, after the read patients")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference",
                        default=str(BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa"))
    parser.add_argument("--gff3", default=str(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"))
    parser.add_argument("--canonical",
                        default=str(BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv"))
    parser.add_argument("--targets", default=str(BUNDLED_REFERENCE_DIR / "targets.bed"))
    parser.add_argument("--tumour-depth", type=float, default=200)
    parser.add_argument("--normal-depth", type=float, default=100)
    parser.add_argument("--read-length", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.set_defaults(func=_cmd_toy_cohort)


def _cmd_toy_cohort(args) -> int:
    settings = SimulationSettings(tumour_depth=args.tumour_depth, normal_depth=args.normal_depth,
                                  read_length=args.read_length, threads=args.threads,
                                  seed=args.seed)
    started = time.perf_counter()
    make_toy_cohort(args.outdir, args.patients, Path(args.reference), Path(args.gff3),
                    Path(args.canonical), Path(args.targets), settings, args.vcf_patients)
    print(f"toy cohort of {args.patients} read + {args.vcf_patients} VCF patients in {args.outdir} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0
