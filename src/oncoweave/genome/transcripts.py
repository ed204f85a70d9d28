"""Transcript models read from an Ensembl-style GFF3, for HGVS c. notation and the targets BED.

Coordinates are 1-based inclusive reference-contig positions throughout. Transcript IDs are
compared without their version suffix (``ENST00000269305.9`` -> ``ENST00000269305``), because
the GFF3, the canonical-transcript table and ``bcftools csq`` disagree on whether to print it.
CDS features are expected to include the stop codon (the Ensembl GFF3 convention).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success

_VERSION_SUFFIX = re.compile(r"\.\d+$")
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
# Standard genetic code, codons ordered TTT, TTC, TTA, TTG, TCT, ... (bases in T, C, A, G order).
_BASES = "TCAG"
_AMINO_ACIDS = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
_CODON_TABLE = {a + b + c: _AMINO_ACIDS[16 * i + 4 * j + k]
                for i, a in enumerate(_BASES) for j, b in enumerate(_BASES)
                for k, c in enumerate(_BASES)}
_SEGMENT_TYPES = ("exon", "CDS")


class SequenceSource(Protocol):
    """What the HGVS code needs from a FASTA (``pysam.FastaFile`` fits)."""

    def fetch(self, reference: str, start: int, end: int) -> str: ...

    def get_reference_length(self, reference: str) -> int: ...


def strip_version(identifier: str) -> str:
    return _VERSION_SUFFIX.sub("", identifier)


def complement(sequence: str) -> str:
    return sequence.translate(_COMPLEMENT)


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

    def hgvs_c_many(self, positions, refs, alts, fasta: SequenceSource) -> list[str | None]:
        """``hgvs_c`` of many variants on this transcript's contig, in their order.

        SNVs (most calls) are described with array operations over one fetched window of the
        contig, other variants one by one; every c. position comes from ``c_positions``. A REF
        that does not match raises :class:`VariantError` with the variant's index.
        """
        import numpy as np

        self._require_coding()
        positions = np.asarray(positions, dtype=np.int64)
        refs = np.asarray(refs, dtype=object)
        alts = np.asarray(alts, dtype=object)
        count = len(positions)
        if count == 0:
            return []
        ref_lengths = np.fromiter((len(ref) for ref in refs), dtype=np.int64, count=count)
        alt_lengths = np.fromiter((len(alt) for alt in alts), dtype=np.int64, count=count)
        window = SequenceWindow(fasta, self.contig, int(positions.min()) - 1,
                                int((positions + ref_lengths).max()))
        first = np.zeros(count, dtype=np.int64)
        last = np.zeros(count, dtype=np.int64)
        suffix = np.full(count, None, dtype=object)
        snv = (ref_lengths == 1) & (alt_lengths == 1)
        snv_rows = np.flatnonzero(snv)
        first_mismatch = None  # the first SNV whose REF is not the reference's base
        if len(snv_rows):
            snv_refs = np.char.upper(refs[snv_rows].astype("U1"))
            snv_alts = np.char.upper(alts[snv_rows].astype("U1"))
            wrong = np.flatnonzero(window.bases(positions[snv_rows]) != snv_refs)
            if len(wrong):
                first_mismatch = int(snv_rows[wrong[0]])
            inside = (positions[snv_rows] >= self.start) & (positions[snv_rows] <= self.end)
            # REF == ALT (no change) is left to the general path, as hgvs_c treats it.
            snv[snv_rows[snv_refs == snv_alts]] = False
            inside &= snv_refs != snv_alts
            rows = snv_rows[inside]
            first[rows] = last[rows] = positions[rows]
            oriented_refs, oriented_alts = snv_refs[inside], snv_alts[inside]
            if self.strand == "-":
                oriented_refs = np.char.translate(oriented_refs, _COMPLEMENT)
                oriented_alts = np.char.translate(oriented_alts, _COMPLEMENT)
            suffix[rows] = np.char.add(np.char.add(oriented_refs, ">"), oriented_alts)
        for row in np.flatnonzero(~snv).tolist():
            if first_mismatch is not None and row > first_mismatch:
                break  # errors are raised in input order, as one-by-one description would
            try:
                change = self.describe_change(int(positions[row]), refs[row], alts[row], window)
            except ValueError as err:
                raise VariantError(row, str(err)) from None
            if change is not None:
                first[row], last[row], suffix[row] = change
        if first_mismatch is not None:
            self._raise_ref_mismatch(first_mismatch, positions, refs)
        described = np.flatnonzero(suffix != None)  # noqa: E711 (element-wise)
        if self.strand == "-":  # written in transcript order
            first, last = last, first
        first_c = self.c_positions(first[described])
        last_c = self.c_positions(last[described])
        texts: list[str | None] = [None] * count
        for row, start, end, change_start, change_end in zip(
                described.tolist(), first_c, last_c, first[described], last[described]):
            span = start if change_start == change_end else f"{start}_{end}"
            texts[row] = f"c.{span}{suffix[row]}"
        return texts

    def _raise_ref_mismatch(self, row: int, positions, refs) -> None:
        raise VariantError(row, f"REF {refs[row].upper()} does not match the reference at "
                                f"{self.contig}:{positions[row]}")

    def c_positions(self, positions) -> list[str]:
        """``c_position`` of many contig positions, with array operations (same texts)."""
        import numpy as np

        self._require_coding()
        positions = np.asarray(positions, dtype=np.int64)
        plus = self.strand == "+"
        starts = np.array([start for start, _ in self.exons], dtype=np.int64)
        ends = np.array([end for _, end in self.exons], dtype=np.int64)
        lengths = ends - starts + 1
        # Spliced bases before each exon (genomic order), counted along the transcript.
        before = np.cumsum(lengths) - lengths if plus else lengths.sum() - np.cumsum(lengths)
        cds_length = self.cds_length
        cds_first = self.cds[0][0] if plus else self.cds[-1][1]

        def cds_offsets(exonic_positions, exon_index):
            """Offsets from the first CDS base along the spliced transcript."""
            along = (exonic_positions - starts[exon_index] if plus
                     else ends[exon_index] - exonic_positions)
            return before[exon_index] + along - first_offset

        first_offset = 0
        first_offset = int(cds_offsets(np.array([cds_first]),
                                       np.searchsorted(starts, [cds_first], side="right") - 1)[0])
        texts = np.empty(len(positions), dtype=object)
        five_end = starts[0] if plus else ends[-1]
        three_end = ends[-1] if plus else starts[0]
        upstream = positions < five_end if plus else positions > five_end
        downstream = (positions > three_end if plus else positions < three_end) & ~upstream
        body = ~(upstream | downstream)
        if upstream.any():
            first_c = int(self._exonic_c(int(five_end)))
            texts[upstream] = [str(value) for value in
                               (min(first_c, 0) - np.abs(positions[upstream] - five_end)).tolist()]
        if downstream.any():
            last_c = self._exonic_c(int(three_end))
            carried = int(last_c[1:]) if last_c.startswith("*") else 0
            texts[downstream] = [f"*{value}" for value in
                                 (carried + np.abs(positions[downstream] - three_end)).tolist()]
        rows = np.flatnonzero(body)
        inner = positions[rows]
        exon = np.searchsorted(starts, inner, side="right") - 1
        exonic = inner <= ends[exon]
        texts[rows[exonic]] = _cds_texts(cds_offsets(inner[exonic], exon[exonic]), cds_length)
        intronic = ~exonic
        if intronic.any():
            at, left = inner[intronic], exon[intronic]  # between exon `left` and `left + 1`
            from_left, from_right = at - ends[left], starts[left + 1] - at
            left_c = _cds_texts(cds_offsets(ends[left], left), cds_length)
            right_c = _cds_texts(cds_offsets(starts[left + 1], left + 1), cds_length)
            # HGVS: the middle base of an odd-length intron belongs to the upstream exon.
            nearer_left = from_left <= from_right if plus else from_left < from_right
            texts[rows[intronic]] = [
                (f"{lc}+{fl}" if plus else f"{lc}-{fl}") if near else
                (f"{rc}-{fr}" if plus else f"{rc}+{fr}")
                for near, lc, rc, fl, fr in zip(nearer_left.tolist(), left_c, right_c,
                                                from_left.tolist(), from_right.tolist())]
        return texts.tolist()


class VariantError(ValueError):
    """A variant that cannot be described; ``index`` is its place in the input."""

    def __init__(self, index: int, message: str):
        super().__init__(message)
        self.index = index


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

    def bases(self, positions):
        """Upper-case base (U1 array) at each 1-based position."""
        import numpy as np

        sequence = np.frombuffer(self._sequence.encode(), dtype="S1")
        offsets = np.asarray(positions) - 1 - self._start
        outside = (offsets < 0) | (offsets >= len(sequence))
        found = sequence[np.clip(offsets, 0, max(len(sequence) - 1, 0))].astype("U1")
        return np.where(outside, "", found)


def _cds_texts(offsets, cds_length: int) -> list[str]:
    """c. text of 0-based offsets from the CDS start ('-12', '524', '*5'), as ``_exonic_c``."""
    return [str(offset) if offset < 0 else
            (f"*{offset - cds_length + 1}" if offset >= cds_length else str(offset + 1))
            for offset in offsets.tolist()]


def _parse_attributes(column: str) -> dict[str, str]:
    attributes = {}
    for item in column.strip().strip(";").split(";"):
        key, _, value = item.partition("=")
        attributes[key.strip()] = unquote(value)
    return attributes


def _read_gff3_rows(gff3_path: Path):
    """Yield (line number, fields, attributes) of the feature lines of a GFF3."""
    try:
        handle = gff3_path.open()
    except OSError as err:
        raise InputError(f"cannot read GFF3 ({err.strerror})", path=gff3_path) from None
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if line.startswith("##FASTA"):
                return
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 9:
                raise InputError(f"expected 9 tab-separated columns, found {len(fields)}",
                                 path=gff3_path, row=line_number)
            for column in (3, 4):
                if not fields[column].isdigit():
                    raise InputError(f"start/end must be integers, found {fields[column]!r}",
                                     path=gff3_path, row=line_number,
                                     column="start" if column == 3 else "end")
            yield line_number, fields, _parse_attributes(fields[8])


def load_transcripts(gff3_path: str | Path,
                     transcript_ids: set[str] | None = None) -> dict[str, Transcript]:
    """Transcripts (by version-less ID) with their exons and CDS from an Ensembl-style GFF3.

    A transcript is any feature whose ID is ``transcript:<id>`` (mRNA, transcript, processed_
    transcript ...); its gene is the Name of its Parent gene feature. `transcript_ids` (with or
    without versions) limits the result to those transcripts.
    """
    gff3_path = Path(gff3_path)
    wanted = {strip_version(t) for t in transcript_ids} if transcript_ids is not None else None
    gene_names: dict[str, str] = {}
    headers: dict[str, tuple[str, str, str, int]] = {}  # id -> contig, strand, gene id, line
    segments: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(
        lambda: {kind: [] for kind in _SEGMENT_TYPES})
    for line_number, fields, attributes in _read_gff3_rows(gff3_path):
        feature_id = attributes.get("ID", "")
        if feature_id.startswith("gene:"):
            gene_names[feature_id] = attributes.get("Name", feature_id.removeprefix("gene:"))
        elif feature_id.startswith("transcript:"):
            transcript_id = strip_version(feature_id.removeprefix("transcript:"))
            headers[transcript_id] = (fields[0], fields[6], attributes.get("Parent", ""),
                                      line_number)
        elif fields[2] in _SEGMENT_TYPES:
            for parent in attributes.get("Parent", "").split(","):
                if parent.startswith("transcript:"):
                    transcript_id = strip_version(parent.removeprefix("transcript:"))
                    segments[transcript_id][fields[2]].append((int(fields[3]), int(fields[4])))
    transcripts = {}
    for transcript_id, (contig, strand, gene_id, line_number) in headers.items():
        if wanted is not None and transcript_id not in wanted:
            continue
        if strand not in ("+", "-"):
            raise InputError(f"transcript {transcript_id} has strand {strand!r}, expected + or -",
                             path=gff3_path, row=line_number, column="strand")
        parts = segments[transcript_id]
        if not parts["exon"]:
            raise InputError(f"transcript {transcript_id} has no exon features",
                             path=gff3_path, row=line_number)
        transcripts[transcript_id] = Transcript(
            transcript_id=transcript_id,
            gene=gene_names.get(gene_id, gene_id.removeprefix("gene:")),
            contig=contig, strand=strand, exons=tuple(sorted(parts["exon"])),
            cds=tuple(sorted(parts["CDS"])))
    if wanted is not None and wanted - transcripts.keys():
        raise InputError(f"transcripts not found: {', '.join(sorted(wanted - transcripts.keys()))}",
                         path=gff3_path)
    return transcripts


def canonical_transcripts(tsv_path: str | Path) -> dict[str, str]:
    """Gene -> canonical transcript ID (version stripped) from canonical_transcripts.tsv."""
    tsv_path = Path(tsv_path)
    try:
        handle = tsv_path.open(newline="")
    except OSError as err:
        raise InputError(f"cannot read canonical-transcript table ({err.strerror})",
                         path=tsv_path) from None
    with handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = {"gene", "canonical_transcript"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"missing columns {sorted(missing)}", path=tsv_path)
        canonical = {}
        for row_number, row in enumerate(reader, start=2):
            if not row["gene"] or not row["canonical_transcript"]:
                raise InputError("empty gene or canonical_transcript", path=tsv_path,
                                 row=row_number)
            canonical[row["gene"]] = strip_version(row["canonical_transcript"])
    return canonical


def canonical_models(gff3_path: str | Path, canonical_tsv: str | Path) -> dict[str, Transcript]:
    """Gene -> its canonical Transcript."""
    canonical = canonical_transcripts(canonical_tsv)
    models = load_transcripts(gff3_path, set(canonical.values()))
    return {gene: models[transcript_id] for gene, transcript_id in canonical.items()}


def target_intervals(transcripts: list[Transcript], flank: int) -> list[tuple[str, int, int, str]]:
    """BED intervals (contig, 0-based start, end, gene) of coding sequence +- flank, merged."""
    intervals = sorted((t.contig, max(0, start - 1 - flank), end + flank, t.gene)
                       for t in transcripts for start, end in t.cds)
    merged: list[tuple[str, int, int, str]] = []
    for contig, start, end, gene in intervals:
        if merged and merged[-1][0] == contig and start <= merged[-1][2]:
            last = merged[-1]
            genes = last[3] if gene in last[3].split(",") else f"{last[3]},{gene}"
            merged[-1] = (contig, last[1], max(last[2], end), genes)
        else:
            merged.append((contig, start, end, gene))
    return merged


def write_targets_bed(intervals: list[tuple[str, int, int, str]], output: str | Path) -> None:
    with replaced_on_success(output) as temporary, temporary.open("w") as handle:
        handle.writelines(f"{contig}\t{start}\t{end}\t{gene}\n"
                          for contig, start, end, gene in intervals)
