"""The variants table's per-record columns, computed per column from the reader's pyarrow table.

GRCh38 positions one contig-map look-up per contig; variant types from the allele lengths; the
canonical consequence from INFO/BCSQ split by pyarrow ('@' links to compound calls followed for
the few records that need them); HGVS c. per transcript with array operations; HGVS p. once per
distinct protein change. Every column is an Arrow array of the schema's type holding what
``write_parquet`` made of the former object columns (NaN floats are null), so the export writes
the reader's strings and counts without converting them to Python objects and back.
``stream_columns`` computes them piece by piece as the reader parses the file (the same columns:
a piece that fails or holds '@' links sends the whole table through ``variant_columns`` again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from oncoweave.core.errors import InputError
from oncoweave.core.io import open_fasta
from oncoweave.genome.reference import ContigMap
from oncoweave.genome.sequence import translate
from oncoweave.genome.transcripts import Transcript, strip_version
from oncoweave.variants.consequences import Consequence, dna_tokens, hgvs_protein, parse_bcsq

if TYPE_CHECKING:
    import pyarrow as pa
    import pysam


@dataclass(frozen=True)
class _Site:
    contig: str
    pos: int
    ref: str
    alt: str
    consequences: list[Consequence]
    references: list[int]


class _Canonical:
    """The canonical transcripts by version-less id, with what every piece of records looks up:
    their genes, the transcripts per contig, the translated proteins (filled as needed)."""

    def __init__(self, transcripts: Mapping[str, Transcript]):
        import pyarrow as pa

        self.by_id = {strip_version(t.transcript_id): t for t in transcripts.values()}
        self.ids = list(self.by_id)
        # One null appended: the look-up of a record without a transcript (index len(ids)).
        self.id_array = pa.array(self.ids + [None], pa.string())
        self.genes = pa.array([t.gene for t in self.by_id.values()] + [None], pa.string())
        self.by_contig: dict[str, list[tuple[int, Transcript]]] = {}
        for code, transcript in enumerate(self.by_id.values()):
            self.by_contig.setdefault(transcript.contig, []).append((code, transcript))
        self.proteins: dict[str, str] = {}


class _LinksAcrossPieces(Exception):
    """A piece of records holds '@' links, which may point into another piece."""


def variant_columns(records: pa.Table, path: Path, contig_map: ContigMap,
                    transcripts: Mapping[str, Transcript],
                    fasta_path: str | Path) -> dict[str, pa.Array | pa.ChunkedArray]:
    """Every column of the variants table but the per-sample constants, by name."""
    with open_fasta(Path(fasta_path)) as fasta:
        return _columns(records, path, contig_map, _Canonical(transcripts), fasta)


def stream_columns(pieces: Iterable[pa.Table], path: Path, contig_map: ContigMap,
                   transcripts: Mapping[str, Transcript], fasta_path: str | Path
                   ) -> tuple[pa.Table, dict[str, pa.ChunkedArray]]:
    """(the records, ``variant_columns`` of them) from consecutive pieces of the records,
    each piece's columns computed as it arrives (while the reader parses the next).

    Should a piece fail, or hold '@' links (which may point into another piece), the columns
    are computed once more on the whole table, which raises the errors in the order
    ``variant_columns`` has them; the reader's errors come first, after its last piece.
    """
    import pyarrow as pa

    canonical = _Canonical(transcripts)
    tables, parts, whole = [], [], False
    with open_fasta(Path(fasta_path)) as fasta:
        for piece in pieces:
            tables.append(piece)
            if not whole:
                try:
                    parts.append(_columns(piece, path, contig_map, canonical, fasta,
                                          follow_links=False))
                except Exception:  # noqa: BLE001 (raised again, in order, on the whole table)
                    whole = True
        records = pa.concat_tables(tables)
        if whole:
            return records, _columns(records, path, contig_map, canonical, fasta)
    return records, {name: pa.chunked_array([chunk for part in parts for chunk in (
        part[name].chunks if isinstance(part[name], pa.ChunkedArray) else [part[name]])],
        type=parts[0][name].type) for name in parts[0]}


def _columns(records: pa.Table, path: Path, contig_map: ContigMap, canonical: _Canonical,
             fasta: pysam.FastaFile, follow_links: bool = True) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc

    contig_codes, contig_names = _codes(records["contig"])
    positions = records["pos"].to_numpy()
    chrom, genomic_pos = genomic_positions(contig_codes, contig_names, positions, contig_map,
                                           path)
    term, chosen, amino_acids = _chosen_consequences(records, canonical, follow_links)
    codes = chosen.copy()  # the chosen transcript, else the canonical one spanning the record
    _enclosing_transcripts(codes, contig_codes, contig_names, positions, canonical)
    hgvs_c, c_errors = _hgvs_c_column(codes, positions, records["ref"], records["alt"],
                                      canonical, fasta)
    hgvs_p, p_errors = _hgvs_p_column(chosen, term, amino_acids, canonical, fasta)
    errors = sorted(c_errors + p_errors)
    if errors:
        row, _, message = errors[0]
        raise InputError(f"record {contig_names[contig_codes[row]]}:{positions[row]}: {message} "
                         "(was bcftools csq run with the same FASTA and GFF3?)", path=path)
    per_record = pa.array(np.where(codes >= 0, codes, len(canonical.ids)))
    consequence = np.where(term != None, term, np.where(codes >= 0, "intron", None))  # noqa: E711
    columns = {
        "chrom": chrom, "pos": pa.array(genomic_pos), "ref": records["ref"],
        "alt": records["alt"], "contig": records["contig"], "contig_pos": pa.array(positions),
        "variant_type": variant_types(records["ref"], records["alt"]),
        "gene": canonical.genes.take(per_record),
        "transcript": canonical.id_array.take(per_record),
        "consequence": pa.array(consequence, pa.string()),
        "hgvs_p": pa.array(hgvs_p, pa.string()), "hgvs_c": hgvs_c}
    for side, depth, alt in (("t", "t_dp", "t_alt"), ("n", "n_dp", "n_alt")):
        depth_values = records[depth].to_numpy().astype(float)  # NaN where missing
        alt_values = records[alt].to_numpy().astype(float)
        # VAFs from the counts: INFO/T_VAF is a rounded float32 (allele_fraction's rule).
        with np.errstate(divide="ignore", invalid="ignore"):
            vaf = np.where(depth_values > 0, alt_values / depth_values, 0.0)
        columns[f"{side}_depth"], columns[f"{side}_alt"] = records[depth], records[alt]
        columns[f"{side}_vaf"] = pa.array(np.where(np.isnan(depth_values), np.nan, vaf),
                                          from_pandas=True)  # NaN is null, as pandas has it
    for name in ("status", "filter"):
        columns[name] = records[name]
    for name in ("quality", "fisher_p"):
        columns[name] = pa.array(pc.fill_null(records[name], np.nan).to_numpy(),
                                 from_pandas=True)
    return columns


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """(per-record index into the distinct values, the distinct values in first-seen order)."""
    encoded = column.combine_chunks().dictionary_encode()
    return (encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            encoded.dictionary.to_pylist())


def genomic_positions(contig_codes: np.ndarray, contig_names: list[str], positions: np.ndarray,
                      contig_map: ContigMap, path: Path) -> tuple[pa.Array, np.ndarray]:
    """(GRCh38 chromosome, position) columns, one contig-map look-up per contig; the first
    record on a contig the map lacks is an InputError naming it."""
    import pyarrow as pa

    chroms, offsets, unknown = [], np.zeros(len(contig_names), dtype=np.int64), {}
    for code, contig in enumerate(contig_names):
        try:
            name, offsets[code] = contig_map.to_genomic(contig, 0)
        except KeyError as err:
            name, unknown[code] = None, err.args[0]
        chroms.append(name)
    if unknown:
        first = int(np.argmax(np.isin(contig_codes, list(unknown))))
        raise InputError(f"record {contig_names[contig_codes[first]]}:{positions[first]}: "
                         f"{unknown[contig_codes[first]]}", path=path)
    return pa.array(chroms, pa.string()).take(pa.array(contig_codes)), positions + offsets[
        contig_codes]


def variant_types(refs: pa.ChunkedArray, alts: pa.ChunkedArray) -> pa.Array:
    """SNV, MNV, INS or DEL from the allele lengths (export.variant_type, vectorised)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Characters, as len() counts them; a null allele gives NaN, as pandas' str.len() did.
    ref_length, alt_length = (pc.utf8_length(values).to_numpy().astype(float)
                              for values in (refs, alts))
    kind = np.where(ref_length == alt_length, np.where(ref_length == 1, 0, 1),
                    np.where(alt_length > ref_length, 2, 3))
    return pa.array(["SNV", "MNV", "INS", "DEL"]).take(pa.array(kind))


