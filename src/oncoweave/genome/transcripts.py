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
                return f"c.{self.c_position(pos)}{self._oriented(ref)}>{self._oriented(alt)}"
            return f"c.{self._c_range(pos, last)}delins{self._oriented(alt)}"
        pos, ref, alt = shift_indel(fasta, self.contig, pos, ref, alt,
                                    rightward=self.strand == "+")
        if ref:
            return f"c.{self._c_range(pos, pos + len(ref) - 1)}del"
        return self._insertion_c(pos, alt, fasta)

    def _insertion_c(self, pos: int, inserted: str, fasta: SequenceSource) -> str:
        """Insertion between pos - 1 and pos, already shifted 3'."""
        size = len(inserted)
        # The bases 5' of the insertion (transcript orientation) lie left on '+', right on '-'.
        five_prime = (pos - size, pos - 1) if self.strand == "+" else (pos, pos + size - 1)
        if fasta.fetch(self.contig, five_prime[0] - 1, five_prime[1]).upper() == inserted:
            return f"c.{self._c_range(*five_prime)}dup"
        return f"c.{self._c_range(pos - 1, pos)}ins{self._oriented(inserted)}"


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
