"""Writes the variants table: one row per classified, consequence-annotated variant of a tumour
sample.

``export_variants`` fills ``VARIANTS_SCHEMA`` (in :mod:`oncoweave.variants.schema`) from the
output of ``bcftools csq`` run on ``oncoweave classify-variants``' VCF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.io import open_fasta, open_vcf
from oncoweave.core.tables import table_to_pandas, write_parquet
from oncoweave.genome.reference import ContigMap
from oncoweave.genome.transcripts import Transcript, strip_version, translate
from oncoweave.variants.classify import allele_fraction
from oncoweave.variants.identity import PAIR_IDENTITY_VALUES
from oncoweave.variants.schema import VARIANTS_SCHEMA

if TYPE_CHECKING:
    import pysam


def provenance_from_vcf_header(path: str | Path) -> dict[str, str]:
    """Tool versions from a VCF/BCF header: ``##<tool>Version=`` lines (bcftools_callVersion,
    oncoweave_classifyVersion ...) and ``##source=`` lines ('; '-joined), keys kept verbatim."""
    import pysam

    path = Path(path)
    try:
        with pysam.VariantFile(str(path)) as vcf:
            records = list(vcf.header.records)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read VCF ({err})", path=path) from None
    provenance: dict[str, str] = {}
    sources = []
    for record in records:
        if record.key == "source":
            sources.append(record.value)
        elif record.key.endswith("Version") and record.value is not None:
            provenance[record.key] = record.value
    if sources:
        provenance["source"] = "; ".join(sources)
    return provenance


# ---------------------------------------------------------------------------------------------
# bcftools csq (INFO/BCSQ): Consequence|gene|transcript|biotype|strand|amino_acid_change|dna_change

@dataclass(frozen=True)
class Consequence:
    term: str  # e.g. missense, "splice_region&synonymous"; '*' prefix: downstream of a stop
    gene: str
    transcript: str  # version-less
    amino_acids: str | None  # e.g. "175R>175H", "175R" (synonymous), "745KELREA>745K"
    dna_change: str | None  # e.g. "35088C>T", "35087G>A+35088C>T" (compound)


def parse_bcsq(values: Iterable[str]) -> tuple[list[Consequence], list[int]]:
    """INFO/BCSQ entries -> (consequences, positions of '@' entries pointing at other records)."""
    consequences, references = [], []
    for value in values:
        if value.startswith("@"):
            references.append(int(value[1:]))
            continue
        fields = value.split("|") + [""] * 7
        consequences.append(Consequence(
            term=fields[0], gene=fields[1], transcript=strip_version(fields[2]),
            amino_acids=fields[5] or None, dna_change=fields[6] or None))
    return consequences, references


def _dna_tokens(consequence: Consequence) -> set[str]:
    return set((consequence.dna_change or "").split("+"))


_AMINO_ACIDS = re.compile(r"^(\d+)([A-Z*]+)(?:>(\d+)([A-Z*]+))?$")


def hgvs_protein(term: str, amino_acids: str | None, protein: str) -> str | None:
    """One-letter HGVS p. of a bcftools csq consequence on a transcript with ``protein``.

    ``protein`` is the reference translation including the final '*'. The BCSQ amino-acid field
    is spliced into it and the two proteins compared, so indels follow the HGVS 3' rule and
    repeated insertions are dups (bcftools prints them left-aligned: "767A>767ASVD" is
    p.S768_D770dup). Returns None for consequences that change no codon (UTR, splice, intron).
    """
    if "start_lost" in term:
        return "p.M1?"
    if not amino_acids:
        return None
    match = _AMINO_ACIDS.match(amino_acids)
    if match is None:
        raise ValueError(f"unrecognised amino-acid change {amino_acids!r}")
    start, ref_aa, alt_aa = int(match[1]), match[2], match[4]
    if protein[start - 1:start - 1 + len(ref_aa)] != ref_aa:
        raise ValueError(f"amino acids {amino_acids!r} do not match the transcript's protein")
    if alt_aa is None or alt_aa == ref_aa:  # synonymous / stop_retained: bcftools prints the ref
        return f"p.{ref_aa[0]}{start}="
    altered = protein[:start - 1] + alt_aa + protein[start - 1 + len(ref_aa):]
    return _describe_protein_change(protein, altered, frameshift="frameshift" in term)


