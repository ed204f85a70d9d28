"""MAF export: indel coordinates by the MAF convention, consequence classes, which rows go out."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from helpers import SHARED_DATA
from oncoweave.core.errors import InputError
from oncoweave.variants.maf import MAF_COLUMNS, maf_alleles, variants_to_maf, write_maf
from oncoweave.variants.schema import VARIANTS_SCHEMA

LAML_MAF = SHARED_DATA / "tcga_laml_maftools/tcga_laml.maf.gz"


def variant(pos: int, ref: str, alt: str, consequence: str | None = "missense", *,
            status: str = "somatic", filter: str = "PASS", **fields) -> dict:
    """One row of the variants table (TP53 on GRCh38 chr17), tumour 200x, normal 100x."""
    row = {name: None for name in VARIANTS_SCHEMA.names}
    row.update(patient="P1", sample="P1_T", normal_sample="P1_N", chrom="chr17", pos=pos,
               ref=ref, alt=alt, gene="TP53", transcript="ENST00000269305",
               consequence=consequence, hgvs_p="p.R175H", hgvs_c="c.524G>A", t_depth=200,
               t_alt=60, t_vaf=0.3, n_depth=100, n_alt=1, n_vaf=0.01, status=status,
               filter=filter)
    row.update(fields)
    return row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=VARIANTS_SCHEMA.names)


def test_snv_keeps_its_position():
    # TP53 R175H, chr17:7675088 C>T on GRCh38.
    assert maf_alleles(7675088, "C", "T") == (7675088, 7675088, "C", "T", "SNP")


def test_insertion_drops_the_anchor_and_flanks_the_new_bases():
    # VCF: after anchor C at 7675100 come new bases TT -> between 7675100 and 7675101.
    assert maf_alleles(7675100, "C", "CTT") == (7675100, 7675101, "-", "TT", "INS")


def test_deletion_spans_the_deleted_bases():
    # VCF: anchor C at 7675100, AG deleted at 7675101-7675102.
    assert maf_alleles(7675100, "CAG", "C") == (7675101, 7675102, "AG", "-", "DEL")


def test_multi_base_substitutions_are_dnp_and_onp():
    assert maf_alleles(500, "CC", "TT") == (500, 501, "CC", "TT", "DNP")
    assert maf_alleles(500, "CCGA", "TTCC") == (500, 503, "CCGA", "TTCC", "ONP")


@pytest.mark.parametrize("ref, alt, consequence, expected", [
    ("C", "T", "missense", "Missense_Mutation"),
    ("C", "T", "stop_gained&splice_region", "Nonsense_Mutation"),
    ("C", "T", "synonymous&splice_region", "Silent"),
    ("C", "T", "splice_region&intron", "Splice_Region"),
    ("C", "T", "splice_acceptor&intron", "Splice_Site"),
    ("C", "T", "start_lost", "Translation_Start_Site"),
    ("C", "T", "stop_lost", "Nonstop_Mutation"),
    ("C", "T", "5_prime_utr", "5'UTR"),
    ("C", "T", "3_prime_utr", "3'UTR"),
    ("C", "T", "intron", "Intron"),
    ("C", "T", None, "IGR"),
    ("CA", "C", "frameshift", "Frame_Shift_Del"),
    ("C", "CA", "frameshift&splice_region", "Frame_Shift_Ins"),
    ("CAGG", "C", "inframe_deletion", "In_Frame_Del"),
    ("C", "CAGG", "inframe_insertion", "In_Frame_Ins"),
    ("CAGG", "C", "inframe_altering", "In_Frame_Del"),
])
def test_consequences_map_to_maf_classes(ref, alt, consequence, expected):
    maf = variants_to_maf(frame(variant(1000, ref, alt, consequence)))
    assert maf["Variant_Classification"].tolist() == [expected]


def test_rows_columns_and_counts():
    variants = frame(
        variant(7675088, "C", "T", "missense", status="somatic"),
        variant(7675100, "C", "CTT", "frameshift", status="tumour_only", normal_sample=None,
                n_depth=None, n_alt=None, n_vaf=None, hgvs_p="p.A159fs"),
        variant(7676154, "G", "C", "missense", status="germline", t_alt=100, n_alt=50),
        variant(7676200, "G", "A", "missense", status="somatic", filter="low_alt_reads"),
        variant(7676300, "GA", "G", "frameshift", status="loh", t_alt=150, n_alt=45),
    )
    maf = variants_to_maf(variants)
    assert list(maf.columns) == MAF_COLUMNS
    assert maf["oncoweave_status"].tolist() == ["somatic", "tumour_only", "loh"]
    snv, insertion, deletion = (maf.iloc[i] for i in range(3))
    assert snv[["Hugo_Symbol", "Entrez_Gene_Id", "NCBI_Build", "Chromosome", "Strand"]].tolist() \
        == ["TP53", 7157, "GRCh38", "chr17", "+"]
    assert snv[["t_depth", "t_ref_count", "t_alt_count", "n_depth", "n_ref_count",
                "n_alt_count"]].tolist() == [200, 140, 60, 100, 99, 1]
    assert snv[["Tumor_Seq_Allele1", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode",
                "Matched_Norm_Sample_Barcode"]].tolist() == ["C", "T", "P1_T", "P1_N"]
    assert insertion[["Start_Position", "End_Position", "Reference_Allele",
                      "Tumor_Seq_Allele2"]].tolist() == [7675100, 7675101, "-", "TT"]
    assert insertion[["n_depth", "n_ref_count", "n_alt_count"]].isna().all()
    assert deletion[["Start_Position", "End_Position", "Reference_Allele", "Tumor_Seq_Allele2",
                     "Variant_Classification"]].tolist() == [7676301, 7676301, "A", "-",
                                                             "Frame_Shift_Del"]


def test_statuses_and_filter_are_parameters():
    variants = frame(variant(100, "C", "T", status="germline"),
                     variant(200, "C", "T", status="somatic", filter="strand_bias"),
                     variant(300, "C", "T", status="somatic", gene="MYC"))
    everything = variants_to_maf(variants, statuses=("somatic", "germline"), pass_only=False)
    assert everything["Start_Position"].tolist() == [100, 200, 300]
    assert everything["FILTER"].tolist() == ["PASS", "strand_bias", "PASS"]
    assert everything["Entrez_Gene_Id"].tolist() == [7157, 7157, 0]  # MYC is not in the table
    assert variants_to_maf(variants)["Start_Position"].tolist() == [300]


def test_unknown_consequence_term_names_the_variant():
    with pytest.raises(InputError, match=r"column 'consequence': P1_T chr17:100 C>T: unknown "
                                         r"consequence term\(s\) \['made_up'\]"):
        variants_to_maf(frame(variant(100, "C", "T", "missense&made_up")))


def test_written_maf_reads_back_with_empty_cells_for_missing(tmp_path):
    variants = frame(variant(7675088, "C", "T"),
                     variant(7675100, "C", "CTT", "frameshift", status="tumour_only",
                             normal_sample=None, n_depth=None, n_alt=None))
    path = tmp_path / "cohort.maf"
    write_maf(variants_to_maf(variants), path)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == MAF_COLUMNS
    tumour_only = dict(zip(MAF_COLUMNS, lines[2].split("\t")))
    assert (tumour_only["Matched_Norm_Sample_Barcode"], tumour_only["n_depth"]) == ("", "")
    assert [p.name for p in tmp_path.iterdir()] == ["cohort.maf"]


@pytest.mark.skipif(not LAML_MAF.exists(), reason="shared TCGA-LAML MAF absent")
def test_columns_and_classes_agree_with_a_real_tcga_maf():
    with gzip.open(LAML_MAF, "rt") as handle:
        laml = pd.read_csv(handle, sep="\t", low_memory=False)
    standard = [c for c in laml.columns if c.lower() in {m.lower() for m in MAF_COLUMNS}]
    # The 14 standard columns it has, in the same order as ours (it spells End_position).
    assert len(standard) == 14
    ours = [c.lower() for c in MAF_COLUMNS]
    assert [ours.index(c.lower()) for c in standard] == sorted(ours.index(c.lower())
                                                               for c in standard)
    # Every TCGA row, written back as an anchored VCF allele pair, converts to the same MAF
    # coordinates and alleles (the anchor base's identity does not matter: N).
    for row in laml.itertuples():
        start, end = row.Start_Position, row.End_position
        ref, alt = row.Reference_Allele, row.Tumor_Seq_Allele2
        if ref == "-":
            vcf = (start, "N", "N" + alt)
        elif alt == "-":
            vcf = (start - 1, "N" + ref, "N")
        else:  # SNPs, and one complex FLT3 substitution that the MAF calls DEL by net length
            vcf = (start, ref, alt)
        assert maf_alleles(*vcf) == (start, end, ref, alt, row.Variant_Type)
