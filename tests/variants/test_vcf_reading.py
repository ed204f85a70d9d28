"""The columnar VCF reader of export (bcftools query streamed into pyarrow; floats from its text
when htslib wrote them, else from a pysam pass) against the per-record pysam reader, contig
counting, and the seeded synthetic benchmark VCF."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pysam
import pytest

from helpers import CALL_FORMATS, indexed_bundled_reference, write_vcf_gz
from oncoweave.core.errors import InputError
from oncoweave.core.io import open_vcf
from oncoweave.genome.gene_models import canonical_models
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.variants.classify import CallingThresholds, classify_vcf
from oncoweave.variants import vcf_reading
from oncoweave.variants.export import export_variants
from oncoweave.variants.inputs import _records_per_contig
from oncoweave.variants.vcf_benchmark import write_synthetic_vcf
from oncoweave.variants.vcf_reading import (
    floats_survive_text,
    read_record_table,
    read_records,
)

pytestmark = pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr17_TP53,length=70000>
##contig=<ID=chr7_EGFR,length=192612>
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=low_vaf,Description="low VAF">
##FILTER=<ID=strand,Description="strand">
##INFO=<ID=STATUS,Number=1,Type=String,Description="s">
##INFO=<ID=FISHER_P,Number=1,Type=Float,Description="p">
##INFO=<ID=T_DP,Number=1,Type=Integer,Description="d">
##INFO=<ID=T_ALT,Number=1,Type=Integer,Description="a">
##INFO=<ID=N_DP,Number=1,Type=Integer,Description="d">
##INFO=<ID=N_ALT,Number=1,Type=Integer,Description="a">
##INFO=<ID=BCSQ,Number=.,Type=String,Description="csq">
##FORMAT=<ID=GT,Number=1,Type=String,Description="g">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="a">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUM
"""
PAIRED = "T_DP=200;T_ALT=40;N_DP=100;N_ALT=0;FISHER_P=1.2345678e-12;STATUS=somatic"
R175H = ("missense|TP53|ENST00000269305|protein_coding|-|175R>175H|35088C>T,"
         "missense|TP53|ENST00000413465|protein_coding|-|175R>175H|35088C>T")
RECORDS = [
    f"chr17_TP53\t10000\t.\tT\tA\t45.3\tPASS\t{PAIRED}\tGT:AD\t0/1:160,40",
    # a multiallelic site split into two records, one with a missing AD and QUAL
    f"chr17_TP53\t35088\t.\tC\tT\t99.123456\tPASS\t{PAIRED};BCSQ={R175H}\tGT:AD\t0/1:.",
    "chr17_TP53\t35088\t.\tC\tA\t.\tlow_vaf;strand\tT_DP=0;T_ALT=0;STATUS=tumour_only\tGT:AD\t0/0:.",
    f"chr17_TP53\t35499\t.\tTCT\tT\t12\t.\t{PAIRED}\tGT\t0/1",
    f"chr7_EGFR\t172806\t.\tT\tTGGA\t7.5\tPASS\t{PAIRED.replace('1.2345678e-12', '0.31')}\tGT\t0/1",
]


def write_vcf(path: Path, records=RECORDS) -> Path:
    path.write_text(HEADER + "\n".join(records) + "\n")
    return path


@pytest.fixture(scope="module")
def fasta_path(tmp_path_factory) -> Path:
    return indexed_bundled_reference(tmp_path_factory.mktemp("reference"))


@pytest.mark.parametrize("suffix", [".vcf", ".bcf"])
def test_bcftools_reader_equals_the_per_record_reader(tmp_path, suffix):
    vcf = write_vcf(tmp_path / "calls.vcf")
    if suffix == ".bcf":
        with pysam.VariantFile(str(vcf)) as source, \
                pysam.VariantFile(str(tmp_path / "calls.bcf"), "wb", header=source.header) as sink:
            for record in source:
                sink.write(record)
        vcf = tmp_path / "calls.bcf"
    fast = read_records(vcf, "TUM", reader="bcftools")
    slow = read_records(vcf, "TUM", reader="pysam")
    pd.testing.assert_frame_equal(fast, slow)
    assert list(fast["filter"]) == ["PASS", "PASS", "low_vaf;strand", "PASS", "PASS"]
    assert fast["fisher_p"][0] == slow["fisher_p"][0] != 1.2345678e-12  # float32, not text
    assert fast["quality"][2] is None and fast["n_dp"].isna()[2]


