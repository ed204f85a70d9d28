"""Writes the variants table: one row per classified, consequence-annotated variant of a tumour
sample.

``export_variants`` fills ``VARIANTS_SCHEMA`` (in :mod:`oncoweave.variants.schema`) from the
output of ``bcftools csq`` run on ``oncoweave classify-variants``' VCF: the records are read by
:mod:`.vcf_reading` in pieces, each piece's columns computed by :mod:`.export_columns` while the
next is read, and the Arrow columns written as they are. Here: BCSQ parsing and HGVS p.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.tables import system_memory_pool, write_parquet_to_pandas
from oncoweave.genome.reference import ContigMap
from oncoweave.genome.transcripts import Transcript, strip_version
from oncoweave.variants.identity import PAIR_IDENTITY_VALUES
from oncoweave.variants.schema import VARIANTS_SCHEMA


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


# ---------------------------------------------------------------------------------------------
# Annotated VCF -> variants table.

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
    from oncoweave.variants.export_columns import stream_columns
    from oncoweave.variants.vcf_reading import read_record_batches

    with system_memory_pool():  # see there: 1M records, 2.0 s -> 1.55 s
        # The columns of each piece of records are computed while bcftools reads the next.
        records, columns = stream_columns(read_record_batches(annotated_vcf, tumour_sample),
                                          annotated_vcf, contig_map, transcripts, fasta_path)
        # Arrow-backed columns: write_parquet takes the arrays as they are.
        df = pd.DataFrame({name: pd.arrays.ArrowExtensionArray(values)
                           for name, values in columns.items()})
        fixed = {"patient": patient, "sample": tumour_sample, "normal_sample": normal_sample,
                 "pair_identity": pair_identity, "purity": purity}
        for name, value in fixed.items():
            df[name] = _constant_column(value, VARIANTS_SCHEMA.field(name).type,
                                        records.num_rows)
        provenance = {**provenance_from_vcf_header(annotated_vcf), **metadata}
        return write_parquet_to_pandas(df[VARIANTS_SCHEMA.names], output_parquet,
                                       VARIANTS_SCHEMA, provenance)


def _constant_column(value, kind, length: int) -> pd.Series:
    """``length`` copies of ``value`` as one Arrow array of the schema's type (no million Python
    objects to convert again); a value that does not fit is left for write_parquet to report."""
    import pyarrow as pa

    try:
        scalar = pa.scalar(value, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pd.Series([value] * length, dtype=object)
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.repeat(scalar, length)))


def read_annotated_records(path: str | Path, tumour_sample: str, *,
                           reader: str = "auto") -> pd.DataFrame:
    """The fields export needs, one row per record in file order (see :mod:`.vcf_reading`)."""
    from oncoweave.variants.vcf_reading import read_records

    return read_records(Path(path), tumour_sample, reader=reader)


def variant_type(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    return "INS" if len(alt) > len(ref) else "DEL"
