"""The variants table: one row per classified, consequence-annotated variant of a tumour sample.

``VARIANTS_SCHEMA`` is the one definition of the table; ``export_variants`` fills it from the
output of ``bcftools csq`` run on ``oncoweave classify-variants``' VCF. ``write_parquet`` /
``read_parquet`` are generic (any schema): they validate a DataFrame against a schema, write
atomically and carry provenance (oncoweave and tool versions, config hash ...) in the file's
key-value metadata. Later stages reuse them for their own tables.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pysam

from . import __version__
from .classify import allele_fraction
from .errors import InputError
from .io import open_vcf, replaced_on_success
from .reference import BUNDLED_REFERENCE_DIR, ContigMap
from .transcripts import Transcript, canonical_models, strip_version, translate

PAIR_IDENTITY_VALUES = ("pass", "fail", "no_normal", "insufficient_data")


def schema_field(name: str, kind: pa.DataType, description: str, nullable: bool = False) -> pa.Field:
    """A schema column with its description in the field metadata (every table schema uses it)."""
    return pa.field(name, kind, nullable=nullable, metadata={"description": description})


VARIANTS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id from the sample sheet"),
    schema_field("sample", pa.string(), "Tumour sample id"),
    schema_field("normal_sample", pa.string(), "Matched normal sample id; null without one", True),
    schema_field("chrom", pa.string(), "GRCh38 chromosome, e.g. chr17"),
    schema_field("pos", pa.int64(), "GRCh38 1-based position (VCF convention, anchor base of indels)"),
    schema_field("ref", pa.string(), "Reference allele (VCF, left-normalised)"),
    schema_field("alt", pa.string(), "Alternate allele (VCF, left-normalised)"),
    schema_field("contig", pa.string(), "Contig of the reference that ran"),
    schema_field("contig_pos", pa.int64(), "1-based position on that contig"),
    schema_field("variant_type", pa.string(), "SNV, MNV, INS or DEL"),
    schema_field("gene", pa.string(), "Gene of the canonical transcript hit; null outside genes", True),
    schema_field("transcript", pa.string(), "Canonical transcript id (no version)", True),
    schema_field("consequence", pa.string(),
           "bcftools csq term(s) on the canonical transcript ('&'-joined when several); "
           "'intron' inside it without a csq entry; null outside genes", True),
    schema_field("hgvs_p", pa.string(), "HGVS protein change, one-letter (p.R175H, p.E746_A750del, "
           "p.L22Yfs*22, p.R196*, p.R175=)", True),
    schema_field("hgvs_c", pa.string(), "HGVS coding DNA change on the canonical transcript", True),
    schema_field("t_depth", pa.int64(), "Tumour depth"),
    schema_field("t_alt", pa.int64(), "Tumour ALT reads"),
    schema_field("t_vaf", pa.float64(), "Tumour ALT fraction"),
    schema_field("n_depth", pa.int64(), "Normal depth; null when no normal was analysed", True),
    schema_field("n_alt", pa.int64(), "Normal ALT reads; null when no normal was analysed", True),
    schema_field("n_vaf", pa.float64(), "Normal ALT fraction; null when no normal was analysed", True),
    schema_field("status", pa.string(), "somatic, germline, loh or tumour_only"),
    schema_field("filter", pa.string(), "PASS or ';'-joined failed filters"),
    schema_field("quality", pa.float64(), "VCF QUAL", True),
    schema_field("fisher_p", pa.float64(), "Fisher exact p of tumour vs normal counts", True),
    schema_field("pair_identity", pa.string(), "Tumour/normal identity check: " +
           ", ".join(PAIR_IDENTITY_VALUES)),
    schema_field("purity", pa.float64(), "Tumour purity from the sample sheet", True),
])


# ---------------------------------------------------------------------------------------------
# Generic Parquet I/O with provenance.

def write_parquet(df: pd.DataFrame, path: str | Path, schema: pa.Schema,
                  metadata: Mapping[str, str] | None = None) -> pa.Table:
    """Validate ``df`` against ``schema``, write it atomically with provenance; return the table.

    Columns must be exactly the schema's (order is taken from the schema); values must convert
    to the schema's types and non-nullable columns must have no nulls. The file's key-value
    metadata gets ``oncoweave_version`` plus ``metadata``.
    """
    path = Path(path)
    table = _to_table(df, schema, path)
    provenance = {"oncoweave_version": __version__, **(metadata or {})}
    table = table.replace_schema_metadata({str(k): str(v) for k, v in provenance.items()})
    with replaced_on_success(path) as temporary:
        pq.write_table(table, temporary)
    return table


def _to_table(df: pd.DataFrame, schema: pa.Schema, path: Path) -> pa.Table:
    missing = [name for name in schema.names if name not in df.columns]
    extra = [str(name) for name in df.columns if name not in schema.names]
    if missing or extra:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unexpected column(s) {', '.join(extra)}"] if extra else [])
        raise InputError(f"table does not match its schema: {'; '.join(parts)}", path=path)
    return pa.Table.from_arrays([_column(df, field, path) for field in schema], schema=schema)


def _column(df: pd.DataFrame, field: pa.Field, path: Path) -> pa.Array:
    try:
        array = pa.array(df[field.name], type=field.type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
        raise InputError(f"values do not fit type {field.type} ({err})", path=path,
                         column=field.name) from None
    if not field.nullable and array.null_count:
        first_null = int(array.is_null().to_numpy(zero_copy_only=False).argmax())
        raise InputError("null in a non-nullable column", path=path, row=first_null,
                         column=field.name)
    return array


def read_parquet(path: str | Path,
                 expected_schema: pa.Schema | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """(DataFrame, key-value metadata) of a Parquet file written by ``write_parquet``.

    Integer columns come back as pandas' nullable Int64. With ``expected_schema`` the file's
    columns and types must match it.
    """
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(f"cannot read Parquet ({err})", path=path) from None
    if expected_schema is not None and not table.schema.equals(expected_schema):
        raise InputError("columns/types differ from the expected schema: "
                         f"{_schema_difference(table.schema, expected_schema)}", path=path)
    metadata = {key.decode(): value.decode()
                for key, value in (table.schema.metadata or {}).items()}
    return _to_pandas(table), metadata


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    nullable_ints = {kind: pd.Int64Dtype() for kind in (pa.int8(), pa.int16(), pa.int32(),
                                                        pa.int64())}
    return table.to_pandas(types_mapper=nullable_ints.get)


def _schema_difference(found: pa.Schema, expected: pa.Schema) -> str:
    found_types = {field.name: field.type for field in found}
    differences = [f"{field.name}: expected {field.type}, found "
                   f"{found_types.get(field.name, 'nothing')}"
                   for field in expected if found_types.get(field.name) != field.type]
    differences += [f"{name}: not expected" for name in found.names if name not in expected.names]
    if not differences and found.names != expected.names:
        differences.append(f"column order {found.names}")
    return "; ".join(differences) or "field nullability"


def provenance_from_vcf_header(path: str | Path) -> dict[str, str]:
    """Tool versions from a VCF/BCF header: ``##<tool>Version=`` lines (bcftools_callVersion,
    oncoweave_classifyVersion ...) and ``##source=`` lines ('; '-joined), keys kept verbatim."""
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
    with _open_fasta(Path(fasta_path)) as fasta:
        proteins: dict[str, str] = {}
        rows = [{**fixed, **_site_row(site, annotated_vcf, contig_map, canonical_ids,
                                      by_position, fasta, proteins)}
                for site in sites]
    df = pd.DataFrame(rows, columns=VARIANTS_SCHEMA.names)
    provenance = {**provenance_from_vcf_header(annotated_vcf), **metadata}
    return _to_pandas(write_parquet(df, output_parquet, VARIANTS_SCHEMA, provenance))


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