def _describe_protein_change(ref: str, alt: str, frameshift: bool) -> str:
    first = _common_prefix(ref, alt)
    if alt[first:first + 1] == "*":
        return f"p.{ref[first]}{first + 1}*"  # nonsense, whatever follows
    if ref[first:first + 1] == "*":
        return _extension(first, alt)
    if frameshift:
        return _frameshift(ref, alt, first)
    end_ref, end_alt = _common_suffix_ends(ref, alt, first)
    deleted, inserted = ref[first:end_ref], alt[first:end_alt]
    if len(deleted) == 1 and len(inserted) == 1:
        return f"p.{deleted}{first + 1}{inserted}"
    if not inserted:
        return f"p.{_span(ref, first, end_ref)}del"
    if not deleted:
        return _insertion(ref, first, inserted)
    return f"p.{_span(ref, first, end_ref)}delins{inserted}"


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def _common_suffix_ends(ref: str, alt: str, first: int) -> tuple[int, int]:
    """Ends of the changed stretches once the shared tail is removed (never past ``first``)."""
    end_ref, end_alt = len(ref), len(alt)
    while end_ref > first and end_alt > first and ref[end_ref - 1] == alt[end_alt - 1]:
        end_ref, end_alt = end_ref - 1, end_alt - 1
    return end_ref, end_alt


def _span(protein: str, start: int, end: int) -> str:
    """'E746_A750' for 0-based [start, end); 'K11' for one residue."""
    if end - start == 1:
        return f"{protein[start]}{start + 1}"
    return f"{protein[start]}{start + 1}_{protein[end - 1]}{end}"


def _insertion(ref: str, first: int, inserted: str) -> str:
    """Insertion after residue ``first`` (1-based); a repeat of the residues before is a dup."""
    size = len(inserted)
    if first >= size and ref[first - size:first] == inserted:
        return f"p.{_span(ref, first - size, first)}dup"
    return f"p.{ref[first - 1]}{first}_{ref[first]}{first + 1}ins{inserted}"


def _frameshift(ref: str, alt: str, first: int) -> str:
    stop = alt.find("*", first)
    length = str(stop - first + 1) if stop >= 0 else "?"
    # The short form p.L22fs when bcftools shows no new residue.
    return f"p.{ref[first]}{first + 1}{alt[first:first + 1]}fs*{length}"


def _extension(first: int, alt: str) -> str:
    """Stop lost: p.*394Rext*N, N the new stop's position counted from the lost one."""
    stop = alt.find("*", first + 1)
    length = str(stop - first) if stop >= 0 else "?"
    return f"p.*{first + 1}{alt[first:first + 1]}ext*{length}"


# ---------------------------------------------------------------------------------------------
# Annotated VCF -> variants table.

@dataclass(frozen=True)
class _Site:
    contig: str
    pos: int
    ref: str
    alt: str
    consequences: list[Consequence]
    references: list[int]
    info: dict
    quality: float | None
    filter: str


def export_variants(annotated_vcf: str | Path, output_parquet: str | Path, *, patient: str,
                    tumour_sample: str, normal_sample: str | None, contig_map: ContigMap,
                    transcripts: Mapping[str, Transcript], fasta_path: str | Path,
                    pair_identity: str, purity: float | None,
                    metadata: Mapping[str, str]) -> pd.DataFrame:
    """Write the variants table of one tumour sample (rows in VCF order) and return it.

    ``annotated_vcf``: classify-variants output annotated by ``bcftools csq`` (INFO/BCSQ; '@'
    entries are followed to the record they point at). ``transcripts``: gene -> canonical
    Transcript; a variant takes the canonical transcript's consequence. ``metadata`` (e.g.
    config_hash) joins the tool versions of the VCF header in the Parquet metadata.
    """
    annotated_vcf = Path(annotated_vcf)
    if pair_identity not in PAIR_IDENTITY_VALUES:
        raise InputError(f"pair_identity must be one of {', '.join(PAIR_IDENTITY_VALUES)}, "
                         f"got {pair_identity!r}")
    sites = _read_sites(annotated_vcf, tumour_sample)
    by_position = _consequences_by_position(sites)
    canonical_ids = {strip_version(t.transcript_id): t for t in transcripts.values()}
    fixed = {"patient": patient, "sample": tumour_sample, "normal_sample": normal_sample,
             "pair_identity": pair_identity, "purity": purity}
    with open_fasta(Path(fasta_path)) as fasta:
        proteins: dict[str, str] = {}
        rows = [{**fixed, **_site_row(site, annotated_vcf, contig_map, canonical_ids,
                                      by_position, fasta, proteins)}
                for site in sites]
    df = pd.DataFrame(rows, columns=VARIANTS_SCHEMA.names)
    provenance = {**provenance_from_vcf_header(annotated_vcf), **metadata}
    return table_to_pandas(write_parquet(df, output_parquet, VARIANTS_SCHEMA, provenance))


