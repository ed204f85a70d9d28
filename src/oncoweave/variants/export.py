"""Writes the variants table: one row per classified, consequence-annotated variant of a tumour
sample.

``export_variants`` fills ``VARIANTS_SCHEMA`` (in :mod:`oncoweave.variants.schema`) from the
output of ``bcftools csq`` run on ``oncoweave classify-variants``' VCF: the records are read by
:mod:`.vcf_reading` in pieces, each piece's columns computed by :mod:`.export_columns` while the
next is read, and the Arrow columns written as they are. BCSQ parsing and HGVS p. are in
:mod:`.consequences`.
"""

from __future__ import annotations

from collections.abc import Mapping
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
