"""Reference sequence helpers: complements, translation, allele trimming and indel shifting, and
one fetched window of a contig answered from memory.

Coordinates are 1-based inclusive reference-contig positions throughout.
"""

from __future__ import annotations

from typing import Protocol

COMPLEMENT_TABLE = str.maketrans("ACGTNacgtn", "TGCANtgcan")
# Standard genetic code, codons ordered TTT, TTC, TTA, TTG, TCT, ... (bases in T, C, A, G order).
_BASES = "TCAG"
_AMINO_ACIDS = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_CODON_TABLE = {a + b + c: _AMINO_ACIDS[16 * i + 4 * j + k]
                for i, a in enumerate(_BASES) for j, b in enumerate(_BASES)
                for k, c in enumerate(_BASES)}


class SequenceSource(Protocol):
    """What the HGVS code needs from a FASTA (``pysam.FastaFile`` fits)."""

    def fetch(self, reference: str, start: int, end: int) -> str: ...

    def get_reference_length(self, reference: str) -> int: ...



def complement(sequence: str) -> str:
    return sequence.translate(COMPLEMENT_TABLE)


def reverse_complement(sequence: str) -> str:
    return complement(sequence)[::-1]


def translate(sequence: str) -> str:
    """Translate a coding sequence (standard code, '*' for stop, 'X' for incomplete codons)."""
    sequence = sequence.upper()
    return "".join(_CODON_TABLE.get(sequence[i:i + 3], "X") for i in range(0, len(sequence) - 2, 3))


def _base(fasta: SequenceSource, contig: str, pos: int) -> str:
    return fasta.fetch(contig, pos - 1, pos).upper()


def trim_alleles(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Drop bases shared by REF and ALT (suffix first, then prefix, as HGVS and bcftools do).

    Returns (pos, ref, alt) where pos is the first REF base; for an insertion ref is empty and the
    new bases go between pos - 1 and pos.
    """
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def shift_indel(fasta: SequenceSource, contig: str, pos: int, ref: str, alt: str,
                rightward: bool) -> tuple[int, str, str]:
    """Slide a trimmed indel (one allele empty) as far as the sequence allows in one direction."""
    contig_length = fasta.get_reference_length(contig)
    deleted, bases, span = bool(ref), ref or alt, len(ref)
    if rightward:
        while pos + span <= contig_length and _base(fasta, contig, pos + span) == bases[0]:
            bases = bases[1:] + bases[0]
            pos += 1
    else:
        while pos > 1 and _base(fasta, contig, pos - 1) == bases[-1]:
            bases = bases[-1] + bases[:-1]
            pos -= 1
    return (pos, bases, "") if deleted else (pos, "", bases)


def left_normalise(fasta: SequenceSource, contig: str, pos: int, ref: str,
                   alt: str) -> tuple[int, str, str]:
    """VCF alleles -> left-aligned, parsimonious, anchored form (what `bcftools norm -f` gives)."""
    pos, ref, alt = trim_alleles(pos, ref.upper(), alt.upper())
    if ref and alt:
        return pos, ref, alt
    pos, ref, alt = shift_indel(fasta, contig, pos, ref, alt, rightward=False)
    anchor = _base(fasta, contig, pos - 1)
    return pos - 1, anchor + ref, anchor + alt


class SequenceWindow:
    """One fetched stretch of a contig, answering ``fetch`` inside it from memory (and from the
    FASTA outside it: indel shifting can walk out)."""

    def __init__(self, fasta: SequenceSource, contig: str, start: int, end: int, margin=200):
        self._fasta, self.contig = fasta, contig
        self._length = fasta.get_reference_length(contig)
        self._start = max(0, start - margin)
        self._end = min(self._length, end + margin)
        self._sequence = fasta.fetch(contig, self._start, self._end).upper()

    def fetch(self, reference: str, start: int, end: int) -> str:
        if reference == self.contig and self._start <= start and end <= self._end:
            return self._sequence[start - self._start:end - self._start]
        return self._fasta.fetch(reference, start, end)

    def get_reference_length(self, reference: str) -> int:
        if reference == self.contig:
            return self._length
        return self._fasta.get_reference_length(reference)

    def byte_codes(self):
        """(the window's upper-case bases as a uint8 array, the 0-based contig offset of the
        first), for array code that indexes them."""
        import numpy as np

        return np.frombuffer(self._sequence.encode(), dtype=np.uint8), self._start

    def bases(self, positions):
        """Upper-case base (U1 array) at each 1-based position."""
        import numpy as np

        sequence = np.frombuffer(self._sequence.encode(), dtype="S1")
        offsets = np.asarray(positions) - 1 - self._start
        outside = (offsets < 0) | (offsets >= len(sequence))
        found = sequence[np.clip(offsets, 0, max(len(sequence) - 1, 0))].astype("U1")
        return np.where(outside, "", found)
