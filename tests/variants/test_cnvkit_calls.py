"""CNVkit's tables -> the per-gene copy-number schema, and CNVkit end to end on synthetic BAMs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR
from oncoweave.variants.cnvkit_calls import (
    CNVKIT_SEGMENT_SCHEMA,
    CnvkitSettings,
    call_patient,
    gene_copy_number,
    read_cnvkit_table,
    segment_rows,
    settings_of,
)
from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA, merge_copy_number

CNR_HEADER = "chromosome\tstart\tend\tgene\tdepth\tlog2\tweight\n"
CNS_HEADER = "chromosome\tstart\tend\tgene\tlog2\tbaf\tcn\tcn1\tcn2\tprobes\n"


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "".join(f"{row}\n" for row in rows))
    return path


def bins_of(chrom: str, gene: str, first: int, n: int, size: int = 100) -> list[str]:
    return [f"{chrom}\t{first + i * size}\t{first + (i + 1) * size}\t{gene}\t100\t0\t1"
            for i in range(n)]


@pytest.fixture
def cnvkit_files(tmp_path):
    """Four genes: EGFR at 8 copies, BRCA2 one copy (minor 0), BRCA1 copy-neutral LOH, TP53
    neutral but for a 2-bin homozygous deletion; MYC binned but in no segment."""
    cnr = write(tmp_path / "t.cnr", CNR_HEADER,
                bins_of("chr7", "EGFR", 1000, 10) + bins_of("chr13", "BRCA2", 1000, 10)
                + bins_of("chr17", "BRCA1", 1000, 6) + bins_of("chr17", "TP53", 5000, 8)
                + bins_of("chr8", "MYC", 1000, 3) + bins_of("chr8", "-", 2000, 2))
    cns = write(tmp_path / "t.cns", CNS_HEADER, [
        "chr7\t1000\t2000\tEGFR\t1.49\t0.5\t8\t4\t4\t10",
        "chr13\t1000\t1800\tBRCA2\t-0.51\t1.0\t1\t1\t0\t8",
        "chr13\t1800\t2000\tBRCA2\t0.02\t0.5\t2\t1\t1\t2",
        "chr17\t1000\t1600\tBRCA1\t0.01\t0.98\t2\t2\t0\t6",
        "chr17\t5000\t5600\tTP53\t0.0\t0.5\t2\t1\t1\t6",
        "chr17\t5600\t5800\tTP53\t-1.8\t\t0\t\t\t2",
    ])
    return cnr, cns


def test_cnvkit_tables_become_the_per_gene_schema(cnvkit_files):
    cnr, cns = cnvkit_files
    bins = read_cnvkit_table(cnr, ("chromosome", "start", "end", "gene", "log2"))
    segments = read_cnvkit_table(cns, ("chromosome", "start", "end", "log2"))
    genes = gene_copy_number(bins, segments, "P1", "P1-T", purity_known=True)
    assert list(genes.columns) == COPY_NUMBER_SCHEMA.names
    table = genes.set_index("gene")
    assert sorted(table.index) == ["BRCA1", "BRCA2", "EGFR", "TP53"]  # MYC: in no segment
    assert table.loc["EGFR", ["call", "total_copy_number", "minor_copy_number"]].tolist() == [
        "amplification", 8, 4]
    # BRCA2: the segment of most bins (8 of 10) gives the copy numbers; log2 is bin-weighted.
    assert table.loc["BRCA2", ["call", "total_copy_number", "minor_copy_number"]].tolist() == [
        "loss", 1, 0]
    assert table.loc["BRCA2", "log2_ratio"] == pytest.approx((8 * -0.51 + 2 * 0.02) / 10)
    assert table.loc["BRCA1", ["call", "total_copy_number", "minor_copy_number"]].tolist() == [
        "loh", 2, 0]
    # A segment of 0 copies in 2 of TP53's 8 bins: the gene is deleted (minor unknown there).
    assert table.loc["TP53", "call"] == "deep_deletion"
    assert table.loc["TP53", "total_copy_number"] == 0
    assert pd.isna(table.loc["TP53", "minor_copy_number"])
    assert set(genes["source"]) == {"cnvkit"}


def test_without_purity_the_log2_cut_offs_call_and_copy_numbers_stay_null(cnvkit_files):
    cnr, cns = cnvkit_files
    bins = read_cnvkit_table(cnr, ("chromosome", "start", "end", "gene", "log2"))
    segments = read_cnvkit_table(cns, ("chromosome", "start", "end", "log2"))
    table = gene_copy_number(bins, segments, "P1", "P1-T", purity_known=False).set_index("gene")
    assert table["call"].to_dict() == {"BRCA1": "neutral", "BRCA2": "loss",
                                       "EGFR": "amplification", "TP53": "deep_deletion"}
    assert table["total_copy_number"].isna().all() and table["minor_copy_number"].isna().all()


def test_segment_rows_follow_their_schema(cnvkit_files):
    _, cns = cnvkit_files
    segments = read_cnvkit_table(cns, ("chromosome", "start", "end", "log2"))
    rows = segment_rows(segments, "P1", "P1-T", purity_known=True)
    assert list(rows.columns) == CNVKIT_SEGMENT_SCHEMA.names
    assert rows["minor_copy_number"].tolist()[:4] == [4, 0, 1, 0]
    assert pd.isna(rows["minor_copy_number"].iat[5]) and rows["bins"].sum() == 34


@pytest.mark.parametrize("rows, message", [
    (["chr7\t1000\t2000\tEGFR\tx\t1"], "line 2, column 'log2': 'x' is not a number"),
    (["chr7\t1000\t2000\tEGFR\t0.1\t1", "chr7\t3000\t2000\tEGFR\t0.1\t1"],
     "line 3, column 'end': end 2000 is not after start 3000"),
])
def test_a_bad_cnvkit_table_names_file_line_and_column(tmp_path, rows, message):
    path = write(tmp_path / "bad.cns", "chromosome\tstart\tend\tgene\tlog2\tprobes\n", rows)
    with pytest.raises(InputError, match=message) as raised:
        read_cnvkit_table(path, ("chromosome", "start", "end", "log2"))
    assert "bad.cns" in str(raised.value)
    with pytest.raises(InputError, match="missing column"):
        read_cnvkit_table(path, ("chromosome", "cn"))


def test_cnvkit_rows_take_precedence_over_the_published_table():
    def rows(patient, call, source):
        return pd.DataFrame({"patient": [patient], "sample": [f"{patient}-T"], "gene": ["EGFR"],
                             "log2_ratio": [np.nan],
                             "total_copy_number": pd.array([pd.NA], dtype="Int64"),
                             "minor_copy_number": pd.array([pd.NA], dtype="Int64"),
                             "call": [call], "source": [source]})

    published = pd.concat([rows("P1", "neutral", "gistic"), rows("P2", "gain", "gistic")])
    merged = merge_copy_number([rows("P1", "amplification", "cnvkit")], published)
    assert merged[["patient", "call", "source"]].values.tolist() == [
        ["P1", "amplification", "cnvkit"], ["P2", "gain", "gistic"]]
    assert merge_copy_number([], None).empty


def test_settings_check_their_keys():
    assert settings_of({"enabled": True, "bin_size": 150}, 30) == CnvkitSettings(
        bin_size=150, min_mapping_quality=30)
    with pytest.raises(InputError, match="unknown key"):
        settings_of({"binsize": 150}, 20)
    with pytest.raises(InputError, match="cbs needs R"):
        CnvkitSettings(segment_method="cbs")


# ---------------------------------------------------------------------------------------------
# End to end on synthetic BAMs over the bundled reference's targets

READ_LENGTH = 100
PURITY = 0.6
# Tumour copies per gene region (normal cells: 2): EGFR amplified to 8, BRCA2 one copy lost.
TUMOUR_COPIES = {"chr7_EGFR": 8, "chr13_BRCA2": 1}


def depth_factor(contig: str) -> float:
    copies = TUMOUR_COPIES.get(contig, 2)
    return (PURITY * copies + (1 - PURITY) * 2) / 2


def write_bam(path: Path, targets: list[tuple[str, int, int]], lengths: dict[str, int],
              depth: float, rng: np.random.Generator, scale=lambda contig: 1.0) -> Path:
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": name, "LN": length} for name, length in lengths.items()],
              "RG": [{"ID": path.stem, "SM": path.stem}]}
    names = list(lengths)
    reads = []
    for contig, start, end in targets:
        first, last = max(0, start - READ_LENGTH), min(lengths[contig] - READ_LENGTH, end)
        count = rng.poisson(depth * scale(contig) * (last - first) / READ_LENGTH)
        reads += [(names.index(contig), int(pos)) for pos in rng.integers(first, last, count)]
    unsorted = path.with_suffix(".unsorted.bam")
    with pysam.AlignmentFile(str(unsorted), "wb", header=header) as bam:
        for number, (tid, pos) in enumerate(sorted(reads)):
            read = pysam.AlignedSegment()
            read.query_name, read.reference_id, read.reference_start = f"r{number}", tid, pos
            read.query_sequence = "A" * READ_LENGTH
            read.query_qualities = pysam.qualitystring_to_array("I" * READ_LENGTH)
            read.cigarstring, read.mapping_quality, read.flag = f"{READ_LENGTH}M", 60, 0
            read.set_tag("RG", path.stem)
            bam.write(read)
    pysam.sort("-o", str(path), str(unsorted))
    pysam.index(str(path))
    unsorted.unlink()
    return path


def write_het_snps(path: Path, sites: list[tuple[str, int]], lengths: dict[str, int],
                   tumour_baf) -> Path:
    """Heterozygous SNPs in the normal (BAF 0.5) with the tumour's B-allele fraction per contig."""
    header = pysam.VariantHeader()
    for name, length in lengths.items():
        header.contigs.add(name, length=length)
    header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", 1), ("Type", "String"),
                                     ("Description", "Genotype")])
    header.add_meta("FORMAT", items=[("ID", "AD"), ("Number", "R"), ("Type", "Integer"),
                                     ("Description", "Allelic depths")])
    header.add_meta("FORMAT", items=[("ID", "DP"), ("Number", 1), ("Type", "Integer"),
                                     ("Description", "Depth")])
    header.add_sample("S-T")
    header.add_sample("S-N")
    with pysam.VariantFile(str(path), "wz", header=header) as vcf:
        for contig, pos in sites:
            record = vcf.new_record(contig=contig, start=pos - 1, alleles=("A", "C"),
                                    filter="PASS")
            alt = int(round(200 * tumour_baf(contig)))
            for sample, ad in (("S-T", (200 - alt, alt)), ("S-N", (50, 50))):
                record.samples[sample]["GT"] = (0, 1)
                record.samples[sample]["AD"] = ad
                record.samples[sample]["DP"] = sum(ad)
            vcf.write(record)
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def bundled_targets():
    """(reference FASTA, targets BED, contig lengths, target intervals) of the bundled reference."""
    fasta = BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa"
    targets_bed = BUNDLED_REFERENCE_DIR / "targets.bed"
    with pysam.FastaFile(str(fasta)) as handle:
        lengths = dict(zip(handle.references, handle.lengths))
    targets = [(fields[0], int(fields[1]), int(fields[2])) for fields in
               (line.split("\t") for line in targets_bed.read_text().splitlines() if line)]
    return fasta, targets_bed, lengths, targets


