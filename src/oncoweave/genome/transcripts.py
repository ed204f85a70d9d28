"""Transcript models for HGVS c. notation: coordinates along the spliced CDS, c. positions
(exonic, intronic, UTR) and c. descriptions of variants, one by one or as arrays.

Coordinates are 1-based inclusive reference-contig positions throughout. Transcript IDs carry no
version suffix (see ``strip_version``); the models are read by ``genome.gene_models``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oncoweave.genome.sequence import (
    SequenceSource,
    reverse_complement,
    shift_indel,
    trim_alleles,
)

_VERSION_SUFFIX = re.compile(r"\.\d+$")


def strip_version(identifier: str) -> str:
    return _VERSION_SUFFIX.sub("", identifier)


@dataclass(frozen=True)
class Transcript:
    transcript_id: str
    gene: str
    contig: str
    strand: str
    exons: tuple[tuple[int, int], ...]
    cds: tuple[tuple[int, int], ...]

    @property
    def start(self) -> int:
        return self.exons[0][0]

    @property
    def end(self) -> int:
        return self.exons[-1][1]

    @property
    def cds_length(self) -> int:
        return sum(end - start + 1 for start, end in self.cds)

    @property
    def protein_length(self) -> int:
        """Amino acids, not counting the stop codon that the CDS ends with."""
        return self.cds_length // 3 - 1

    @property
    def is_coding(self) -> bool:
        return bool(self.cds)

    def _in_transcript_order(self, segments: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
        return list(segments) if self.strand == "+" else list(reversed(segments))

    def _downstream(self, pos: int, steps: int) -> int:
        """The position `steps` bases further along the transcript's direction."""
        return pos + steps if self.strand == "+" else pos - steps

    def _spliced_offset(self, pos: int) -> int:
        """0-based offset of an exonic position along the spliced transcript."""
        offset = 0
        for start, end in self._in_transcript_order(self.exons):
            if start <= pos <= end:
                return offset + (pos - start if self.strand == "+" else end - pos)
            offset += end - start + 1
        raise ValueError(f"{pos} is not exonic in {self.transcript_id}")

    def _require_coding(self) -> None:
        if not self.cds:
            raise ValueError(f"{self.transcript_id} has no CDS")

    def cds_to_genomic(self, c: int) -> int:
        """1-based CDS position -> contig position."""
        self._require_coding()
        if not 1 <= c <= self.cds_length:
            raise ValueError(f"c.{c} is outside the CDS of {self.transcript_id} "
                             f"(1-{self.cds_length})")
        remaining = c - 1
        for start, end in self._in_transcript_order(self.cds):
            length = end - start + 1
            if remaining < length:
                return start + remaining if self.strand == "+" else end - remaining
            remaining -= length
        raise AssertionError("unreachable: c was checked against cds_length")

    def codon_positions(self, protein_pos: int) -> tuple[int, int, int]:
        """Contig positions of codon `protein_pos` (1-based), in transcript order."""
        first = 3 * protein_pos - 2
        return (self.cds_to_genomic(first), self.cds_to_genomic(first + 1),
                self.cds_to_genomic(first + 2))

    def cds_sequence(self, fasta: SequenceSource) -> str:
        """The spliced CDS in transcript orientation (stop codon included)."""
        self._require_coding()
        sequence = "".join(fasta.fetch(self.contig, start - 1, end).upper()
                           for start, end in self.cds)
        return sequence if self.strand == "+" else reverse_complement(sequence)

    def _exonic_c(self, pos: int) -> str:
        cds_first = self.cds[0][0] if self.strand == "+" else self.cds[-1][1]
        cds_offset = self._spliced_offset(pos) - self._spliced_offset(cds_first)
        if cds_offset < 0:
            return str(cds_offset)
        if cds_offset >= self.cds_length:
            return f"*{cds_offset - self.cds_length + 1}"
        return str(cds_offset + 1)

    def c_position(self, pos: int) -> str:
        """HGVS c. position of a contig position: '524', '-12', '*5', '672+1', '673-2'.

        Positions beyond the transcript's ends continue the UTR numbering ('-N' upstream, '*N'
        downstream), as HGVS numbers promoter and downstream bases.
        """
        self._require_coding()
        exons = self._in_transcript_order(self.exons)
        first_base = exons[0][0] if self.strand == "+" else exons[0][1]
        last_base = exons[-1][1] if self.strand == "+" else exons[-1][0]
        before_start = pos < first_base if self.strand == "+" else pos > first_base
        after_end = pos > last_base if self.strand == "+" else pos < last_base
        if before_start:
            first_c = int(self._exonic_c(first_base))  # c.-N, or c.1 when there is no 5' UTR
            return str(min(first_c, 0) - abs(pos - first_base))
        if after_end:
            return self._extend_downstream(self._exonic_c(last_base), abs(pos - last_base))
        if any(start <= pos <= end for start, end in self.exons):
            return self._exonic_c(pos)
        return self._intronic_c(pos, exons)

    @staticmethod
    def _extend_downstream(c_last: str, distance: int) -> str:
        if c_last.startswith("*"):
            return f"*{int(c_last[1:]) + distance}"
        return f"*{distance}"  # transcript ends at the stop codon

    def _intronic_c(self, pos: int, exons: list[tuple[int, int]]) -> str:
        for upstream, downstream in zip(exons, exons[1:]):
            exon_last = upstream[1] if self.strand == "+" else upstream[0]
            exon_first = downstream[0] if self.strand == "+" else downstream[1]
            if min(exon_last, exon_first) < pos < max(exon_last, exon_first):
                into_intron = abs(pos - exon_last)
                before_exon = abs(exon_first - pos)
                # HGVS: the middle base of an odd-length intron belongs to the upstream exon.
                if into_intron <= before_exon:
                    return f"{self._exonic_c(exon_last)}+{into_intron}"
                return f"{self._exonic_c(exon_first)}-{before_exon}"
        raise AssertionError(f"{pos} lies in no exon or intron of {self.transcript_id}")

    def _c_range(self, first: int, last: int) -> str:
        """c. range of contig positions first..last (ascending), written in transcript order."""
        if first == last:
            return self.c_position(first)
        if self.strand == "-":
            first, last = last, first
        return f"{self.c_position(first)}_{self.c_position(last)}"

    def _oriented(self, bases: str) -> str:
        return bases if self.strand == "+" else reverse_complement(bases)

    def hgvs_c(self, pos: int, ref: str, alt: str, fasta: SequenceSource) -> str | None:
        """HGVS c. of a VCF-style contig variant (pos, ref, alt); None outside the transcript.

        Indels are shifted 3' in transcript orientation (HGVS 3' rule); an insertion that repeats
        the bases 5' of it is written as a dup.
        """
        change = self.describe_change(pos, ref, alt, fasta)
        if change is None:
            return None
        first, last, suffix = change
        return f"c.{self._c_range(first, last)}{suffix}"

    def describe_change(self, pos: int, ref: str, alt: str,
                        fasta: SequenceSource) -> tuple[int, int, str] | None:
        """(first, last, suffix): the c. text is the range of contig positions first..last
        (ascending) followed by ``suffix`` ('G>A', 'del', 'dup', 'insGG', 'delinsGT'); None
        outside the transcript. The REF is checked against ``fasta`` (ValueError)."""
        self._require_coding()
        ref, alt = ref.upper(), alt.upper()
        if fasta.fetch(self.contig, pos - 1, pos - 1 + len(ref)).upper() != ref:
            raise ValueError(f"REF {ref} does not match the reference at {self.contig}:{pos}")
        pos, ref, alt = trim_alleles(pos, ref, alt)
        last = pos + len(ref) - 1 if ref else pos
        if last < self.start or pos > self.end:
            return None
        if ref and alt:
            if len(ref) == 1 and len(alt) == 1:
                return pos, pos, f"{self._oriented(ref)}>{self._oriented(alt)}"
            return pos, last, f"delins{self._oriented(alt)}"
        pos, ref, alt = shift_indel(fasta, self.contig, pos, ref, alt,
                                    rightward=self.strand == "+")
        if ref:
            return pos, pos + len(ref) - 1, "del"
        return self._insertion_change(pos, alt, fasta)

    def _insertion_change(self, pos: int, inserted: str,
                          fasta: SequenceSource) -> tuple[int, int, str]:
        """Insertion between pos - 1 and pos, already shifted 3'."""
        size = len(inserted)
        # The bases 5' of the insertion (transcript orientation) lie left on '+', right on '-'.
        five_prime = (pos - size, pos - 1) if self.strand == "+" else (pos, pos + size - 1)
        if fasta.fetch(self.contig, five_prime[0] - 1, five_prime[1]).upper() == inserted:
            return five_prime[0], five_prime[1], "dup"
        return pos - 1, pos, f"ins{self._oriented(inserted)}"


class VariantError(ValueError):
    """A variant that cannot be described; ``index`` is its place in the input."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index

