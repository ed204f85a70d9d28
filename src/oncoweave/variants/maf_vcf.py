"""A MAF patient's published calls as a VCF on the reference, so they are classified, annotated
and scored as any VCF patient's: ``maf_to_vcf`` adds the VCF anchor base of indels from the FASTA,
AD/DP from the MAF's read counts and INFO/STATUS from its Mutation_Status."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError
from oncoweave.variants.maf_import import published_status, reference_bases

if TYPE_CHECKING:
    import pandas as pd

FORMAT_FIELDS = (("GT", 1, "String", "Genotype"),
                 ("AD", "R", "Integer", "Allelic depths (REF, ALT): MAF t_ref_count, t_alt_count"),
                 ("DP", 1, "Integer", "Read depth: MAF t_depth, else REF + ALT"))


@dataclass(frozen=True)
class MafVcfSummary:
    rows: int
    written: int
    outside_regions: int
    duplicates: int


def maf_to_vcf(rows: pd.DataFrame, out_vcf: str | Path, reference_fasta: str | Path,
               tumour_sample: str) -> MafVcfSummary:
    """Write one patient's MAF rows as a sorted, bgzipped, tabix-indexed VCF on the reference.

    The header is import_vcf's (every reference contig with its length, ##reference, the one
    sample ``tumour_sample``) plus FORMAT GT (0/1), AD (t_ref_count, t_alt_count) and DP
    (t_depth, else the sum of AD), left missing where the MAF has no counts. Indels get their
    VCF anchor base from the FASTA (insertion: the base at Start_Position; deletion: the base
    before it). INFO/STATUS is the call's :func:`published_status`, which the classification
    keeps (published calls are not re-filtered). Rows outside the regions are skipped; repeated
    calls are written once. ``rows`` come from :func:`read_maf` with the same ``reference_fasta``,
    which located them and checked their Reference_Allele; they are not checked again.
    """
    import numpy as np
    import pandas as pd
    import pysam

    from oncoweave.core.io import indexed_vcf_on_success
    from oncoweave.variants.inputs import imported_vcf_header

    barcodes = set(rows["Tumor_Sample_Barcode"])
    if len(barcodes) > 1:
        raise InputError(f"maf_to_vcf takes one tumour's rows; these have {len(barcodes)} "
                         f"Tumor_Sample_Barcodes ({', '.join(sorted(barcodes)[:3])} ...): give "
                         "each tumour its own patient", path=rows.attrs.get("path"))
    if "contig" not in rows:
        raise TypeError("maf_to_vcf takes rows of a read_maf table (they have no 'contig')")
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        references = dict(zip(fasta.references, fasta.lengths, strict=True))
        inside = rows[rows["contig"].notna()].reset_index(drop=True)
        anchors = reference_bases(fasta, inside["contig"].to_numpy(),
                                  inside["contig_pos"].to_numpy().astype("int64"),
                                  np.ones(len(inside), dtype="int64"))
    inside["vcf_ref"], inside["vcf_alt"] = _vcf_alleles(inside, anchors)
    inside["status"] = published_status(inside["Mutation_Status"] if "Mutation_Status" in inside
                                        else pd.Series("", index=inside.index))
    order = {name: rank for rank, name in enumerate(references)}
    inside["contig_rank"] = inside["contig"].map(order)
    inside = inside.sort_values(["contig_rank", "contig_pos", "vcf_ref", "vcf_alt"],
                                kind="stable")
    unique = inside.drop_duplicates(["contig", "contig_pos", "vcf_ref", "vcf_alt"])
    header = imported_vcf_header(pysam.VariantHeader(), references, [tumour_sample],
                                 reference_fasta)
    header.info.add("STATUS", 1, "String", "Status of the published call by its MAF "
                    "Mutation_Status: somatic, germline, loh or tumour_only")
    for key, number, kind, text in FORMAT_FIELDS:
        header.add_meta("FORMAT", items=[("ID", key), ("Number", number), ("Type", kind),
                                         ("Description", text)])
    with indexed_vcf_on_success(out_vcf) as temporary, \
            pysam.VariantFile(str(temporary), "wz", header=header) as sink:
        for row in unique.itertuples(index=False):
            sink.write(_record(sink, row, tumour_sample))
    return MafVcfSummary(rows=len(rows), written=len(unique),
                         outside_regions=len(rows) - len(inside),
                         duplicates=len(inside) - len(unique))


def _vcf_alleles(rows: pd.DataFrame, anchors: list[str]) -> tuple[list[str], list[str]]:
    """MAF -> VCF alleles: insertion REF '-' -> anchor, anchor+ALT; deletion ALT '-' likewise."""
    pairs = [(a, a + alt) if ref == "-" else (a + ref, a) if alt == "-" else (ref, alt)
             for ref, alt, a in zip(rows["Reference_Allele"], rows["Tumor_Seq_Allele2"], anchors)]
    return [ref for ref, _ in pairs], [alt for _, alt in pairs]


def _record(sink, row, sample: str):
    import pandas as pd

    record = sink.new_record(contig=row.contig, start=int(row.contig_pos) - 1,
                             alleles=(row.vcf_ref, row.vcf_alt), filter="PASS")
    record.info["STATUS"] = row.status
    call = record.samples[sample]
    call["GT"] = (0, 1)
    ref_count, alt_count, depth = (getattr(row, name, pd.NA)
                                   for name in ("t_ref_count", "t_alt_count", "t_depth"))
    if not pd.isna(ref_count) and not pd.isna(alt_count):
        call["AD"] = (int(ref_count), int(alt_count))
        if pd.isna(depth):
            depth = int(ref_count) + int(alt_count)
    if not pd.isna(depth):
        call["DP"] = int(depth)
    return record