def _export_with_both_readers(vcf, tmp_path, fasta_path, monkeypatch):
    """The variants export with the bcftools reader, then with the pysam reference reader; both
    Parquet files must be byte-identical. Returns the exported frame."""
    models = canonical_models(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3",
                              BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv")
    options = {"patient": "P1", "tumour_sample": "TUM", "normal_sample": None,
               "contig_map": ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv"),
               "transcripts": models, "fasta_path": fasta_path, "pair_identity": "no_normal",
               "purity": None, "metadata": {}}
    fast = export_variants(vcf, tmp_path / "fast.parquet", **options)
    monkeypatch.setattr(vcf_reading.shutil, "which", lambda name: None)
    slow = export_variants(vcf, tmp_path / "slow.parquet", **options)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert (tmp_path / "fast.parquet").read_bytes() == (tmp_path / "slow.parquet").read_bytes()
    return fast


def test_export_is_byte_identical_with_either_reader(tmp_path, fasta_path, monkeypatch):
    fast = _export_with_both_readers(write_vcf(tmp_path / "calls.vcf"), tmp_path, fasta_path,
                                     monkeypatch)
    assert list(fast["variant_type"]) == ["SNV", "SNV", "SNV", "DEL", "INS"]
    assert fast["hgvs_p"][1] == "p.R175H" and fast["t_vaf"][2] == 0.0


def test_multiallelic_record_is_refused_by_both_readers(tmp_path):
    vcf = write_vcf(tmp_path / "calls.vcf", RECORDS[:1] + [RECORDS[1].replace("\tT\t", "\tT,A\t")])
    for reader in ("bcftools", "pysam"):
        with pytest.raises(Exception, match="record chr17_TP53:35088 must have exactly one ALT"):
            read_records(vcf, "TUM", reader=reader)


def test_records_per_contig_keeps_first_seen_order(tmp_path):
    counted = _records_per_contig(write_vcf(tmp_path / "calls.vcf"))
    assert list(counted.items()) == [("chr17_TP53", 4), ("chr7_EGFR", 1)]


def test_synthetic_vcf_is_seeded_and_matches_the_reference(tmp_path, fasta_path):
    first = write_synthetic_vcf(tmp_path / "a.vcf.gz", fasta_path, 2000, seed=7)
    again = write_synthetic_vcf(tmp_path / "b.vcf.gz", fasta_path, 2000, seed=7)
    other = write_synthetic_vcf(tmp_path / "c.vcf.gz", fasta_path, 2000, seed=8)
    text = gzip.decompress(first.read_bytes())
    assert text == gzip.decompress(again.read_bytes()) != gzip.decompress(other.read_bytes())
    assert Path(f"{first}.tbi").exists()
    with pysam.VariantFile(str(first)) as vcf, pysam.FastaFile(str(fasta_path)) as fasta:
        records = list(vcf)
        assert len(records) == 2000
        assert all(fasta.fetch(r.chrom, r.pos - 1, r.pos - 1 + len(r.ref)).upper() == r.ref
                   for r in records)
        assert all(len(r.alts) == 1 and r.alts[0] != r.ref for r in records)
        keys = [(r.chrom, r.pos) for r in records]
        assert len(set(keys)) < len(keys)  # split multiallelic sites
        assert any(r.samples["TUMOUR"]["AD"] == (None,) for r in records)


# Float32 edge values for QUAL and INFO/FISHER_P: 1e-38 (subnormal), the smallest normal and
# subnormal floats, 0.1 (inexact), the largest float32, zero, and values whose six-digit
# bcftools text (1.17549e-38, 3.40282e+38, 0.123457, 123457, 1.23457e-12) is another float32.
EDGE_FLOATS = ["1e-38", "1.17549435e-38", "1.4e-45", "0.1", "3.4028235e+38", "0",
               "0.123456789", "123456.789", "1.2345678e-12"]


def _edge_records() -> list[str]:
    """One record per edge value (REF as in the bundled FASTA), then records missing QUAL,
    FISHER_P or both."""
    bases = "GGCAGTGAGGGGA"  # chr17_TP53:1000-1012
    records = [f"chr17_TP53\t{1000 + index}\t.\t{ref}\t{'T' if ref == 'A' else 'A'}\t{value}\t"
               f"PASS\tT_DP=10;T_ALT=2;FISHER_P={value};STATUS=somatic\tGT:AD\t0/1:8,2"
               for index, (ref, value) in enumerate(zip(bases, EDGE_FLOATS))]
    return records + [
        "chr17_TP53\t2000\t.\tC\tG\t.\tPASS\tT_DP=10;T_ALT=2;FISHER_P=0.5;STATUS=somatic\tGT\t0/1",
        "chr17_TP53\t2001\t.\tC\tG\t30\tPASS\tT_DP=10;T_ALT=5;STATUS=tumour_only\tGT:AD\t0/1:5,5",
        "chr7_EGFR\t2002\t.\tA\tAC\t.\tlow_vaf\tT_DP=10;T_ALT=5;STATUS=germline\tGT:AD\t0/1:5,5"]


def _as_bcf(vcf: Path) -> Path:
    bcf = vcf.with_suffix(".bcf")
    with pysam.VariantFile(str(vcf)) as source, \
            pysam.VariantFile(str(bcf), "wb", header=source.header) as sink:
        for record in source:
            sink.write(record)
    return bcf


def _float32(text: str) -> float:
    """What htslib stores for a VCF float: the text as a double, rounded to float32."""
    return float(np.float32(float(text)))


@pytest.mark.parametrize("suffix", [".vcf", ".bcf"])
def test_fast_reader_keeps_float32_edge_values_and_missing_floats(tmp_path, suffix):
    vcf = write_vcf(tmp_path / "edges.vcf", _edge_records())
    if suffix == ".bcf":
        vcf = _as_bcf(vcf)
    fast = read_records(vcf, "TUM", reader="bcftools")
    slow = read_records(vcf, "TUM", reader="pysam")
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    expected = [_float32(value) for value in EDGE_FLOATS]
    count = len(EDGE_FLOATS)
    assert fast["quality"][:count].tolist() == expected
    assert fast["fisher_p"][:count].tolist() == expected
    assert 0.0 < fast["fisher_p"][0] < 1.17549435e-38  # 1e-38 kept as a subnormal, not 0
    assert fast["quality"][count] is None and fast["fisher_p"][count] == 0.5
    assert fast["quality"][count + 1] == 30.0 and fast["fisher_p"][count + 1] is None
    assert fast["quality"][count + 2] is None and fast["fisher_p"][count + 2] is None
    # The six-digit text bcftools prints would have given other float32 values.
    printed = subprocess.run(["bcftools", "query", "-f", "%INFO/FISHER_P\n", str(vcf)],
                             capture_output=True, text=True, check=True).stdout.split()
    rounded = [index for index, text in enumerate(printed[:count])
               if _float32(text) != expected[index]]
    assert [EDGE_FLOATS[index] for index in rounded] == [
        "1.17549435e-38", "3.4028235e+38", "0.123456789", "123456.789", "1.2345678e-12"]


def test_float_pass_reads_the_values_of_the_per_record_reader(tmp_path):
    vcf = write_vcf(tmp_path / "edges.vcf", _edge_records())
    quality, fisher = vcf_reading._read_floats(vcf)
    slow = read_records(vcf, "TUM", reader="pysam")
    assert quality.dtype == fisher.dtype == object
    assert quality.tolist() == slow["quality"].tolist()
    assert fisher.tolist() == slow["fisher_p"].tolist()


@pytest.mark.parametrize("alt", ["T,A", "."])
@pytest.mark.parametrize("reader", ["bcftools", "pysam"])
def test_record_without_exactly_one_alt_is_an_error_naming_the_file(tmp_path, alt, reader):
    records = _edge_records()
    fields = records[3].split("\t")
    records[3] = "\t".join(fields[:4] + [alt] + fields[5:])
    vcf = write_vcf(tmp_path / "calls.vcf", records)
    with pytest.raises(InputError) as raised:
        read_records(vcf, "TUM", reader=reader)
    assert str(raised.value) == (f"{vcf}: record chr17_TP53:1003 must have exactly one ALT "
                                 "allele")


def test_export_parquet_is_identical_with_either_reader_on_edge_floats(tmp_path, fasta_path,
                                                                       monkeypatch):
    fast = _export_with_both_readers(write_vcf(tmp_path / "edges.vcf", _edge_records()),
                                     tmp_path, fasta_path, monkeypatch)
    written = pq.read_table(tmp_path / "fast.parquet")
    assert written.schema.field("fisher_p").type == pa.float64()  # float32 values, widened
    assert written.column("fisher_p").to_pylist()[:len(EDGE_FLOATS)] == [
        _float32(value) for value in EDGE_FLOATS]


def test_tags_the_header_lacks_read_as_null_with_either_reader(tmp_path):
    header = "".join(line + "\n" for line in HEADER.splitlines()
                     if not any(f"ID={key}," in line for key in ("FISHER_P", "N_DP", "N_ALT")))
    records = [record.replace(";FISHER_P=0.5", "").replace(f"FISHER_P={EDGE_FLOATS[0]};", "")
               for record in _edge_records()[:1] + _edge_records()[-3:-2]]
    vcf = tmp_path / "tumour_only.vcf"
    vcf.write_text(header + "\n".join(records) + "\n")
    fast = read_records(vcf, "TUM", reader="bcftools")
    slow = read_records(vcf, "TUM", reader="pysam")
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast["fisher_p"].tolist() == [None, None]
    assert fast["quality"].tolist() == [_float32(EDGE_FLOATS[0]), None]
    assert fast["n_dp"].isna().all() and fast["t_dp"].tolist() == [10, 10]


def test_a_failing_bcftools_query_is_an_error_naming_the_file(tmp_path, monkeypatch):
    vcf = write_vcf(tmp_path / "calls.vcf")
    monkeypatch.setitem(vcf_reading._QUERY, "pos", "%POS%[")  # a format bcftools refuses
    with pytest.raises(InputError, match="bcftools query failed") as raised:
        read_records(vcf, "TUM", reader="bcftools")
    assert str(raised.value).startswith(f"{vcf}: ")


# --- floats from the query's text when htslib wrote the records ------------------------------

def _bcftools_view(vcf: Path, output: Path, output_type: str) -> Path:
    """``vcf`` rewritten by bcftools view (htslib's writer; ##bcftools_viewVersion added)."""
    subprocess.run(["bcftools", "view", f"-O{output_type}", "-o", str(output), str(vcf)],
                   check=True, capture_output=True)
    return output


def _survives(vcf: Path) -> bool:
    with open_vcf(vcf) as handle:
        return floats_survive_text(handle)


def _bits(values) -> list:
    """Float64 bit patterns (None kept): equal floats of another sign or NaN payload differ."""
    return [None if value is None else int(np.float64(value).view(np.int64)) for value in values]


def _random_float_records(count: int, seed: int) -> list[str]:
    """Records whose QUAL and FISHER_P are random float32 bit patterns (subnormals, huge values,
    negative zero) written with nine digits: every float32 bit matters."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**32, size=4 * count, dtype=np.uint64).astype(np.uint32)
    values = values.view(np.float32)
    values = np.concatenate([np.float32([-0.0, 1.4e-45, 3.4028235e38, 1e-4, 999999.5]),
                             values[np.isfinite(values)]])[:2 * count]
    texts = [f"{value:.9g}" for value in values.astype(np.float64).tolist()]
    return [f"chr17_TP53\t{1000 + index}\t.\tG\tA\t{texts[2 * index]}\tPASS\t"
            f"T_DP=10;T_ALT=2;FISHER_P={texts[2 * index + 1]};STATUS=somatic\tGT:AD\t0/1:8,2"
            for index in range(count)]


def _no_float_pass(*args):
    raise AssertionError("the pysam float pass ran")


@pytest.mark.parametrize("output_type, suffix", [("v", ".vcf"), ("z", ".vcf.gz")])
def test_floats_htslib_wrote_come_from_the_query_text_bit_for_bit(tmp_path, monkeypatch,
                                                                  output_type, suffix):
    handwritten = write_vcf(tmp_path / "random.vcf", _random_float_records(3000, seed=3)
                            + _edge_records())
    vcf = _bcftools_view(handwritten, tmp_path / f"rewritten{suffix}", output_type)
    assert _survives(vcf) and not _survives(handwritten)
    slow = read_records(vcf, "TUM", reader="pysam")
    monkeypatch.setattr(vcf_reading, "_read_floats", _no_float_pass)
    fast = read_records(vcf, "TUM", reader="bcftools")
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    for name in ("quality", "fisher_p"):
        assert _bits(fast[name]) == _bits(slow[name])
    # The six-digit text is not the value: read as float64 without the float32 rounding, most
    # values would differ from pysam's.
    printed = subprocess.run(["bcftools", "query", "-f", "%INFO/FISHER_P\n", str(vcf)],
                             capture_output=True, text=True, check=True).stdout.split()
    unrounded = [float(text) != value for text, value in zip(printed, slow["fisher_p"])
                 if value is not None and text != "0"]
    assert sum(unrounded) > 0.9 * len(unrounded)
    assert fast["quality"][len(fast) - 3] is None and fast["fisher_p"][len(fast) - 2] is None


def test_nine_digit_floats_not_written_by_htslib_keep_the_pysam_pass(tmp_path, monkeypatch):
    handwritten = write_vcf(tmp_path / "random.vcf", _random_float_records(2000, seed=4))
    bcf = _bcftools_view(handwritten, tmp_path / "random.bcf", "b")  # binary: all 32 bits kept
    for vcf in (handwritten, bcf):
        assert not _survives(vcf)
        slow = read_records(vcf, "TUM", reader="pysam")
        fast = read_records(vcf, "TUM", reader="bcftools")
        assert _bits(fast["fisher_p"]) == _bits(slow["fisher_p"])
        assert _bits(fast["quality"]) == _bits(slow["quality"])
    monkeypatch.setattr(vcf_reading, "_read_floats", _no_float_pass)
    with pytest.raises(AssertionError, match="float pass ran"):
        read_records(bcf, "TUM", reader="bcftools")


def test_header_decides_whether_the_floats_survive_the_text(tmp_path):
    """Text written last by bcftools or classify-variants; a BCF whose floats classify-variants
    wrote as text and csq/view copied; anything else keeps the pysam pass."""
    lines = HEADER.splitlines()

    def vcf_with(meta: list[str], name: str, fisher: str = "Number=1,Type=Float") -> Path:
        header = [line.replace("Number=1,Type=Float", fisher) for line in lines[:-1]]
        path = tmp_path / name
        path.write_text("\n".join(header + meta + lines[-1:]) + "\n" + RECORDS[0] + "\n")
        return path

    classify = "##oncoweave_classifyVersion=0.1.0"
    csq = "##bcftools/csqVersion=1.16+htslib-1.16"
    assert _survives(vcf_with([csq], "csq.vcf"))
    assert _survives(vcf_with(["##source=x", classify, "##oncoweave_classifyThresholds=a=1"],
                              "classified.vcf"))
    assert not _survives(vcf_with([csq, "##source=hand-edited"], "edited.vcf"))
    assert not _survives(vcf_with([], "plain.vcf"))
    assert not _survives(vcf_with([csq], "integer.vcf", fisher="Number=1,Type=Integer"))
    assert not _survives(vcf_with([csq], "list.vcf", fisher="Number=A,Type=Float"))
    classified = vcf_with([classify], "chain.vcf")
    assert _survives(_bcftools_view(classified, tmp_path / "chain.bcf", "b"))
    assert not _survives(_bcftools_view(vcf_with([csq], "csq2.vcf"), tmp_path / "csq.bcf", "b"))


def test_classify_then_csq_bcf_reads_its_floats_from_the_query(tmp_path, fasta_path,
                                                                monkeypatch):
    """The workflow's chain: classify-variants (pysam's text writer) -> bcftools csq -Ob."""
    rng = np.random.default_rng(5)
    with pysam.FastaFile(str(fasta_path)) as fasta:
        sites = np.unique(rng.integers(20000, 40000, 300))
        bases = [fasta.fetch("chr17_TP53", int(site) - 1, int(site)).upper() for site in sites]
    records = [{"contig": "chr17_TP53", "pos": int(site), "alleles": (base, "T" if base != "T"
                                                                          else "C"),
                "qual": float(np.float32(rng.uniform(3, 250))),
                "samples": {"TUM": {"GT": (0, 1), "AD": (int(ref), int(alt))},
                            "NOR": {"GT": (0, 0), "AD": (60, int(normal))}}}
               for site, base, ref, alt, normal in zip(
                   sites, bases, rng.integers(20, 200, len(sites)),
                   rng.integers(5, 100, len(sites)), rng.integers(0, 4, len(sites)))]
    candidates = write_vcf_gz(tmp_path / "candidates.vcf.gz", records, samples=["TUM", "NOR"],
                              contigs={"chr17_TP53": 70000}, formats=CALL_FORMATS[:2])
    classified = tmp_path / "classified.vcf.gz"
    classify_vcf(candidates, classified, "TUM", "NOR", CallingThresholds())
    annotated = tmp_path / "annotated.bcf"
    subprocess.run(["bcftools", "csq", "-l", "-s", "-", "-p", "a", "-f", str(fasta_path), "-g",
                    str(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"), "-Ob", "-o",
                    str(annotated), str(classified)], check=True, capture_output=True)
    assert _survives(annotated)
    slow = read_records(annotated, "TUM", reader="pysam")
    assert slow["fisher_p"].notna().sum() > 100 and slow["bcsq"].notna().any()
    monkeypatch.setattr(vcf_reading, "_read_floats", _no_float_pass)
    fast = read_records(annotated, "TUM", reader="bcftools")
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert _bits(fast["fisher_p"]) == _bits(slow["fisher_p"])
    assert _bits(fast["quality"]) == _bits(slow["quality"])


# --- the streamed query ----------------------------------------------------------------------

@pytest.mark.parametrize("meta", ["", "##bcftools_viewVersion=1.16+htslib-1.16\n"])
def test_a_vcf_without_records_reads_as_an_empty_table(tmp_path, meta):
    vcf = tmp_path / "empty.vcf"
    vcf.write_text(HEADER.replace("#CHROM", meta + "#CHROM"))
    assert _survives(vcf) == bool(meta)
    fast = read_records(vcf, "TUM", reader="bcftools")
    pd.testing.assert_frame_equal(fast, read_records(vcf, "TUM", reader="pysam"))
    assert list(fast.columns) == vcf_reading.RECORD_COLUMNS and len(fast) == 0
    table = read_record_table(vcf, "TUM", reader="bcftools")
    assert table.num_rows == 0 and table.schema.field("fisher_p").type == pa.float64()


def test_a_read_error_bcftools_exits_0_after_is_an_error_naming_the_file(tmp_path):
    """A corrupt BGZF block: bcftools prints htslib's [E::...] error, skips it and exits 0."""
    records = _random_float_records(20000, seed=6)
    vcf = _bcftools_view(write_vcf(tmp_path / "calls.vcf", records), tmp_path / "calls.vcf.gz",
                         "z")
    data = bytearray(vcf.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt = tmp_path / "corrupt.vcf.gz"
    corrupt.write_bytes(bytes(data))
    assert _survives(corrupt)
    with pytest.raises(InputError, match=r"bcftools query failed: \[E::bgzf_") as raised:
        read_records(corrupt, "TUM", reader="bcftools")
    assert str(raised.value).startswith(f"{corrupt}: ")


def test_a_bcftools_failure_after_output_began_names_the_file(tmp_path, monkeypatch):
    """A bcftools that prints a line pyarrow refuses, then fails: its error, not the parse's."""
    vcf = write_vcf(tmp_path / "calls.vcf", _random_float_records(20000, seed=8))
    fake = tmp_path / "bin" / "bcftools"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf 'chr1\\t1\\tA\\tC\\n'\n"
                    "echo 'Error: the disk went away' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(InputError, match="bcftools query failed: Error: the disk went away"):
        read_records(vcf, "TUM", reader="bcftools")


# --- pieces: the export's columns computed while bcftools reads ------------------------------

COMPOUND = [  # two SNVs of TP53 codon 175 that bcftools csq joined into one compound change
    f"chr17_TP53\t35087\t.\tG\tA\t50\tPASS\t{PAIRED};BCSQ=@35088\tGT:AD\t0/1:160,40",
    f"chr17_TP53\t35088\t.\tC\tT\t50\tPASS\t{PAIRED};BCSQ=missense|TP53|ENST00000269305|"
    "protein_coding|-|175R>175H|35087G>A+35088C>T\tGT:AD\t0/1:160,40"]


def _in_pieces(tmp_path, monkeypatch, records, name="calls", block=300) -> Path:
    """The records as htslib writes them (floats from the query), read in pieces of about
    ``block`` bytes of query output."""
    monkeypatch.setattr(vcf_reading, "BLOCK_BYTES", block)
    return _bcftools_view(write_vcf(tmp_path / f"{name}.vcf", records),
                          tmp_path / f"{name}.vcf.gz", "z")


def test_export_in_pieces_is_byte_identical_to_the_whole_table(tmp_path, fasta_path,
                                                               monkeypatch):
    vcf = _in_pieces(tmp_path, monkeypatch, RECORDS + _edge_records())
    pieces = list(vcf_reading.read_record_batches(vcf, "TUM"))
    assert len(pieces) >= 4 and sum(piece.num_rows for piece in pieces) == 17
    assert pa.concat_tables(pieces).equals(read_record_table(vcf, "TUM", reader="pysam"))
    fast = _export_with_both_readers(vcf, tmp_path, fasta_path, monkeypatch)
    models = canonical_models(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3",
                              BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv")
    with pysam.FastaFile(str(fasta_path)) as fasta:
        assert fast["hgvs_c"][3] == models["TP53"].hgvs_c(35499, "TCT", "T", fasta)
    assert fast["hgvs_p"][1] == "p.R175H" and fast["gene"][3] == "TP53"


def test_a_link_into_another_piece_is_followed_on_the_whole_table(tmp_path, fasta_path,
                                                                  monkeypatch):
    vcf = _in_pieces(tmp_path, monkeypatch, COMPOUND, block=200)  # a line per piece
    assert len(list(vcf_reading.read_record_batches(vcf, "TUM"))) == 2
    fast = _export_with_both_readers(vcf, tmp_path, fasta_path, monkeypatch)
    assert list(fast["hgvs_p"]) == ["p.R175H", "p.R175H"]
    assert list(fast["hgvs_c"]) == ["c.525C>T", "c.524G>A"]


def _export_error(vcf, tmp_path, fasta_path, **options) -> str:
    models = canonical_models(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3",
                              BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv")
    with pytest.raises(InputError) as raised:
        export_variants(vcf, tmp_path / "out.parquet", patient="P1", tumour_sample="TUM",
                        normal_sample=None, transcripts=models, fasta_path=fasta_path,
                        pair_identity="no_normal", purity=None, metadata={}, **{
                            "contig_map": ContigMap.from_tsv(BUNDLED_REFERENCE_DIR
                                                             / "regions.tsv"), **options})
    assert not (tmp_path / "out.parquet").exists()
    return str(raised.value)


def test_errors_in_later_pieces_keep_the_whole_tables_order(tmp_path, fasta_path, monkeypatch):
    """A REF that does not match the FASTA in an early piece; later, a record on a contig the
    map lacks, then one with two ALT alleles: the ALT error first, then the contig's, as the
    whole-table export raises them (the pysam reader reads the whole table at once)."""
    wrong_ref = RECORDS[1].replace("\tC\tT\t", "\tG\tT\t")  # 35088 is C in the FASTA
    records = [wrong_ref] + _edge_records() + [RECORDS[4]]
    two_alts = records[:-1] + [RECORDS[4].replace("\tTGGA\t", "\tTGGA,TG\t")]
    regions = tmp_path / "regions.tsv"
    lines = (BUNDLED_REFERENCE_DIR / "regions.tsv").read_text().splitlines()
    regions.write_text("\n".join(line for line in lines if not line.startswith("chr7_EGFR"))
                       + "\n")
    no_egfr = {"contig_map": ContigMap.from_tsv(regions)}
    expected = {}
    for reader in ("pysam", "bcftools"):
        if reader == "pysam":
            monkeypatch.setattr(vcf_reading.shutil, "which", lambda name: None)
        for name, rows, options in (("hgvs", records, {}), ("contig", records, no_egfr),
                                    ("alt", two_alts, no_egfr)):
            vcf = _in_pieces(tmp_path, monkeypatch, rows, name=f"{name}_{reader}")
            message = _export_error(vcf, tmp_path, fasta_path, **options).split(": ", 1)[1]
            assert expected.setdefault(name, message) == message
        monkeypatch.undo()
    assert expected["hgvs"].startswith("record chr17_TP53:35088: REF G does not match")
    assert expected["contig"] == "record chr7_EGFR:2002: contig 'chr7_EGFR' is not in the " \
                                 "contig map"
    assert expected["alt"] == "record chr7_EGFR:172806 must have exactly one ALT allele"


def test_a_reader_closed_after_one_piece_stops_bcftools(tmp_path, monkeypatch):
    started = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    vcf = _in_pieces(tmp_path, monkeypatch, _random_float_records(20000, seed=9))
    monkeypatch.setattr(vcf_reading.subprocess, "Popen", Recorded)
    pieces = vcf_reading.read_record_batches(vcf, "TUM")
    assert next(pieces).num_rows > 0
    pieces.close()
    assert len(started) == 1 and started[0].returncode is not None


def test_synthetic_vcf_is_written_by_htslib_as_csq_output_is(tmp_path, fasta_path):
    vcf = write_synthetic_vcf(tmp_path / "s.vcf.gz", fasta_path, 3000, seed=2)
    text = gzip.decompress(vcf.read_bytes()).decode()
    header = [line for line in text.splitlines() if line.startswith("##")]
    assert "##bcftools_viewVersion" in header[-1] and not any(
        line.startswith("##bcftools_viewCommand") for line in header)
    assert _survives(vcf)
    fisher = [field.split("=")[1] for line in text.splitlines() if not line.startswith("#")
              for field in line.split("\t")[7].split(";") if field.startswith("FISHER_P=")]
    assert len(fisher) > 2000 and max(len(value.replace(".", "").lstrip("0").split("e")[0])
                                      for value in fisher) == 6
    pd.testing.assert_frame_equal(read_records(vcf, "TUMOUR", reader="bcftools"),
                                  read_records(vcf, "TUMOUR", reader="pysam"), check_exact=True)


def test_a_vcf_without_records_exports_an_empty_table(tmp_path, fasta_path, monkeypatch):
    vcf = tmp_path / "empty.vcf"
    vcf.write_text(HEADER.replace("#CHROM", "##bcftools_viewVersion=1.16+htslib-1.16\n#CHROM"))
    empty = _export_with_both_readers(vcf, tmp_path, fasta_path, monkeypatch)
    assert len(empty) == 0 and empty["pos"].dtype == "Int64" and empty["gene"].dtype == "str"
