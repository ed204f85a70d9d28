"""Import of published-cohort MAFs: validation with line numbers, the GRCh37 refusal, the split
into reference and TMB-only rows, MAF -> VCF alleles, and the round trip of the workflow's MAF."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

from helpers import SHARED_DATA, indexed_bundled_reference
from oncoweave.core.errors import InputError
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.variants.maf import variants_to_maf, write_maf
from oncoweave.variants.maf_import import (
    maf_barcodes,
    maf_patients,
    maf_tmb_counts,
    read_maf,
    split_maf,
)
from oncoweave.variants.maf_shards import read_shard_rows, write_shard_rows
from oncoweave.variants.maf_vcf import maf_to_vcf
from oncoweave.variants.schema import VARIANTS_SCHEMA

CONTIG_MAP = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")
LAML_MAF = SHARED_DATA / "tcga_laml_maftools/tcga_laml.maf.gz"
COLUMNS = ["Hugo_Symbol", "Chromosome", "Start_Position", "End_Position", "Reference_Allele",
           "Tumor_Seq_Allele2", "Tumor_Sample_Barcode", "Variant_Classification", "HGVSp_Short",
           "t_ref_count", "t_alt_count", "NCBI_Build"]


@pytest.fixture(scope="module")
def fasta_path(tmp_path_factory) -> Path:
    return indexed_bundled_reference(tmp_path_factory.mktemp("reference"))


def genomic_bases(fasta_path: Path, chrom: str, pos: int, length: int) -> str:
    contig, contig_pos = CONTIG_MAP.to_contig(chrom, pos)
    with pysam.FastaFile(str(fasta_path)) as fasta:
        return fasta.fetch(contig, contig_pos - 1, contig_pos - 1 + length).upper()


def maf_file(path: Path, rows: list[list], columns=COLUMNS, comments=("#version 2.4",)) -> Path:
    lines = list(comments) + ["\t".join(columns)]
    lines += ["\t".join(str(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def good_rows(fasta_path: Path) -> list[list]:
    deleted = genomic_bases(fasta_path, "chr17", 7675101, 2)
    return [
        ["TP53", "chr17", 7675088, 7675088, "C", "T", "S1", "Missense_Mutation", "p.R175H", 60,
         40, "GRCh38"],
        ["TP53", "17", 7675100, 7675101, "-", "TT", "S1", "Frame_Shift_Ins", "p.A159fs", 50, 10,
         "GRCh38"],
        ["TP53", "chr17", 7675101, 7675102, deleted, "-", "S2", "Frame_Shift_Del", "", "", "",
         "38"],
        ["KRAS", "chr12", 25245350, 25245350, "C", "T", "S2", "Missense_Mutation", "p.G12D", 70,
         30, "GRCh38"],
        ["TTN", "2", 178527000, 178527000, "G", "A", "S2", "Silent", "p.P100=", 80, 20,
         "GRCh38"],
    ]


def test_good_rows_are_parsed_with_their_lines(tmp_path, fasta_path):
    rows = read_maf(maf_file(tmp_path / "c.maf", good_rows(fasta_path)), fasta_path, CONTIG_MAP)
    assert rows["line"].tolist() == [3, 4, 5, 6, 7]  # after '#version' and the header
    assert rows["chrom"].tolist() == ["chr17", "chr17", "chr17", "chr12", "chr2"]
    assert rows["variant_type"].tolist() == ["SNP", "INS", "DEL", "SNP", "SNP"]
    assert rows["contig"].tolist()[:3] == ["chr17_TP53"] * 3
    assert rows["contig"].isna().tolist() == [False, False, False, True, True]
    # R175H at chr17:7675088 = chr17_TP53:35088; the deletion's VCF record starts at its anchor.
    assert rows["contig_pos"].tolist()[:3] == [35088, 35100, 35100]
    assert rows["t_alt_count"].tolist()[:2] == [40, 10] and rows["t_alt_count"].isna()[2]
    assert rows["patient"].tolist() == ["S1", "S1", "S2", "S2", "S2"]


def test_gzipped_maf_without_comments_reads_the_same(tmp_path, fasta_path):
    plain = maf_file(tmp_path / "c.maf", good_rows(fasta_path), comments=())
    packed = tmp_path / "c.maf.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    rows = read_maf(packed, fasta_path, CONTIG_MAP)
    assert rows["line"].tolist() == [2, 3, 4, 5, 6]
    assert rows["Start_Position"].tolist() == [7675088, 7675100, 7675101, 25245350, 178527000]


@pytest.mark.parametrize("change, line, message", [
    (lambda rows: rows[3].__setitem__(1, "chrUn_KI270302v1"), 6,
     r"Chromosome 'chrUn_KI270302v1' is not a human chromosome"),
    (lambda rows: rows[1].__setitem__(2, "7675100.5"), 4,
     r"Start_Position '7675100.5' is not a positive integer"),
    (lambda rows: rows[4].__setitem__(2, 999_999_999), 7, r"beyond the end of chromosome 2"),
    (lambda rows: rows[0].__setitem__(5, "TN"), 3, r"Tumor_Seq_Allele2 'TN' is not a DNA allele"),
    (lambda rows: rows[2].__setitem__(4, ""), 5, r"Reference_Allele is empty"),
    (lambda rows: rows[0].__setitem__(4, "G"), 3,
     (r"Reference_Allele 'G' at chr17:7675088 but the reference has 'C' there "
      r"\(chr17_TP53:35088\); the MAF is likely on another genome build")),
    (lambda rows: rows[3].__setitem__(9, "many"), 6, r"t_ref_count 'many' is not a non-negative"),
    (lambda rows: rows[2].__setitem__(9, 2_147_483_000), 5,
     r"t_ref_count 2147483000 is above 10,000,000 reads, more than any sequencing gives: the "
     r"value is corrupt$"),
])
def test_each_bad_row_names_file_and_line(tmp_path, fasta_path, change, line, message):
    rows = good_rows(fasta_path)
    change(rows)
    path = maf_file(tmp_path / "bad.maf", rows)
    with pytest.raises(InputError, match=message) as caught:
        read_maf(path, fasta_path, CONTIG_MAP)
    assert str(caught.value).startswith(f"{path}: line {line}: ")
    assert caught.value.row == line


def test_first_bad_line_is_named_and_the_rest_counted(tmp_path, fasta_path):
    rows = good_rows(fasta_path)
    rows[2][1], rows[4][1] = "chr99", "chr23"
    with pytest.raises(InputError, match=r"line 5: Chromosome 'chr99' .* \(1 more bad row"):
        read_maf(maf_file(tmp_path / "bad.maf", rows), fasta_path, CONTIG_MAP)


def test_missing_required_columns_are_named_on_the_header_line(tmp_path, fasta_path):
    columns = [c for c in COLUMNS if c not in ("Tumor_Sample_Barcode", "Reference_Allele")]
    rows = [[v for c, v in zip(COLUMNS, row) if c in columns] for row in good_rows(fasta_path)]
    path = maf_file(tmp_path / "bad.maf", rows, columns=columns)
    with pytest.raises(InputError, match=r"line 2: missing required MAF column\(s\) "
                                         r"Reference_Allele, Tumor_Sample_Barcode"):
        read_maf(path, fasta_path, CONTIG_MAP)


def test_ragged_row_is_named(tmp_path, fasta_path):
    path = maf_file(tmp_path / "bad.maf", good_rows(fasta_path))
    path.write_text(path.read_text() + "TP53\tchr17\t1\n")
    with pytest.raises(InputError, match=r"line 8: has 3 tab-separated fields but the header "
                                         r"has 12"):
        read_maf(path, fasta_path, CONTIG_MAP)


@pytest.mark.parametrize("build", ["37", "GRCh37", "hg19"])
def test_grch37_maf_is_refused_with_the_fix(tmp_path, fasta_path, build):
    rows = good_rows(fasta_path)
    rows[1][-1] = build
    with pytest.raises(InputError, match=rf"line 4: NCBI_Build is '{build}': this MAF is on "
                                         r"GRCh37/hg19.*lift it over to GRCh38 .*chain"):
        read_maf(maf_file(tmp_path / "b37.maf", rows), fasta_path, CONTIG_MAP)


@pytest.mark.skipif(not LAML_MAF.exists(), reason="shared TCGA-LAML MAF absent")
def test_the_real_tcga_laml_maf_is_grch37_and_refused(tmp_path, fasta_path):
    with gzip.open(LAML_MAF, "rt") as handle:
        head = [next(handle) for _ in range(6)]
    path = tmp_path / "laml_head.maf"
    path.write_text("".join(head))
    with pytest.raises(InputError, match=r"line 2: NCBI_Build is '37': this MAF is on GRCh37"):
        read_maf(path, fasta_path, CONTIG_MAP)
    # Its End_position (lower-case p) is recognised; told it is GRCh38, its rows parse.
    path.write_text("".join(head).replace("\t37\t", "\tGRCh38\t"))
    rows = read_maf(path, None, CONTIG_MAP)
    assert len(rows) == 5 and rows["End_Position"].notna().all()
    assert rows["Tumor_Sample_Barcode"].str.startswith("TCGA-AB-").all()


@pytest.mark.skipif(not LAML_MAF.exists(), reason="shared TCGA-LAML MAF absent")
def test_a_grch37_maf_without_its_build_column_is_refused_by_its_driver_positions(tmp_path,
                                                                                 fasta_path):
    import pandas as pd

    maf = pd.read_csv(LAML_MAF, sep="\t", dtype=str, keep_default_na=False)
    path = tmp_path / "laml_no_build.maf"
    maf.drop(columns="NCBI_Build").to_csv(path, sep="\t", index=False)
    drivers = maf["Hugo_Symbol"].isin(["TP53", "BRCA1", "BRCA2", "EGFR"])
    first = maf.index[drivers][0]
    with pytest.raises(InputError) as caught:
        read_maf(path, fasta_path, CONTIG_MAP)
    # Every one of its driver-gene rows lies at a GRCh37 position (LAML's EGFR rows are past the
    # gene's GRCh38 end); the build is named before its chromosome-23 rows are.
    assert str(caught.value) == (
        f"{path}: line {first + 2}: {maf.at[first, 'Hugo_Symbol']} at "
        f"{maf.at[first, 'Chromosome']}:{int(maf.at[first, 'Start_Position']):,} lies in the "
        f"gene's GRCh37/hg19 span, not its GRCh38 one, and so do {int(drivers.sum()):,} of the "
        f"MAF's {int(drivers.sum()):,} TP53/BRCA1/BRCA2/EGFR rows: the MAF is on GRCh37/hg19 "
        "although it "
        "has no NCBI_Build; lift it over to GRCh38 before use (e.g. CrossMap or Picard "
        "LiftoverVcf with the UCSC hg19ToHg38.over.chain.gz chain) and set NCBI_Build to GRCh38")


def test_a_few_driver_rows_at_grch37_positions_do_not_refuse_a_grch38_maf(tmp_path, fasta_path):
    rows = good_rows(fasta_path)
    stray = list(rows[0])
    stray[COLUMNS.index("Hugo_Symbol")], stray[COLUMNS.index("Chromosome")] = "TP53", "17"
    stray[COLUMNS.index("Start_Position")] = stray[COLUMNS.index("End_Position")] = "7577538"
    tp53 = [row for row in rows if row[COLUMNS.index("Hugo_Symbol")] == "TP53"]
    assert tp53, "the good rows hold TP53 rows at GRCh38 positions"
    mixed = rows + [stray] * (len(tp53) - 1)  # fewer than half at GRCh37 positions
    assert len(read_maf(maf_file(tmp_path / "m.maf", mixed), None, CONTIG_MAP)) == len(mixed)


def test_rows_outside_the_regions_are_kept_and_count_for_tmb(tmp_path, fasta_path):
    rows = read_maf(maf_file(tmp_path / "c.maf", good_rows(fasta_path)), fasta_path, CONTIG_MAP)
    inside, outside = split_maf(rows)
    assert inside["Hugo_Symbol"].tolist() == ["TP53"] * 3
    assert outside["Hugo_Symbol"].tolist() == ["KRAS", "TTN"]
    counts = maf_tmb_counts(rows)
    assert counts.loc["S1", ["Missense_Mutation", "Frame_Shift_Ins", "total"]].tolist() == [1, 1, 2]
    # S2: the TP53 deletion, KRAS G12D and the TTN silent change count (synonymous included,
    # as the workflow's TMB counts them).
    assert counts.loc["S2", ["Frame_Shift_Del", "Silent", "total"]].tolist() == [1, 1, 3]
    assert maf_tmb_counts(outside).loc["S2", "total"] == 2


def test_germline_rows_do_not_count_for_tmb(tmp_path, fasta_path):
    columns = COLUMNS + ["Mutation_Status"]
    rows = [row + [status] for row, status in
            zip(good_rows(fasta_path), ["Somatic", "Germline", "Somatic", "", "Somatic"])]
    counts = maf_tmb_counts(read_maf(maf_file(tmp_path / "c.maf", rows, columns), fasta_path,
                                     CONTIG_MAP))
    assert counts["total"].to_dict() == {"S1": 1, "S2": 3}


def test_barcodes_map_to_patients_through_the_sample_sheet(tmp_path, fasta_path):
    path = maf_file(tmp_path / "c.maf", good_rows(fasta_path))
    rows = read_maf(path, fasta_path, CONTIG_MAP, patients={"S1": "P1", "S2": "P2"})
    assert rows["patient"].tolist() == ["P1", "P1", "P2", "P2", "P2"]
    with pytest.raises(InputError, match=r"line 5: Tumor_Sample_Barcode 'S2' is in no "
                                         r"sample-sheet row"):
        maf_patients(rows, {"S1": "P1"}, path)


def vcf_records(path: Path) -> list[tuple]:
    with pysam.VariantFile(str(path)) as vcf:
        return [(r.contig, r.pos, r.ref, r.alts[0], r.samples[0].get("AD"),
                 r.samples[0].get("DP")) for r in vcf]


def test_maf_to_vcf_adds_anchor_bases_and_counts(tmp_path, fasta_path):
    rows = read_maf(maf_file(tmp_path / "c.maf", good_rows(fasta_path)), fasta_path, CONTIG_MAP)
    s1 = rows[rows["patient"] == "S1"]
    out = tmp_path / "S1.vcf.gz"
    summary = maf_to_vcf(s1, out, fasta_path, "S1-T")
    assert (summary.written, summary.outside_regions) == (2, 0)
    anchor = genomic_bases(fasta_path, "chr17", 7675100, 1)
    assert vcf_records(out) == [("chr17_TP53", 35088, "C", "T", (60, 40), 100),
                                ("chr17_TP53", 35100, anchor, anchor + "TT", (50, 10), 60)]
    assert Path(f"{out}.tbi").exists()
    with pysam.VariantFile(str(out)) as vcf, pysam.FastaFile(str(fasta_path)) as fasta:
        assert list(vcf.header.samples) == ["S1-T"]
        assert dict(vcf.header.contigs.items()).keys() == set(fasta.references)
    s2 = rows[rows["patient"] == "S2"]
    summary = maf_to_vcf(s2, tmp_path / "S2.vcf.gz", fasta_path, "S2-T")
    assert (summary.written, summary.outside_regions) == (1, 2)
    deleted = genomic_bases(fasta_path, "chr17", 7675100, 3)  # anchor + the 2 deleted bases
    assert vcf_records(tmp_path / "S2.vcf.gz") == [("chr17_TP53", 35100, deleted, deleted[0],
                                                    None, None)]


def test_workflow_maf_round_trips_to_the_same_calls(tmp_path, fasta_path):
    import pandas as pd

    def variant(pos, ref, alt, consequence):
        row = {name: None for name in VARIANTS_SCHEMA.names}
        row.update(patient="P1", sample="P1_T", normal_sample="P1_N", chrom="chr17", pos=pos,
                   ref=ref, alt=alt, gene="TP53", consequence=consequence, t_depth=200,
                   t_alt=60, n_depth=100, n_alt=0, status="somatic", filter="PASS")
        return row

    def base(pos, n=1):
        return genomic_bases(fasta_path, "chr17", pos, n)

    # Normalised (bcftools norm) alleles: inserted bases unlike their neighbours, a deletion
    # whose last base differs from its anchor, as the workflow's calls are.
    inserted = next(b for b in "ACGT" if b not in base(7675100, 2)) * 2
    deletion_pos = next(p for p in range(7676300, 7676400) if base(p) != base(p + 2))
    calls = [(7673802, "C", "T", "missense"),  # R273H
             (7675088, "C", "T", "missense"),  # R175H
             (7675100, base(7675100), base(7675100) + inserted, "frameshift"),
             (deletion_pos, base(deletion_pos, 3), base(deletion_pos), "frameshift")]
    variants = pd.DataFrame([variant(*call) for call in calls], columns=VARIANTS_SCHEMA.names)
    write_maf(variants_to_maf(variants), tmp_path / "variants.maf")
    rows = read_maf(tmp_path / "variants.maf", fasta_path, CONTIG_MAP)
    assert rows["Tumor_Sample_Barcode"].unique().tolist() == ["P1_T"]
    maf_to_vcf(rows, tmp_path / "P1.vcf.gz", fasta_path, "P1_T")
    back = [(*CONTIG_MAP.to_genomic(contig, pos), ref, alt)
            for contig, pos, ref, alt, ad, _ in vcf_records(tmp_path / "P1.vcf.gz")]
    assert back == [("chr17", pos, ref, alt) for pos, ref, alt, _ in calls]
    assert [ad for *_, ad, _ in vcf_records(tmp_path / "P1.vcf.gz")] == [(140, 60)] * 4


def test_barcodes_are_read_for_planning_in_file_order(tmp_path, fasta_path):
    path = maf_file(tmp_path / "c.maf", good_rows(fasta_path))
    assert maf_barcodes(path) == ["S1", "S2"]
    with pytest.raises(InputError, match=r"line 2: missing required MAF column "
                                         r"Tumor_Sample_Barcode"):
        maf_barcodes(maf_file(tmp_path / "bad.maf", [], columns=["Hugo_Symbol", "Chromosome"]))


def test_published_calls_keep_their_status_and_pass_whatever_their_depth(tmp_path, fasta_path):
    from oncoweave.variants.classify import CallingThresholds, classify_vcf

    columns = COLUMNS + ["Mutation_Status"]
    rows = [row + [status] for row, status in
            zip(good_rows(fasta_path), ["Somatic", "Germline", "", "", ""])]
    table = read_maf(maf_file(tmp_path / "c.maf", rows, columns), fasta_path, CONTIG_MAP)
    for patient, expected in (("S1", [("somatic", 0.4), ("germline", 0.1667)]),
                              ("S2", [("somatic", None)])):  # S2's deletion has no counts
        imported, classified = tmp_path / f"{patient}.in.vcf.gz", tmp_path / f"{patient}.vcf.gz"
        maf_to_vcf(table[table["patient"] == patient], imported, fasta_path, patient)
        summary = classify_vcf(imported, classified, patient, None, CallingThresholds(),
                               published=True)
        assert summary["records_out"] == len(expected) and summary["dropped_noise"] == 0
        with pysam.VariantFile(str(classified)) as vcf:
            got = [(r.info["STATUS"], r.info.get("T_VAF"), list(r.filter)) for r in vcf]
        got = [(status, vaf if vaf is None else round(vaf, 4), f) for status, vaf, f in got]
        assert got == [(status, vaf, ["PASS"]) for status, vaf in expected]
    # Classified from its read counts instead, S2's deletion (no counts) would be dropped.
    summary = classify_vcf(tmp_path / "S2.in.vcf.gz", tmp_path / "S2.counts.vcf.gz", "S2", None,
                           CallingThresholds())
    assert summary["records_out"] == 0 and summary["dropped_noise"] == 1


def test_shard_rows_are_written_per_shard_and_read_back(tmp_path, fasta_path):
    table = read_maf(maf_file(tmp_path / "c.maf", good_rows(fasta_path)), fasta_path, CONTIG_MAP)
    outputs = [str(tmp_path / "s000.parquet"), str(tmp_path / "s001.parquet")]
    write_shard_rows(table, {"S1": "s001", "S2": "s001"}, outputs)
    assert len(read_shard_rows(outputs[0], "c.maf")) == 0
    back = read_shard_rows(outputs[1], "c.maf")
    assert back.attrs["path"] == "c.maf"
    assert back[["line", "patient", "contig_pos"]].astype(str).values.tolist() == \
        table[["line", "patient", "contig_pos"]].astype(str).values.tolist()
