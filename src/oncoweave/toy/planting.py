"""The toy cohort's planted truth: which variants each patient carries, in how many components.

Each tumour is simulated as TUMOUR_COMPONENTS haploid component genomes (``toy.reads``):
components 0-9 from parental haplotype A and 10-19 from B. A variant carried by the first k
components has an expected tumour VAF of k/20: a germline het is on haplotype A (k = 10), a
homozygous one on both (k = 20), a somatic variant of VAF v on round(20 v) components (A first),
and an LOH event (reference allele lost in the tumour cells) on all of A plus round(10 * purity)
components of B. The patient's purity is the tumour-cell fraction: clonal drivers sit at
purity/2, passengers at VAFs up to the purity. Everything is drawn from one seeded generator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from oncoweave.core.errors import InputError
from oncoweave.genome.sequence import complement, left_normalise, translate
from oncoweave.genome.transcripts import Transcript

if TYPE_CHECKING:  # pysam is imported by the modules that open the FASTA
    import pysam

TUMOUR_COMPONENTS = 20
HAPLOTYPE_A_COMPONENTS = TUMOUR_COMPONENTS // 2
MIN_SPACING = 15  # bases between planted variants, so truth matching stays unambiguous
PASSENGER_VAFS = (0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60)
PURITIES = (0.6, 0.7, 0.8, 0.9)
GERMLINE_POOL_SIZE = 40
# Per patient, inclusive ranges: enough germline SNPs for the tumour/normal identity check.
GERMLINE_SNPS_PER_PATIENT = (14, 22)
PASSENGER_SNVS_PER_PATIENT = (4, 6)
PASSENGER_INDELS_PER_PATIENT = (2, 3)
HOMOZYGOUS_FRACTION = 0.15
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
class CopyNumberEvent:
    """A gene-wide copy-number change of the tumour cells, planted in the reads (``toy.reads``).

    The tumour cells are components 0..n-1 of haplotype A and 10..10+n-1 of B, n = round(10 *
    purity) (a clonal driver sits on A's, a germline het on all of A). ``amplification``: each
    tumour-cell component carries ``copies / 2`` copies of the gene (both haplotypes alike, so a
    germline het stays at VAF 0.5); ``deletion``: the B copy is lost in the tumour cells (one copy
    left: A's, with any driver planted on it); ``cn_loh``: the tumour cells' B copy is replaced by
    a copy of A (two copies, no heterozygosity). A germline het on A of a deleted or copy-neutral
    LOH gene becomes an LOH site of that patient (truth FORMAT/STATUS loh).
    """
    patient: str
    gene: str
    kind: str  # amplification | deletion | cn_loh
    copies: int  # total copies in a tumour cell

    @property
    def call(self) -> str:
        """The per-gene copy-number call it should get (oncoweave.variants.copy_number)."""
        return {"amplification": "amplification", "deletion": "loss", "cn_loh": "loh"}[self.kind]


# The toy cohort's copy-number events (seed 1 gives P06 purity 0.6, P07 0.9, P03 0.9): an EGFR
# amplification, a BRCA2 loss whose remaining copy carries the planted p.S1982Rfs*22 (a biallelic
# loss), and a copy-neutral LOH of BRCA1 in a tumour with no BRCA1 somatic variant. Patients a
# smaller cohort lacks get none.
COPY_NUMBER_EVENTS = (
    CopyNumberEvent("P06", "EGFR", "amplification", 8),
    CopyNumberEvent("P07", "BRCA2", "deletion", 1),
    CopyNumberEvent("P03", "BRCA1", "cn_loh", 2),
)


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
    copy_number: dict[str, CopyNumberEvent] = field(default_factory=dict)  # gene -> event

    def add_germline(self, variant: Variant, haplotypes: int, tumour_components: int) -> None:
        self.normal_haplotypes[variant] = haplotypes
        self.tumour_components[variant] = tumour_components

    def tumour_cell_components(self) -> tuple[set[int], set[int]]:
        """(haplotype A's, haplotype B's) tumour-cell components."""
        n = int(round(self.purity * HAPLOTYPE_A_COMPONENTS))
        return (set(range(n)),
                set(range(HAPLOTYPE_A_COMPONENTS, HAPLOTYPE_A_COMPONENTS + n)))

    def component_layout(self, gene: str) -> list[tuple[int, int]]:
        """Per tumour component, over ``gene``'s windows: (the component whose variants it carries,
        its copies relative to one haplotype), from the gene's copy-number event."""
        layout = [(index, 1) for index in range(TUMOUR_COMPONENTS)]
        event = self.copy_number.get(gene)
        if event is None:
            return layout
        cells_a, cells_b = self.tumour_cell_components()
        if event.kind == "amplification":
            return [(index, event.copies // 2 if index in cells_a | cells_b else 1)
                    for index in range(TUMOUR_COMPONENTS)]
        if event.kind == "deletion":
            return [(index, 0 if index in cells_b else 1) for index in range(TUMOUR_COMPONENTS)]
        return [(index - HAPLOTYPE_A_COMPONENTS if index in cells_b else index, 1)
                for index in range(TUMOUR_COMPONENTS)]

    def expected_vaf(self, variant: Variant) -> float:
        """The variant's expected tumour VAF: the reads of the components carrying it."""
        count = self.tumour_components.get(variant, 0)
        layout = self.component_layout(variant.gene)
        total = sum(copies for _, copies in layout)
        return sum(copies for source, copies in layout if source < count) / total

    def status_of(self, variant: Variant) -> str:
        """The variant's status in this patient: loh for a germline het of a gene whose tumour
        cells lost the reference allele (deletion of B, copy-neutral LOH), else as planted."""
        event = self.copy_number.get(variant.gene)
        if (variant.status == "germline" and event is not None
                and event.kind in ("deletion", "cn_loh")
                and self.normal_haplotypes.get(variant) == 1):
            return "loh"
        return variant.status

    def driver_genes(self) -> set[str]:
        """Genes of the planted somatic drivers (the named coding variants)."""
        return {v.gene for v in self.tumour_components if v.status == "somatic" and v.hgvs_p}


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
    by_name = {patient.name: patient for patient in patients}
    for event in COPY_NUMBER_EVENTS:
        if event.patient in by_name and by_name[event.patient].has_normal:
            by_name[event.patient].copy_number[event.gene] = event
    return patients


# Tumour-only patients handed over as VCFs (no reads) after the read patients: they cost a few
# cheap jobs each, so the toy cohort is large enough to cross-validate the fusion models. Each
# draws its drivers: a TP53 hotspot (as common as in carcinomas) and EGFR L858R.
VCF_TP53_RATE = 0.45
VCF_TP53_DRIVERS = (DRIVERS[0], DRIVERS[2], DRIVERS[4])
VCF_EGFR_RATE = 0.2
VCF_EGFR_DRIVER = DRIVERS[1]


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
