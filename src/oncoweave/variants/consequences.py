"""bcftools csq consequences (INFO/BCSQ entries and their '@' links to compound calls) and the
HGVS p. of a consequence on its transcript's protein; used by the export's columns."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from oncoweave.genome.transcripts import strip_version

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


def dna_tokens(consequence: Consequence) -> set[str]:
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
    # The two proteins share at least everything before the change and after it: the scans
    # start there (a full scan of BRCA2's 3,418 residues per change is what made export slow).
    return _describe_protein_change(protein, altered, frameshift="frameshift" in term,
                                    shared_prefix=start - 1,
                                    shared_tail=len(protein) - (start - 1 + len(ref_aa)))


def _describe_protein_change(ref: str, alt: str, frameshift: bool, shared_prefix: int = 0,
                             shared_tail: int = 0) -> str:
    first = _common_prefix(ref, alt, shared_prefix)
    if alt[first:first + 1] == "*":
        return f"p.{ref[first]}{first + 1}*"  # nonsense, whatever follows
    if ref[first:first + 1] == "*":
        return _extension(first, alt)
    if frameshift:
        return _frameshift(ref, alt, first)
    end_ref, end_alt = _common_suffix_ends(ref, alt, first, shared_tail)
    deleted, inserted = ref[first:end_ref], alt[first:end_alt]
    if len(deleted) == 1 and len(inserted) == 1:
        return f"p.{deleted}{first + 1}{inserted}"
    if not inserted:
        return f"p.{_span(ref, first, end_ref)}del"
    if not deleted:
        return _insertion(ref, first, inserted)
    return f"p.{_span(ref, first, end_ref)}delins{inserted}"


def _common_prefix(a: str, b: str, known: int = 0) -> int:
    n = known
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def _common_suffix_ends(ref: str, alt: str, first: int, known: int = 0) -> tuple[int, int]:
    """Ends of the changed stretches once the shared tail is removed (never past ``first``);
    ``known``: bases of the tail already known to be shared."""
    known = min(known, len(ref) - first, len(alt) - first)
    end_ref, end_alt = len(ref) - known, len(alt) - known
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