def _read_sites(path: Path, tumour_sample: str) -> list[_Site]:
    with open_vcf(path) as vcf:
        if tumour_sample not in vcf.header.samples:
            raise InputError(f"sample {tumour_sample!r} not in the VCF (samples: "
                             f"{', '.join(vcf.header.samples)})", path=path)
        for key in ("STATUS", "BCSQ"):
            if key not in vcf.header.info:
                raise InputError(f"INFO/{key} missing: export needs the output of "
                                 "classify-variants annotated by bcftools csq", path=path)
        return [_site(record, path) for record in vcf]


def _site(record: pysam.VariantRecord, path: Path) -> _Site:
    if not record.alts or len(record.alts) != 1:
        raise InputError(f"record {record.chrom}:{record.pos} must have exactly one ALT allele",
                         path=path)
    consequences, references = parse_bcsq(record.info.get("BCSQ", ()))
    return _Site(contig=record.chrom, pos=record.pos, ref=record.ref, alt=record.alts[0],
                 consequences=consequences, references=references, info=dict(record.info),
                 quality=record.qual, filter=";".join(record.filter.keys()) or "PASS")


def _consequences_by_position(sites: list[_Site]) -> dict[tuple[str, int], list[Consequence]]:
    by_position: dict[tuple[str, int], list[Consequence]] = {}
    for site in sites:
        by_position.setdefault((site.contig, site.pos), []).extend(site.consequences)
    return by_position


def _site_row(site: _Site, path: Path, contig_map: ContigMap,
              canonical: Mapping[str, Transcript],
              by_position: Mapping[tuple[str, int], list[Consequence]],
              fasta: pysam.FastaFile, proteins: dict[str, str]) -> dict:
    where = f"record {site.contig}:{site.pos}"
    try:
        chrom, pos = contig_map.to_genomic(site.contig, site.pos)
    except KeyError as err:
        raise InputError(f"{where}: {err.args[0]}", path=path) from None
    consequence = _canonical_consequence(site, canonical, by_position)
    transcript = (canonical[consequence.transcript] if consequence
                  else _enclosing_transcript(site, canonical))
    try:
        hgvs_c = transcript.hgvs_c(site.pos, site.ref, site.alt, fasta) if transcript else None
        hgvs_p = (hgvs_protein(consequence.term, consequence.amino_acids,
                               _protein(transcript, fasta, proteins)) if consequence else None)
    except ValueError as err:
        raise InputError(f"{where}: {err} (was bcftools csq run with the same FASTA and GFF3?)",
                         path=path) from None
    info = site.info
    t_depth, t_alt, n_depth, n_alt = (info.get(key) for key in ("T_DP", "T_ALT", "N_DP", "N_ALT"))
    return {
        "chrom": chrom, "pos": pos, "ref": site.ref, "alt": site.alt, "contig": site.contig,
        "contig_pos": site.pos, "variant_type": variant_type(site.ref, site.alt),
        "gene": transcript.gene if transcript else None,
        "transcript": strip_version(transcript.transcript_id) if transcript else None,
        "consequence": consequence.term if consequence else ("intron" if transcript else None),
        "hgvs_p": hgvs_p, "hgvs_c": hgvs_c,
        # VAFs from the counts: INFO/T_VAF is a rounded float32.
        "t_depth": t_depth, "t_alt": t_alt,
        "t_vaf": allele_fraction(t_depth, t_alt) if t_depth is not None else None,
        "n_depth": n_depth, "n_alt": n_alt,
        "n_vaf": allele_fraction(n_depth, n_alt) if n_depth is not None else None,
        "status": info.get("STATUS"), "filter": site.filter, "quality": site.quality,
        "fisher_p": info.get("FISHER_P"),
    }


def _canonical_consequence(site: _Site, canonical: Mapping[str, Transcript],
                           by_position: Mapping[tuple[str, int], list[Consequence]]
                           ) -> Consequence | None:
    """The site's consequence on a canonical transcript, following '@' links to compound calls."""
    own_change = f"{site.pos}{site.ref}>{site.alt}"
    linked = [consequence for position in site.references
              for consequence in by_position.get((site.contig, position), [])
              if own_change in _dna_tokens(consequence)]
    for consequence in site.consequences + linked:
        if consequence.transcript in canonical:
            return consequence
    return None


def _enclosing_transcript(site: _Site, canonical: Mapping[str, Transcript]) -> Transcript | None:
    """A canonical transcript spanning the site (csq prints nothing for most intronic sites)."""
    for transcript in canonical.values():
        if transcript.contig == site.contig and transcript.start <= site.pos <= transcript.end:
            return transcript
    return None


def _protein(transcript: Transcript, fasta: pysam.FastaFile, cache: dict[str, str]) -> str:
    if transcript.transcript_id not in cache:
        cache[transcript.transcript_id] = translate(transcript.cds_sequence(fasta))
    return cache[transcript.transcript_id]


def variant_type(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    return "INS" if len(alt) > len(ref) else "DEL"
