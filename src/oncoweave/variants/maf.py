"""MAF export of the variants table, for maftools and cBioPortal.

Columns follow the GDC MAF specification's order (the subset a caller-side MAF can fill), then
oncoweave's own: ``oncoweave_status`` and ``FILTER``. Alleles and coordinates use the MAF indel
convention: no VCF anchor base; an insertion has Reference_Allele ``-`` and Start/End on the two
reference bases around it; a deletion has Tumor_Seq_Allele2 ``-`` and spans the deleted bases.

pandas is imported where used: the command line takes DEFAULT_MAF_STATUSES from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError
from oncoweave.core.io import write_tsv
from oncoweave.genome.sequence import trim_alleles
from oncoweave.variants.statuses import STATUSES, TUMOUR_STATUSES

if TYPE_CHECKING:
    import pandas as pd

MAF_COLUMNS = [
    "Hugo_Symbol", "Entrez_Gene_Id", "Center", "NCBI_Build", "Chromosome", "Start_Position",
    "End_Position", "Strand", "Variant_Classification", "Variant_Type", "Reference_Allele",
    "Tumor_Seq_Allele1", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode",
    "Matched_Norm_Sample_Barcode", "HGVSc", "HGVSp_Short", "Transcript_ID", "t_depth",
    "t_ref_count", "t_alt_count", "n_depth", "n_ref_count", "n_alt_count", "oncoweave_status",
    "FILTER",
]

ENTREZ_GENE_IDS = {"TP53": 7157, "BRCA1": 672, "BRCA2": 675, "EGFR": 1956}

VARIANT_STATUSES = STATUSES
# cBioPortal drops germline rows; loh and tumour_only calls are tumour alterations it shows.
DEFAULT_MAF_STATUSES = TUMOUR_STATUSES

# bcftools csq terms from most to least severe (Ensembl's ranking, as vcf2maf applies it), each
# with its MAF class; a compound consequence ("missense&splice_region") takes its most severe
# term. None means "depends on the indel direction" (Frame_Shift_/In_Frame_ Del or Ins).
CSQ_TO_MAF_CLASS = {
    "splice_acceptor": "Splice_Site",
    "splice_donor": "Splice_Site",
    "stop_gained": "Nonsense_Mutation",
    "frameshift": None,
    "stop_lost": "Nonstop_Mutation",
    "start_lost": "Translation_Start_Site",
    "inframe_insertion": "In_Frame_Ins",
    "inframe_deletion": "In_Frame_Del",
    "inframe_altering": None,
    "missense": "Missense_Mutation",
    "synonymous": "Silent",
    "stop_retained": "Silent",
    "start_retained": "Silent",
    "splice_region": "Splice_Region",
    "coding_sequence": "Missense_Mutation",
    "5_prime_utr": "5'UTR",
    "3_prime_utr": "3'UTR",
    "non_coding": "RNA",
    "intron": "Intron",
    "feature_elongation": "Targeted_Region",
    "intergenic": "IGR",
}
CSQ_SEVERITY = {term: rank for rank, term in enumerate(CSQ_TO_MAF_CLASS)}
# The variants table leaves the consequence null only outside every gene: intergenic.
NO_CONSEQUENCE_CLASS = "IGR"


def variants_to_maf(variants: pd.DataFrame, *, statuses=DEFAULT_MAF_STATUSES,
                    pass_only: bool = True, center: str = ".") -> pd.DataFrame:
    """MAF rows for the calls with a status in ``statuses`` (and FILTER PASS if ``pass_only``).

    ``t_ref_count`` is ``t_depth - t_alt`` (reads supporting neither allele, if any, count as
    reference); tumour-only rows leave the normal columns empty.
    """
    import pandas as pd

    unknown = sorted(set(statuses) - set(VARIANT_STATUSES))
    if unknown:
        raise InputError(f"unknown status(es) {unknown}; choose from {', '.join(VARIANT_STATUSES)}")
    keep = variants["status"].isin(statuses)
    if pass_only:
        keep &= variants["filter"] == "PASS"
    selected = variants[keep].reset_index(drop=True)
    alleles = pd.DataFrame([maf_alleles(int(pos), ref, alt) for pos, ref, alt in
                            zip(selected["pos"], selected["ref"], selected["alt"])],
                           columns=["Start_Position", "End_Position", "Reference_Allele",
                                    "Tumor_Seq_Allele2", "Variant_Type"]
                           ).astype({"Start_Position": "int64", "End_Position": "int64"})
    classes = [_classify_row(row, variant_type)
               for row, variant_type in zip(selected.itertuples(), alleles["Variant_Type"])]
    maf = pd.DataFrame({
        "Hugo_Symbol": selected["gene"].fillna("Unknown"),
        "Entrez_Gene_Id": selected["gene"].map(ENTREZ_GENE_IDS).fillna(0).astype("int64"),
        "Center": center,
        "NCBI_Build": "GRCh38",
        "Chromosome": selected["chrom"],
        "Start_Position": alleles["Start_Position"],
        "End_Position": alleles["End_Position"],
        "Strand": "+",
        "Variant_Classification": classes,
        "Variant_Type": alleles["Variant_Type"],
        "Reference_Allele": alleles["Reference_Allele"],
        # GDC practice for somatic calls: allele 1 is the reference, allele 2 the variant.
        "Tumor_Seq_Allele1": alleles["Reference_Allele"],
        "Tumor_Seq_Allele2": alleles["Tumor_Seq_Allele2"],
        "Tumor_Sample_Barcode": selected["sample"],
        "Matched_Norm_Sample_Barcode": selected["normal_sample"],
        "HGVSc": selected["hgvs_c"],
        "HGVSp_Short": selected["hgvs_p"],
        "Transcript_ID": selected["transcript"],
        "t_depth": selected["t_depth"].astype("Int64"),
        "t_ref_count": (selected["t_depth"] - selected["t_alt"]).astype("Int64"),
        "t_alt_count": selected["t_alt"].astype("Int64"),
        "n_depth": selected["n_depth"].astype("Int64"),
        "n_ref_count": (selected["n_depth"] - selected["n_alt"]).astype("Int64"),
        "n_alt_count": selected["n_alt"].astype("Int64"),
        "oncoweave_status": selected["status"],
        "FILTER": selected["filter"],
    })
    return maf[MAF_COLUMNS]


def maf_alleles(pos: int, ref: str, alt: str) -> tuple[int, int, str, str, str]:
    """VCF (pos, ref, alt) -> MAF (start, end, reference allele, tumour allele, variant type)."""
    trimmed_pos, trimmed_ref, trimmed_alt = trim_alleles(pos, ref, alt)
    if not trimmed_ref:  # insertion between trimmed_pos - 1 and trimmed_pos
        return trimmed_pos - 1, trimmed_pos, "-", trimmed_alt, "INS"
    end = trimmed_pos + len(trimmed_ref) - 1
    if not trimmed_alt:
        return trimmed_pos, end, trimmed_ref, "-", "DEL"
    if len(trimmed_ref) == len(trimmed_alt):
        variant_type = {1: "SNP", 2: "DNP", 3: "TNP"}.get(len(trimmed_ref), "ONP")
    else:  # complex substitution: named by its net effect, as vcf2maf does
        variant_type = "INS" if len(trimmed_alt) > len(trimmed_ref) else "DEL"
    return trimmed_pos, end, trimmed_ref, trimmed_alt, variant_type


def _classify_row(row, variant_type: str) -> str:
    try:
        return variant_classification(row.consequence, variant_type)
    except ValueError as err:
        raise InputError(f"{row.sample} {row.chrom}:{row.pos} {row.ref}>{row.alt}: {err}",
                         column="consequence") from None


def variant_classification(consequence: str | None, variant_type: str) -> str:
    """MAF Variant_Classification of the most severe bcftools csq term in ``consequence``.

    Raises ValueError on a term bcftools csq does not write (an upstream change to catch early).
    """
    import pandas as pd

    if consequence is None or pd.isna(consequence) or consequence == "":
        return NO_CONSEQUENCE_CLASS
    # csq marks a consequence downstream of a stop on the same haplotype with '*'; with
    # unphased calls that link is a guess, so the term itself decides the class.
    terms = [term.lstrip("*") for term in consequence.split("&")]
    unknown = [term for term in terms if term not in CSQ_SEVERITY]
    if unknown:
        raise ValueError(f"unknown consequence term(s) {unknown} in {consequence!r}")
    most_severe = min(terms, key=CSQ_SEVERITY.__getitem__)
    maf_class = CSQ_TO_MAF_CLASS[most_severe]
    if maf_class is not None:
        return maf_class
    if variant_type not in ("INS", "DEL"):  # an in-frame multi-base substitution
        return "Missense_Mutation"
    direction = "Ins" if variant_type == "INS" else "Del"
    return f"Frame_Shift_{direction}" if most_severe == "frameshift" else f"In_Frame_{direction}"


def write_maf(maf: pd.DataFrame, path: str | Path) -> None:
    """Tab-separated MAF, empty cells for missing values (what maftools and cBioPortal read)."""
    write_tsv(maf, path, na_rep="")