def test_cnvkit_finds_an_amplification_a_loss_and_copy_neutral_loh_in_synthetic_reads(tmp_path):
    rng = np.random.default_rng(11)
    fasta, targets_bed, lengths, targets = bundled_targets()
    normal = write_bam(tmp_path / "S-N.bam", targets, lengths, 100, rng)
    tumour = write_bam(tmp_path / "S-T.bam", targets, lengths, 200, rng, depth_factor)
    # BRCA1 copy-neutral LOH at 60 % purity: tumour BAF 0.5 * 0.4 + 1.0 * 0.6 = 0.8.
    sites = [(contig, (start + end) // 2) for contig, start, end in targets[::2]]
    vcf = write_het_snps(tmp_path / "S.vcf.gz", sites, lengths,
                         lambda contig: {"chr17_BRCA1": 0.8, "chr13_BRCA2": 0.0}.get(contig, 0.5))
    work = tmp_path / "work"
    work.mkdir()
    outputs = {name: tmp_path / f"out.{name}" for name in ("genes", "segments", "cnr", "cns")}
    genes = call_patient(patient="S", tumour="S-T", tumour_bam=tumour, normal="S-N",
                         normal_bam=normal, pooled_reference=None, vcf=vcf, purity=PURITY,
                         targets=targets_bed, fasta=fasta, settings={}, min_mapping_quality=20,
                         workdir=work, outputs=outputs)
    print("\n" + genes.to_string())
    calls = genes.set_index("gene")
    assert calls["call"].to_dict() == {"EGFR": "amplification", "BRCA2": "loss",
                                       "BRCA1": "loh", "TP53": "neutral"}
    assert 7 <= calls.loc["EGFR", "total_copy_number"] <= 9
    assert calls.loc["BRCA2", ["total_copy_number", "minor_copy_number"]].tolist() == [1, 0]
    assert calls.loc["BRCA1", ["total_copy_number", "minor_copy_number"]].tolist() == [2, 0]
    written, metadata = read_parquet(outputs["genes"], expected_schema=COPY_NUMBER_SCHEMA)
    assert metadata["reference"] == "paired normal S-N" and metadata["purity"] == "0.6"
    segments, _ = read_parquet(outputs["segments"], expected_schema=CNVKIT_SEGMENT_SCHEMA)
    assert set(segments["contig"]) == set(lengths)
    assert outputs["cnr"].read_text().startswith("chromosome\tstart\tend\tgene")


def test_without_normal_or_purity_a_flat_reference_and_the_log2_cut_offs_call(tmp_path):
    from oncoweave.variants.cnvkit_calls import pooled_reference

    rng = np.random.default_rng(12)
    fasta, targets_bed, lengths, targets = bundled_targets()
    tumour = write_bam(tmp_path / "S-T.bam", targets, lengths, 200, rng, depth_factor)
    (tmp_path / "work").mkdir()
    flat = pooled_reference([], targets_bed, fasta, tmp_path / "flat.cnn", settings={},
                            min_mapping_quality=20, workdir=tmp_path / "work")
    outputs = {name: tmp_path / f"out.{name}" for name in ("genes", "segments", "cnr", "cns")}
    genes = call_patient(patient="S", tumour="S-T", tumour_bam=tumour, normal=None,
                         normal_bam=None, pooled_reference=flat, vcf=None, purity=None,
                         targets=targets_bed, fasta=fasta, settings={}, min_mapping_quality=20,
                         workdir=tmp_path / "work", outputs=outputs)
    calls = genes.set_index("gene")
    assert calls["call"].to_dict() == {"EGFR": "amplification", "BRCA2": "loss",
                                       "BRCA1": "neutral", "TP53": "neutral"}
    assert calls["total_copy_number"].isna().all() and calls["minor_copy_number"].isna().all()
    _, metadata = read_parquet(outputs["genes"], expected_schema=COPY_NUMBER_SCHEMA)
    assert metadata["reference"] == "pooled reference of the cohort's normals"
    assert metadata["purity"] == "" and metadata["b_allele_fractions"] == "no"
