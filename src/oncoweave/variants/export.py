"""Writes the variants table: one row per classified, consequence-annotated variant of a tumour
sample.

``export_variants`` fills ``VARIANTS_SCHEMA`` (in :mod:`oncoweave.variants.schema`) from the
output of ``bcftools csq`` run on ``oncoweave classify-variants``' VCF.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.io import open_fasta
from oncoweave.core.tables import table_to_pandas, write_parquet
from oncoweave.genome.reference import ContigMap
from oncoweave.genome.sequence import translate
from oncoweave.genome.transcripts import Transcript, strip_version
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

@dataclass(frozen=True)
class _Site:
    contig: str
    pos: int
    ref: str
    alt: str
    consequences: list[Consequence]
    references: list[int]


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
    records = read_annotated_records(annotated_vcf, tumour_sample)
    df = _variant_columns(records, annotated_vcf, contig_map, transcripts, fasta_path)
    fixed = {"patient": patient, "sample": tumour_sample, "normal_sample": normal_sample,
             "pair_identity": pair_identity, "purity": purity}
    for name, value in fixed.items():
        df[name] = _constant_column(value, VARIANTS_SCHEMA.field(name).type, len(df))
    provenance = {**provenance_from_vcf_header(annotated_vcf), **metadata}
    return table_to_pandas(write_parquet(df[VARIANTS_SCHEMA.names], output_parquet,
                                         VARIANTS_SCHEMA, provenance))


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


def _variant_columns(records: pd.DataFrame, path: Path, contig_map: ContigMap,
                     transcripts: Mapping[str, Transcript],
                     fasta_path: str | Path) -> pd.DataFrame:
    """Every column but the per-sample constants, computed per column (BCSQ split by pyarrow,
    HGVS c. per transcript with array operations, HGVS p. once per distinct protein change)."""
    import numpy as np

    from oncoweave.variants.vcf_reading import genomic_positions, variant_types

    contigs, positions = records["contig"].to_numpy(), records["pos"].to_numpy()
    chrom, genomic_pos = genomic_positions(contigs, positions, contig_map, path)
    refs, alts = records["ref"].to_numpy(), records["alt"].to_numpy()
    canonical_ids = {strip_version(t.transcript_id): t for t in transcripts.values()}
    chosen = _chosen_consequences(records, canonical_ids)
    transcript_ids = chosen["transcript"].to_numpy(copy=True)
    _enclosing_transcripts(transcript_ids, contigs, positions, canonical_ids)
    with open_fasta(Path(fasta_path)) as fasta:
        hgvs_c, c_errors = _hgvs_c_column(transcript_ids, positions, refs, alts, canonical_ids,
                                          fasta)
        hgvs_p, p_errors = _hgvs_p_column(chosen, canonical_ids, fasta)
    errors = sorted(c_errors + p_errors)
    if errors:
        row, _, message = errors[0]
        raise InputError(f"record {contigs[row]}:{positions[row]}: {message} (was bcftools csq "
                         "run with the same FASTA and GFF3?)", path=path)
    annotated = pd.notna(transcript_ids)
    df = pd.DataFrame({
        "gene": np.array([canonical_ids[t].gene if t is not None else None
                          for t in transcript_ids], dtype=object),
        "transcript": transcript_ids,
        "consequence": np.where(chosen["term"].notna(), chosen["term"],
                                np.where(annotated, "intron", None)).astype(object),
        "hgvs_p": hgvs_p, "hgvs_c": hgvs_c}, dtype=object)
    df.insert(0, "variant_type", variant_types(refs, alts))
    for name, values in (("contig_pos", positions), ("contig", contigs), ("alt", alts),
                         ("ref", refs), ("pos", genomic_pos), ("chrom", chrom)):
        df.insert(0, name, values)
    for side, depth, alt in (("t", "t_dp", "t_alt"), ("n", "n_dp", "n_alt")):
        depths, alt_counts = records[depth], records[alt]
        depth_values = depths.to_numpy(dtype=float, na_value=np.nan)
        alt_values = alt_counts.to_numpy(dtype=float, na_value=np.nan)
        # VAFs from the counts: INFO/T_VAF is a rounded float32 (allele_fraction's rule).
        with np.errstate(divide="ignore", invalid="ignore"):
            vaf = np.where(depth_values > 0, alt_values / depth_values, 0.0)
        df[f"{side}_depth"], df[f"{side}_alt"] = depths, alt_counts
        df[f"{side}_vaf"] = np.where(np.isnan(depth_values), np.nan, vaf)
    for name, source in (("status", "status"), ("filter", "filter"), ("quality", "quality"),
                         ("fisher_p", "fisher_p")):
        df[name] = records[source].to_numpy()
    return df


def _chosen_consequences(records: pd.DataFrame,
                         canonical: Mapping[str, Transcript]) -> pd.DataFrame:
    """Per record (same index): the term, canonical transcript and amino-acid change of its
    consequence on a canonical transcript (None without one), as ``_canonical_consequence``
    picks it: the record's own first canonical entry, else one of a linked ('@') record."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    count = len(records)
    chosen = pd.DataFrame({name: np.full(count, None, dtype=object)
                           for name in ("term", "transcript", "amino_acids")})
    entries_per_record = pc.split_pattern(
        pa.array(records["bcsq"].to_numpy(), type=pa.string()), ",")
    entries = pc.list_flatten(entries_per_record)
    if len(entries) == 0:
        return chosen
    parents = pc.list_parent_indices(entries_per_record).to_numpy()
    linked = pc.starts_with(entries, "@").to_numpy(zero_copy_only=False)
    # Padded so that every entry has the seven fields parse_bcsq pads to.
    fields = pc.split_pattern(pc.binary_join_element_wise(entries, "||||||", ""), "|")
    transcript = pc.replace_substring_regex(pc.list_element(fields, 2), r"\.\d+$", "")
    own = pc.is_in(transcript, value_set=pa.array(list(canonical), pa.string())).to_numpy(
        zero_copy_only=False) & ~linked
    rows = np.flatnonzero(own)
    records_with, first = np.unique(parents[rows], return_index=True)
    picked = rows[first]
    for name, index in (("term", 0), ("transcript", None), ("amino_acids", 5)):
        values = (transcript if index is None else pc.list_element(fields, index)).take(
            pa.array(picked)).to_numpy(zero_copy_only=False)
        if name == "amino_acids":
            values = np.where(values == "", None, values)
        chosen.loc[records_with, name] = values
    # Compound calls: a record without its own canonical entry may take a linked record's.
    unresolved = np.setdiff1d(np.unique(parents[linked]), records_with)
    if len(unresolved):
        _follow_links(records, unresolved, canonical, chosen)
    return chosen