def _chosen_consequences(records: pa.Table, canonical: _Canonical, follow_links: bool = True
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per record: the term, canonical transcript (index into ``canonical``, -1 without one) and
    amino-acid change of its consequence on a canonical transcript (None without one), as
    ``_canonical_consequence`` picks it: the record's own first canonical entry, else one of a
    linked ('@') record (``follow_links`` False: _LinksAcrossPieces instead)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    count = records.num_rows
    term, amino_acids = np.full(count, None, dtype=object), np.full(count, None, dtype=object)
    codes = np.full(count, -1, dtype=np.int64)
    entries_per_record = pc.split_pattern(records["bcsq"].combine_chunks(), ",")
    entries = pc.list_flatten(entries_per_record)
    if len(entries) == 0:
        return term, codes, amino_acids
    parents = pc.list_parent_indices(entries_per_record).to_numpy()
    linked = pc.starts_with(entries, "@").to_numpy(zero_copy_only=False)
    # Padded so that every entry has the seven fields parse_bcsq pads to.
    fields = pc.split_pattern(pc.binary_join_element_wise(entries, "||||||", ""), "|")
    transcript = pc.replace_substring_regex(pc.list_element(fields, 2), r"\.\d+$", "")
    ids = canonical.id_array[:-1]
    own = pc.is_in(transcript, value_set=ids).to_numpy(zero_copy_only=False) & ~linked
    rows = np.flatnonzero(own)
    records_with, first = np.unique(parents[rows], return_index=True)
    picked = pa.array(rows[first])
    term[records_with] = pc.list_element(fields, 0).take(picked).to_numpy(zero_copy_only=False)
    codes[records_with] = pc.index_in(transcript.take(picked), value_set=ids).to_numpy()
    changes = pc.list_element(fields, 5).take(picked).to_numpy(zero_copy_only=False)
    amino_acids[records_with] = np.where(changes == "", None, changes)
    # Compound calls: a record without its own canonical entry may take a linked record's.
    unresolved = np.setdiff1d(np.unique(parents[linked]), records_with)
    if len(unresolved):
        if not follow_links:
            raise _LinksAcrossPieces
        _follow_links(records, unresolved, canonical.by_id, (term, codes, amino_acids))
    return term, codes, amino_acids


def _follow_links(records: pa.Table, rows: np.ndarray, canonical: Mapping[str, Transcript],
                  chosen: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """The per-site path (parse_bcsq, '@' links) for the few records that need it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def fields(at: np.ndarray) -> list[list]:
        taken = records.select(["contig", "pos", "ref", "alt", "bcsq"]).take(pa.array(at))
        return [taken[name].to_pylist() for name in taken.column_names]

    sites = {row: _Site(contig, pos, ref, alt, *parse_bcsq(bcsq.split(",")))
             for row, contig, pos, ref, alt, bcsq in zip(rows.tolist(), *fields(rows))}
    wanted = {(site.contig, position) for site in sites.values() for position in site.references}
    # Only records at a wanted position, in file order, become Python objects.
    candidates = np.flatnonzero(
        np.isin(records["pos"].to_numpy(), [position for _, position in wanted])
        & pc.fill_null(pc.not_equal(records["bcsq"], ""), False).to_numpy())
    by_position = _consequences_by_position(
        [_Site(contig, pos, "", "", *parse_bcsq(bcsq.split(",")))
         for contig, pos, _, _, bcsq in zip(*fields(candidates)) if (contig, pos) in wanted])
    term, codes, amino_acids = chosen
    index = {transcript_id: code for code, transcript_id in enumerate(canonical)}
    for row, site in sites.items():
        consequence = _canonical_consequence(site, canonical, by_position)
        if consequence is not None:
            term[row], amino_acids[row] = consequence.term, consequence.amino_acids
            codes[row] = index[consequence.transcript]


def _enclosing_transcripts(codes: np.ndarray, contig_codes: np.ndarray, contig_names: list[str],
                           positions: np.ndarray, canonical: _Canonical) -> None:
    """Give records without a consequence the first canonical transcript spanning them (csq
    prints nothing for most intronic sites): per contig, the records sorted by position once,
    then each transcript's span found by binary search."""
    for contig_code, contig in enumerate(contig_names):
        if contig not in canonical.by_contig:
            continue
        rows = np.flatnonzero((contig_codes == contig_code) & (codes < 0))
        rows = rows[np.argsort(positions[rows], kind="stable")]
        ordered = positions[rows]
        for code, transcript in canonical.by_contig[contig]:
            spanning = rows[np.searchsorted(ordered, transcript.start):
                            np.searchsorted(ordered, transcript.end, side="right")]
            spanning = spanning[codes[spanning] < 0]  # an earlier transcript keeps its records
            codes[spanning] = code


def _hgvs_c_column(codes: np.ndarray, positions: np.ndarray, refs: pa.ChunkedArray,
                   alts: pa.ChunkedArray, canonical: _Canonical,
                   fasta: pysam.FastaFile) -> tuple[pa.Array, list]:
    """HGVS c. per record (null without a transcript) and the (row, 0, message) errors: the
    first of each transcript's records."""
    import pyarrow as pa

    from oncoweave.genome.hgvs_arrays import hgvs_c_array, scatter
    from oncoweave.genome.transcripts import VariantError

    order = np.argsort(codes, kind="stable")  # each transcript's records, in file order
    present, starts = np.unique(codes[order], return_index=True)
    described, texts, errors = [], [], []
    for code, start, end in zip(present.tolist(), starts, [*starts[1:], len(order)]):
        if code < 0:
            continue
        transcript, rows = canonical.by_id[canonical.ids[code]], order[start:end]
        taken = pa.array(rows)
        try:
            texts.append(hgvs_c_array(transcript, positions[rows], refs.take(taken),
                                      alts.take(taken), fasta))
            described.append(rows)
        except VariantError as err:
            errors.append((int(rows[err.index]), 0, str(err)))
    return scatter(len(codes), described, texts), errors


def _hgvs_p_column(chosen: np.ndarray, term: np.ndarray, amino_acids: np.ndarray,
                   canonical: _Canonical, fasta: pysam.FastaFile) -> tuple[np.ndarray, list]:
    """HGVS p. per record, computed once per distinct (transcript, term, amino acids)."""
    hgvs_p = np.full(len(chosen), None, dtype=object)
    errors = []
    described: dict[tuple, str | None] = {}
    rows = np.flatnonzero(chosen >= 0)
    for row, key in zip(rows.tolist(), zip(chosen[rows].tolist(), term[rows].tolist(),
                                           amino_acids[rows].tolist())):
        if key not in described:
            transcript = canonical.by_id[canonical.ids[key[0]]]
            try:
                described[key] = hgvs_protein(key[1], key[2],
                                              _protein(transcript, fasta, canonical.proteins))
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
              if own_change in dna_tokens(consequence)]
    for consequence in site.consequences + linked:
        if consequence.transcript in canonical:
            return consequence
    return None


def _protein(transcript: Transcript, fasta: pysam.FastaFile, cache: dict[str, str]) -> str:
    if transcript.transcript_id not in cache:
        cache[transcript.transcript_id] = translate(transcript.cds_sequence(fasta))
    return cache[transcript.transcript_id]