@contextmanager
def _open_fasta(path: Path) -> Iterator[pysam.FastaFile]:
    try:
        fasta = pysam.FastaFile(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot open FASTA ({err})", path=path) from None
    with fasta:
        yield fasta


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


# ---------------------------------------------------------------------------------------------
# CLI

def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    values = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"{option} expects KEY=VALUE, got {item!r}")
        values[key] = value
    return values


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-variants", help="variants Parquet from a classified, csq-annotated VCF")
    parser.add_argument("--vcf", required=True, help="classify-variants output after bcftools csq")
    parser.add_argument("--output", required=True, help="Parquet file to write")
    parser.add_argument("--patient", required=True)
    parser.add_argument("--tumour", required=True, help="tumour sample name in the VCF")
    parser.add_argument("--normal", help="normal sample id (omit: tumour-only)")
    parser.add_argument("--fasta", required=True, help="reference FASTA that csq ran on (indexed)")
    parser.add_argument("--gff3", default=str(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"))
    parser.add_argument("--canonical",
                        default=str(BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv"))
    parser.add_argument("--contig-map", default="",
                        help="regions.tsv mapping contigs to GRCh38 (omit: contigs are "
                        "chromosomes)")
    parser.add_argument("--pair-identity", required=True, choices=PAIR_IDENTITY_VALUES)
    parser.add_argument("--purity", type=float)
    parser.add_argument("--metadata", action="append", metavar="KEY=VALUE",
                        help="extra provenance for the Parquet metadata (repeatable)")
    parser.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    df = export_variants(
        args.vcf, args.output, patient=args.patient, tumour_sample=args.tumour,
        normal_sample=args.normal, contig_map=ContigMap.from_tsv(args.contig_map),
        transcripts=canonical_models(args.gff3, args.canonical), fasta_path=args.fasta,
        pair_identity=args.pair_identity, purity=args.purity,
        metadata=parse_key_values(args.metadata, "--metadata"))
    print(f"{args.output}: {len(df)} variants, "
          f"{int(((df['status'] == 'somatic') & (df['filter'] == 'PASS')).sum())} somatic PASS")
    return 0