def _follow_links(records: pd.DataFrame, rows, canonical: Mapping[str, Transcript],
                  chosen: pd.DataFrame) -> None:
    """The per-site path (parse_bcsq, '@' links) for the few records that need it."""
    contigs, positions = records["contig"].to_numpy(), records["pos"].to_numpy()
    bcsq = records["bcsq"].to_numpy()
    sites = {row: _Site(contigs[row], int(positions[row]), records["ref"].iat[row],
                        records["alt"].iat[row], *parse_bcsq(bcsq[row].split(",")))
             for row in rows.tolist()}
    wanted = {(site.contig, position) for site in sites.values() for position in site.references}
    at_wanted = [row for row, key in enumerate(zip(contigs, positions.tolist()))
                 if key in wanted and bcsq[row]]
    by_position = _consequences_by_position(
        [_Site(contigs[row], int(positions[row]), "", "", *parse_bcsq(bcsq[row].split(",")))
         for row in at_wanted])
    for row, site in sites.items():
        consequence = _canonical_consequence(site, canonical, by_position)
        if consequence is not None:
            chosen.loc[row] = [consequence.term, consequence.transcript, consequence.amino_acids]


def _enclosing_transcripts(transcript_ids, contigs, positions,
                           canonical: Mapping[str, Transcript]) -> None:
    """Fill records without a consequence with the first canonical transcript spanning them
    (csq prints nothing for most intronic sites)."""
    import pandas as pd

    for transcript_id, transcript in canonical.items():
        spanning = (pd.isna(transcript_ids) & (contigs == transcript.contig)
                    & (positions >= transcript.start) & (positions <= transcript.end))
        transcript_ids[spanning] = transcript_id


def _hgvs_c_column(transcript_ids, positions, refs, alts, canonical: Mapping[str, Transcript],
                   fasta: pysam.FastaFile) -> tuple[list, list]:
    """HGVS c. per record (None without a transcript) and the (row, 0, message) errors: the
    first of each transcript's records."""
    import numpy as np

    from oncoweave.genome.transcripts import VariantError

    hgvs_c = np.full(len(positions), None, dtype=object)
    errors = []
    for transcript_id in pd.unique(transcript_ids[pd.notna(transcript_ids)]):
        rows = np.flatnonzero(transcript_ids == transcript_id)
        try:
            hgvs_c[rows] = canonical[transcript_id].hgvs_c_many(
                positions[rows], refs[rows], alts[rows], fasta)
        except VariantError as err:
            errors.append((int(rows[err.index]), 0, str(err)))
    return hgvs_c, errors


def _hgvs_p_column(chosen: pd.DataFrame, canonical: Mapping[str, Transcript],
                   fasta: pysam.FastaFile) -> tuple[list, list]:
    """HGVS p. per record, computed once per distinct (transcript, term, amino acids)."""
    import numpy as np

    hgvs_p = np.full(len(chosen), None, dtype=object)
    errors = []
    proteins: dict[str, str] = {}
    described: dict[tuple, str | None] = {}
    keys = zip(chosen["transcript"].tolist(), chosen["term"].tolist(),
               chosen["amino_acids"].tolist())
    for row, key in enumerate(keys):
        if key[0] is None:
            continue
        if key not in described:
            transcript = canonical[key[0]]
            try:
                described[key] = hgvs_protein(key[1], key[2],
                                              _protein(transcript, fasta, proteins))
            except ValueError as err:
                errors.append((row, 1, str(err)))
                continue
        hgvs_p[row] = described[key]
    return hgvs_p, errors


def _consequences_by_position(sites: list[_Site]) -> dict[tuple[str, int], list[Consequence]]:
    by_position: dict[tuple[str, int], list[Consequence]] = {}
    for site in sites:
        if site.consequences:
            by_position.setdefault((site.contig, site.pos), []).extend(site.consequences)
    return by_position


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


def _protein(transcript: Transcript, fasta: pysam.FastaFile, cache: dict[str, str]) -> str:
    if transcript.transcript_id not in cache:
        cache[transcript.transcript_id] = translate(transcript.cds_sequence(fasta))
    return cache[transcript.transcript_id]


def variant_type(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    return "INS" if len(alt) > len(ref) else "DEL"
