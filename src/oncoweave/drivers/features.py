"""Features of the driver scorer, computable offline for any variant of TP53, BRCA1, BRCA2, EGFR.

A variant is first *annotated* (gene, consequence, protein position, residues, distance to the
nearest exon-intron junction) either from its HGVS p. change or from its GRCh38 alleles on the
canonical transcript models; ``feature_table`` then turns annotations into the model's numeric
features using the shipped knowledge (domains, cancerhotspots v2 counts, transcript structure).

Patient context (VAF, status, purity) is deliberately NOT a model feature: the labels (ClinVar,
hotspots, CIViC) carry no VAF, so the model scores the variant itself and clonality is reported
beside the score (see ``drivers.scoring.score_drivers``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from oncoweave.drivers.defaults import DRIVER_GENES, DRIVERS_RESOURCE_DIR
from oncoweave.drivers.msa import (
    MSA_FEATURES,
    MSA_TABLE,
    ResidueProfile,
    describe_msa_feature,
    load_msa_table,
    msa_features,
)
from oncoweave.genome.protein import (
    Domain,
    ProteinChange,
    blosum62,
    charge_change,
    domain_at,
    grantham,
    hydropathy_change,
    load_domains,
    mass_change,
    parse_hgvs_p,
    substitution_consequence,
)
from oncoweave.genome.gene_models import canonical_models
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.genome.sequence import complement, translate, trim_alleles
from oncoweave.genome.transcripts import Transcript

if TYPE_CHECKING:
    import pysam

ANNOTATION_COLUMNS = ["gene", "consequence", "protein_position", "protein_end", "ref_aa",
                      "alt_aa", "splice_distance", "hgvs_p"]
# Most severe first: a '&'-joined bcftools consequence is reduced to its first term in this list.
CONSEQUENCE_SEVERITY = ("stop_gained", "frameshift", "splice_acceptor", "splice_donor",
                        "start_lost", "stop_lost", "inframe_deletion", "inframe_insertion",
                        "missense", "splice_region", "synonymous", "5_prime_utr", "3_prime_utr",
                        "intron")
TRUNCATING = {"stop_gained", "frameshift"}
NMD_RULE_NT = 50  # premature stop > 50 nt before the last exon-exon junction triggers NMD
HOTSPOT_WINDOW = 5  # residues either side counted as "nearby"

# Feature name -> what it means (the model card lists these).
FEATURES = {
    "truncating": "stop-gained or frameshift (1/0)",
    "missense": "missense (1/0)",
    "synonymous": "synonymous (1/0)",
    "inframe_indel": "in-frame deletion or insertion (1/0)",
    "canonical_splice": "splice donor/acceptor +-1..2 (1/0)",
    "splice_region": "splice region (intron 3..8 nt) (1/0)",
    "start_or_stop_lost": "start or stop codon lost (1/0)",
    "noncoding": "intron or UTR outside the splice region (1/0)",
    "protein_position": "first residue affected",
    "relative_position": "residue / protein length",
    "in_domain": "inside an annotated protein domain (1/0)",
    "blosum62": "BLOSUM62 score of the substitution (missense)",
    "grantham": "Grantham 1974 distance (missense)",
    "hydropathy_change": "Kyte-Doolittle hydropathy alt - ref (missense)",
    "charge_change": "side-chain charge alt - ref (missense)",
    "mass_change": "residue mass alt - ref in Da (missense)",
    "hotspot_residue_count": "cancerhotspots v2 SNV mutations at this residue",
    "hotspot_change_count": "cancerhotspots v2 mutations with this very amino-acid change",
    "hotspot_nearby_count": f"cancerhotspots v2 SNV mutations within +-{HOTSPOT_WINDOW} residues "
                            "(residue itself excluded)",
    "indel_hotspot_count": "cancerhotspots v2 indel-hotspot mutations over a region covering it",
    "nmd_predicted": "truncation > 50 nt before the last exon junction (1/0)",
    "protein_fraction_lost": "fraction of the protein after a truncation",
    "splice_distance": "nt to the nearest exon-intron junction",
    "msa_conservation": "KL divergence (bits) of the residue's column in the homolog alignment "
                        "from background amino-acid frequencies (sequence-weighted at 80 % "
                        "identity, 1 pseudo-sequence of background); NaN where no alignment "
                        "covers the residue (EGFR; TP53 1-44, 60, 375-393)",
    "msa_log_odds": "ln(p(alt) / p(ref)) in that column (same weighting and pseudocounts); "
                    "missense only, NaN otherwise or where not covered",
    "msa_depth": "effective number of homologs (80 % identity clusters) with a residue in "
                 "that column; NaN where not covered",
}
# Features that restate cancerhotspots counts: circular against hotspot-derived labels.
RECURRENCE_FEATURES = ("hotspot_residue_count", "hotspot_change_count", "hotspot_nearby_count",
                       "indel_hotspot_count")
# Evolutionary features (MSA_FEATURES) come from resources/drivers/msa_features.tsv (drivers.msa).


@dataclass
class GeneStructure:
    """Positions of one canonical transcript in contig coordinates, indexed for annotation."""

    transcript: Transcript
    cds_sequence: str

    @cached_property
    def cds_index(self) -> dict[int, int]:
        """contig position -> 1-based CDS position."""
        return {self.transcript.cds_to_genomic(c): c
                for c in range(1, self.transcript.cds_length + 1)}

    @cached_property
    def exons(self) -> list[tuple[int, int]]:
        exons = list(self.transcript.exons)
        return exons if self.transcript.strand == "+" else list(reversed(exons))

    @cached_property
    def last_junction_cds(self) -> int:
        """CDS coordinate of the last coding base before the last exon-exon junction."""
        penultimate = self.exons[-2]
        last_base = penultimate[1] if self.transcript.strand == "+" else penultimate[0]
        c = self.transcript.c_position(last_base)
        return self.transcript.cds_length + int(c[1:]) if c.startswith("*") else int(c)

    @cached_property
    def protein_length(self) -> int:
        return self.transcript.protein_length

    def exonic_junction_distance(self, pos: int) -> int | None:
        """nt from an exonic base to the nearest exon edge that borders an intron (1 = edge)."""
        for index, (start, end) in enumerate(self.exons):
            if start <= pos <= end:
                edges = []
                five, three = (start, end) if self.transcript.strand == "+" else (end, start)
                if index > 0:
                    edges.append(abs(pos - five) + 1)
                if index < len(self.exons) - 1:
                    edges.append(abs(pos - three) + 1)
                return min(edges) if edges else None
        return None

    def intron_site(self, pos: int) -> tuple[str, int] | None:
        """('donor'|'acceptor', nt into the intron) of an intronic position, else None."""
        for upstream, downstream in zip(self.exons, self.exons[1:]):
            exon_last = upstream[1] if self.transcript.strand == "+" else upstream[0]
            exon_first = downstream[0] if self.transcript.strand == "+" else downstream[1]
            if min(exon_last, exon_first) < pos < max(exon_last, exon_first):
                from_donor, to_acceptor = abs(pos - exon_last), abs(exon_first - pos)
                return ("donor", from_donor) if from_donor <= to_acceptor \
                    else ("acceptor", to_acceptor)
        return None


@dataclass
class DriverKnowledge:
    """Everything the features need, loaded from the shipped resources."""

    genes: dict[str, GeneStructure]
    domains: dict[str, list[Domain]]
    residue_counts: dict[tuple[str, int], int]
    change_counts: dict[tuple[str, int, str], int]
    indel_regions: dict[str, list[tuple[int, int, int]]]
    contig_map: ContigMap
    fasta_path: Path
    msa: dict[tuple[str, int], ResidueProfile] = field(default_factory=dict)
    _fasta: pysam.FastaFile | None = field(default=None, repr=False)

    @classmethod
    def load(cls, drivers_dir: str | Path = DRIVERS_RESOURCE_DIR,
             reference_dir: str | Path = BUNDLED_REFERENCE_DIR) -> "DriverKnowledge":
        import pysam

        drivers_dir, reference_dir = Path(drivers_dir), Path(reference_dir)
        fasta_path = reference_dir / "grch38_gene_regions.fa"
        models = canonical_models(reference_dir / "gene_models.regions.gff3",
                                  reference_dir / "canonical_transcripts.tsv")
        with pysam.FastaFile(str(fasta_path)) as fasta:
            genes = {gene: GeneStructure(model, model.cds_sequence(fasta))
                     for gene, model in models.items() if gene in DRIVER_GENES}
        residue_counts, change_counts = _snv_hotspots(drivers_dir / "hotspots_v2_snv_4genes.tsv")
        return cls(genes=genes, domains=load_domains(drivers_dir / "protein_domains.tsv"),
                   residue_counts=residue_counts, change_counts=change_counts,
                   indel_regions=_indel_hotspots(drivers_dir / "hotspots_v2_indel_4genes.tsv"),
                   contig_map=ContigMap.from_tsv(reference_dir / "regions.tsv"),
                   fasta_path=fasta_path, msa=load_msa_table(drivers_dir / MSA_TABLE))

    @property
    def fasta(self) -> pysam.FastaFile:
        import pysam

        if self._fasta is None:
            self._fasta = pysam.FastaFile(str(self.fasta_path))
        return self._fasta


def _snv_hotspots(path: Path) -> tuple[dict, dict]:
    residue_counts: dict[tuple[str, int], int] = {}
    change_counts: dict[tuple[str, int, str], int] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if not row["Amino_Acid_Position"].isdigit():
                continue  # splice-site hotspots ('X187_splice') have no residue
            gene, position = row["Hugo_Symbol"], int(row["Amino_Acid_Position"])
            residue_counts[(gene, position)] = int(row["Mutation_Count"])
            alt, _, count = row["Variant_Amino_Acid"].partition(":")
            change_counts[(gene, position, alt)] = int(count)
    return residue_counts, change_counts


def _indel_hotspots(path: Path) -> dict[str, list[tuple[int, int, int]]]:
    regions: dict[str, set[tuple[int, int, int]]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            start, _, end = row["Amino_Acid_Position"].partition("-")
            regions.setdefault(row["Hugo_Symbol"], set()).add(
                (int(start), int(end or start), int(row["Mutation_Count"])))
    return {gene: sorted(spans) for gene, spans in regions.items()}


# ---------------------------------------------------------------------------------------------
# Annotation.

def most_severe(consequence: str) -> str:
    terms = str(consequence).split("&")
    return min(terms, key=lambda t: CONSEQUENCE_SEVERITY.index(t)
               if t in CONSEQUENCE_SEVERITY else len(CONSEQUENCE_SEVERITY))


def _annotation(gene: str, consequence: str, position: int | None = None,
                end: int | None = None, ref_aa: str | None = None, alt_aa: str | None = None,
                splice_distance: int | None = None, hgvs_p: str | None = None) -> dict:
    return dict(zip(ANNOTATION_COLUMNS, (gene, consequence, position, end, ref_aa, alt_aa,
                                         splice_distance, hgvs_p)))


def annotate_protein_change(gene: str, hgvs_p: str, knowledge: DriverKnowledge) -> dict:
    """Annotation of a protein change; ValueError (with the reason) for unknown genes/changes."""
    structure = _gene_structure(gene, knowledge)
    change = parse_hgvs_p(hgvs_p)
    _check_residue(change, structure, gene)
    codon = structure.transcript.codon_positions(change.position) \
        if change.position <= structure.protein_length else ()
    distances = [d for d in map(structure.exonic_junction_distance, codon) if d is not None]
    return _annotation(gene, change.consequence, change.position, change.end_position,
                       change.ref_aa, change.alt_aa, min(distances) if distances else None,
                       change.hgvs_p)


def _gene_structure(gene: str, knowledge: DriverKnowledge) -> GeneStructure:
    if gene not in knowledge.genes:
        raise ValueError(f"gene {gene!r} is not scored (only {', '.join(DRIVER_GENES)})")
    return knowledge.genes[gene]


def _check_residue(change: ProteinChange, structure: GeneStructure, gene: str) -> None:
    length = structure.protein_length
    if change.ref_aa == "*":
        if change.position != length + 1:
            raise ValueError(f"{gene} stop codon is residue {length + 1}, not {change.position}")
        return
    if not 1 <= change.position <= length:
        raise ValueError(f"residue {change.position} is outside {gene} (1-{length})")
    expected = translate(structure.cds_sequence)[change.position - 1]
    if change.ref_aa != expected:
        raise ValueError(f"{gene} residue {change.position} is {expected}, not {change.ref_aa}")


def annotate_genomic(chrom: str, pos: int, ref: str, alt: str,
                     knowledge: DriverKnowledge) -> dict:
    """Annotation of GRCh38 VCF-style alleles on the canonical transcript of the gene hit."""
    if not ref or not alt or not set(f"{ref}{alt}".upper()) <= set("ACGT"):
        raise ValueError(f"alleles {ref!r}>{alt!r} are not plain ACGT sequences")
    if ref.upper() == alt.upper():
        raise ValueError("REF and ALT are identical")
    located = knowledge.contig_map.to_contig(chrom, int(pos))
    if located is None:
        raise ValueError(f"{chrom}:{pos} is outside the TP53/BRCA1/BRCA2/EGFR regions")
    contig, contig_pos = located
    reference = knowledge.fasta.fetch(contig, contig_pos - 1, contig_pos - 1 + len(ref)).upper()
    if reference != ref.upper():
        raise ValueError(f"REF {ref} does not match the GRCh38 reference ({reference})")
    structure = next((s for s in knowledge.genes.values() if s.transcript.contig == contig
                      and s.transcript.start <= contig_pos <= s.transcript.end), None)
    if structure is None:
        raise ValueError(f"{chrom}:{pos} lies in none of the four genes' transcripts")
    start, ref, alt = trim_alleles(contig_pos, ref.upper(), alt.upper())
    span = range(start, start + len(ref)) if ref else range(start - 1, start + 1)
    coding = sorted(structure.cds_index[p] for p in span if p in structure.cds_index)
    if coding and len(ref) == len(alt):
        return _substitution(structure, start, ref, alt)
    if coding:
        return _coding_indel(structure, coding[0], len(alt) - len(ref))
    return _noncoding(structure, span[0] if ref else start)


def _substitution(structure: GeneStructure, start: int, ref: str, alt: str) -> dict:
    """SNV/MNV inside the CDS: apply it to the codons it touches and compare translations."""
    transcript = structure.transcript
    new_bases = {structure.cds_index[start + offset]:
                 base if transcript.strand == "+" else complement(base)
                 for offset, base in enumerate(alt) if start + offset in structure.cds_index}
    codons = sorted({(c - 1) // 3 for c in new_bases})  # 0-based codon indices
    cds = structure.cds_sequence
    before = "".join(translate(cds[3 * i:3 * i + 3]) for i in codons)
    after = "".join(translate("".join(new_bases.get(c, cds[c - 1])
                                      for c in range(3 * i + 1, 3 * i + 4))) for i in codons)
    changed = [codons[i] + 1 for i, (a, b) in enumerate(zip(before, after)) if a != b]
    index = codons.index(changed[0] - 1) if changed else 0
    position = codons[index] + 1
    change = ProteinChange(substitution_consequence(before[index], position, after[index]),
                           position, before[index], after[index])
    if len(changed) <= 1:
        distance = min(filter(None, (structure.exonic_junction_distance(p)
                                     for p in range(start, start + len(ref)))), default=None)
        return _annotation(transcript.gene, change.consequence, position, None, change.ref_aa,
                           change.alt_aa, distance, change.hgvs_p)
    return _annotation(transcript.gene, "missense", position, changed[-1], change.ref_aa,
                       None, None, f"p.{change.ref_aa}{position}_{changed[-1]}delins")


def _coding_indel(structure: GeneStructure, first_c: int, length_change: int) -> dict:
    position = (first_c + 2) // 3
    ref_aa = translate(structure.cds_sequence)[position - 1]
    if length_change % 3:
        consequence, hgvs = "frameshift", f"p.{ref_aa}{position}fs"
    elif length_change < 0:
        consequence, hgvs = "inframe_deletion", f"p.{ref_aa}{position}del"
    else:
        consequence, hgvs = "inframe_insertion", f"p.{ref_aa}{position}ins"
    distance = structure.exonic_junction_distance(structure.transcript.cds_to_genomic(first_c))
    return _annotation(structure.transcript.gene, consequence, position, None, ref_aa, None,
                       distance, hgvs)


def _noncoding(structure: GeneStructure, pos: int) -> dict:
    gene = structure.transcript.gene
    site = structure.intron_site(pos)
    if site is None:
        c = structure.transcript.c_position(pos)
        consequence = "5_prime_utr" if c.startswith("-") else "3_prime_utr"
        return _annotation(gene, consequence, None, None, None, None,
                           structure.exonic_junction_distance(pos))
    side, distance = site
    if distance <= 2:
        consequence = f"splice_{side}"
    else:
        consequence = "splice_region" if distance <= 8 else "intron"
    return _annotation(gene, consequence, None, None, None, None, distance)


# ---------------------------------------------------------------------------------------------
# Features.

def feature_table(annotations: pd.DataFrame, knowledge: DriverKnowledge) -> pd.DataFrame:
    """One row of FEATURES per annotation row (same index)."""
    rows = [_features(row, knowledge) for row in annotations.to_dict("records")]
    return pd.DataFrame(rows, index=annotations.index, columns=list(FEATURES), dtype=float)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _features(row: dict, knowledge: DriverKnowledge) -> dict:
    gene, consequence = row["gene"], most_severe(row["consequence"])
    structure = knowledge.genes[gene]
    position = None if _missing(row["protein_position"]) else int(row["protein_position"])
    ref_aa = None if _missing(row["ref_aa"]) else row["ref_aa"]
    alt_aa = None if _missing(row["alt_aa"]) else row["alt_aa"]
    truncating = consequence in TRUNCATING
    length = structure.protein_length
    features = {
        "truncating": truncating,
        "missense": consequence == "missense",
        "synonymous": consequence == "synonymous",
        "inframe_indel": consequence in ("inframe_deletion", "inframe_insertion"),
        "canonical_splice": consequence in ("splice_donor", "splice_acceptor"),
        "splice_region": consequence == "splice_region",
        "start_or_stop_lost": consequence in ("start_lost", "stop_lost"),
        "noncoding": consequence in ("intron", "5_prime_utr", "3_prime_utr"),
        "protein_position": position,
        "relative_position": position / length if position else None,
        "in_domain": domain_at(knowledge.domains, gene, position) is not None,
        **_substitution_properties(ref_aa, alt_aa),
        **_recurrence(gene, position, alt_aa, knowledge),
        "nmd_predicted": truncating and position is not None
        and 3 * position < structure.last_junction_cds - NMD_RULE_NT,
        "protein_fraction_lost": 1 - (position - 1) / length if truncating and position else 0,
        "splice_distance": None if _missing(row["splice_distance"]) else row["splice_distance"],
        **msa_features(knowledge.msa.get((gene, position)) if position is not None else None,
                       consequence, ref_aa, alt_aa),
    }
    return {name: (math.nan if value is None else float(value)) for name, value in
            features.items()}


@lru_cache(maxsize=None)
def _substitution_properties(ref_aa: str | None, alt_aa: str | None) -> dict[str, float]:
    """The physico-chemical features of one amino-acid change (441 pairs at most: computed once
    each)."""
    return {"blosum62": blosum62(ref_aa, alt_aa), "grantham": grantham(ref_aa, alt_aa),
            "hydropathy_change": hydropathy_change(ref_aa, alt_aa),
            "charge_change": charge_change(ref_aa, alt_aa),
            "mass_change": mass_change(ref_aa, alt_aa)}


def _recurrence(gene: str, position: int | None, alt_aa: str | None,
                knowledge: DriverKnowledge) -> dict:
    if position is None:
        return dict.fromkeys(RECURRENCE_FEATURES, 0)
    nearby = sum(knowledge.residue_counts.get((gene, p), 0)
                 for p in range(position - HOTSPOT_WINDOW, position + HOTSPOT_WINDOW + 1)
                 if p != position)
    indel = max((count for start, end, count in knowledge.indel_regions.get(gene, [])
                 if start <= position <= end), default=0)
    return {"hotspot_residue_count": knowledge.residue_counts.get((gene, position), 0),
            "hotspot_change_count": knowledge.change_counts.get((gene, position, alt_aa), 0),
            "hotspot_nearby_count": nearby, "indel_hotspot_count": indel}


_NOT_APPLICABLE = {"protein_position": "outside the coding sequence",
                   "relative_position": "outside the coding sequence",
                   "splice_distance": "distance to an exon boundary unknown"}


def describe(feature: str, value: float, annotation: dict, knowledge: DriverKnowledge) -> str:
    """A clinician-readable phrase for one feature value of one variant."""
    flag = value == 1
    if feature == "in_domain":
        domain = domain_at(knowledge.domains, annotation["gene"],
                           None if _missing(annotation["protein_position"])
                           else int(annotation["protein_position"]))
        return f"inside the {domain.name}" if domain else "outside the annotated domains"
    if feature in MSA_FEATURES:
        position = None if _missing(annotation["protein_position"]) \
            else int(annotation["protein_position"])
        return describe_msa_feature(feature, value, annotation, knowledge.msa.get(
            (annotation["gene"], position)))
    if feature in RECURRENCE_FEATURES:
        what = {"hotspot_residue_count": "tumours mutated at this residue",
                "hotspot_change_count": "tumours with this exact change",
                "hotspot_nearby_count": "tumours mutated at nearby residues",
                "indel_hotspot_count": "tumours with indels in this region"}[feature]
        return (f"recurrent hotspot: {value:.0f} {what} (cancerhotspots v2)" if value > 0
                else f"not a recurrent hotspot (no {what})")
    phrases = {
        "truncating": ("truncating (stop or frameshift)", "not truncating"),
        "missense": ("missense change", "not a missense change"),
        "synonymous": ("synonymous (protein unchanged)", "changes the protein"),
        "inframe_indel": ("in-frame insertion/deletion", "not an in-frame indel"),
        "canonical_splice": ("hits a canonical splice site", "not at a canonical splice site"),
        "splice_region": ("in a splice region", "not in a splice region"),
        "start_or_stop_lost": ("start or stop codon lost", "start/stop codons intact"),
        "noncoding": ("intronic/UTR, outside splice sites", "in the coding sequence or splice "
                      "sites"),
        "nmd_predicted": ("transcript predicted to undergo nonsense-mediated decay",
                          "no nonsense-mediated decay predicted"),
    }
    if feature in phrases:
        return phrases[feature][0 if flag else 1]
    if math.isnan(value):
        return _NOT_APPLICABLE.get(feature, "not a single amino-acid substitution")
    numeric = {
        "protein_position": f"at residue {value:.0f}",
        "relative_position": f"at {value:.0%} of the protein length",
        "blosum62": f"BLOSUM62 {value:+.0f} ({'rarely' if value < 0 else 'often'} "
                    "substituted in evolution)",
        "grantham": f"Grantham distance {value:.0f} "
                    f"({'dissimilar' if value > 100 else 'similar'} residues)",
        "hydropathy_change": f"hydropathy change {value:+.1f}",
        "charge_change": f"charge change {value:+.0f}",
        "mass_change": f"side-chain size change {value:+.0f} Da",
        "protein_fraction_lost": f"{value:.0%} of the protein lost",
        "splice_distance": f"{value:.0f} nt from the nearest exon boundary",
    }
    return numeric[feature]
