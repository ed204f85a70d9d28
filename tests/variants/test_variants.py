"""The variants table: BCSQ -> HGVS p., export from annotated VCFs, Parquet I/O with provenance."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pysam
import pytest

from helpers import CALL_FORMATS, indexed_bundled_reference, write_vcf_gz
from oncoweave import __version__
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.genome.gene_models import canonical_models
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.genome.sequence import translate
from oncoweave.variants.classify import CallingThresholds, classify_vcf
from oncoweave.variants.consequences import hgvs_protein, parse_bcsq
from oncoweave.variants.export import export_variants, provenance_from_vcf_header
from oncoweave.variants.schema import VARIANTS_SCHEMA

GFF3 = BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"
CANONICAL = BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv"
REGIONS = BUNDLED_REFERENCE_DIR / "regions.tsv"


@pytest.fixture(scope="module")
def fasta_path(tmp_path_factory) -> Path:
    """The bundled reference, indexed in a temporary copy (indexes are not committed)."""
    return indexed_bundled_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def models():
    return canonical_models(GFF3, CANONICAL)


@pytest.fixture(scope="module")
def proteins(models, fasta_path) -> dict[str, str]:
    with pysam.FastaFile(str(fasta_path)) as fasta:
        return {gene: translate(t.cds_sequence(fasta)) for gene, t in models.items()}


# --- BCSQ amino-acid field -> HGVS p. (strings as bcftools csq 1.16 prints them) ---------------

@pytest.mark.parametrize("gene, term, amino_acids, expected", [
    ("TP53", "missense", "175R>175H", "p.R175H"),
    ("EGFR", "missense", "858L>858R", "p.L858R"),
    ("TP53", "stop_gained", "196R>196*", "p.R196*"),
    ("TP53", "synonymous", "175R", "p.R175="),
    ("EGFR", "inframe_deletion", "745KELREA>745K", "p.E746_A750del"),
    ("TP53", "inframe_altering", "21DL>21V", "p.D21_L22delinsV"),
    # Insertions arrive left-aligned; the 3' rule makes repeats dups (the EGFR exon 20 insertion
    # known as D770_N771insSVD is p.S768_D770dup in HGVS).
    ("EGFR", "inframe_insertion", "769V>769VD", "p.D770dup"),
    ("EGFR", "inframe_insertion", "767A>767ASVD", "p.S768_D770dup"),
    ("EGFR", "inframe_insertion", "858L>858LG", "p.L858_A859insG"),
    ("TP53", "stop_lost", "394*>394R", "p.*394Rext*?"),
    ("TP53", "start_lost", None, "p.M1?"),
    ("TP53", "splice_acceptor", None, None),
])
def test_hgvs_protein(proteins, gene, term, amino_acids, expected):
    assert hgvs_protein(term, amino_acids, proteins[gene]) == expected


def test_hgvs_protein_frameshift_counts_the_new_stop_from_the_first_changed_residue(proteins):
    tp53 = proteins["TP53"]
    assert tp53[20:23] == "DLW"  # D21 L22 W23
    # bcftools prints the whole reference tail and the whole new reading frame.
    amino_acids = f"22{tp53[21:]}>22YGNYFLKTTFCPPCRPKQWMI*"
    assert hgvs_protein("frameshift", amino_acids, tp53) == "p.L22Yfs*22"
    # A frameshift whose first new codon is a stop is a nonsense change.
    assert hgvs_protein("frameshift", f"22{tp53[21:]}>22*", tp53) == "p.L22*"


def test_hgvs_protein_rejects_amino_acids_that_are_not_the_transcripts(proteins):
    with pytest.raises(ValueError, match="do not match the transcript's protein"):
        hgvs_protein("missense", "175G>175H", proteins["TP53"])


def test_parse_bcsq_separates_links_and_strips_versions():
    consequences, links = parse_bcsq([
        "@35088", "missense|TP53|ENST00000269305.9|protein_coding|-|175R>175H|35088C>T",
        "intron|TP53||protein_coding"])
    assert links == [35088]
    assert [(c.term, c.transcript, c.amino_acids) for c in consequences] == [
        ("missense", "ENST00000269305", "175R>175H"), ("intron", "", None)]


# --- export_variants on a hand-written annotated VCF -------------------------------------------

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr17_TP53,length=70000>
##contig=<ID=chr7_EGFR,length=192612>
##bcftools_callVersion=1.16+htslib-1.16
##source=handwritten-test
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=low_vaf,Description="low VAF">
##INFO=<ID=STATUS,Number=1,Type=String,Description="s">
##INFO=<ID=FISHER_P,Number=1,Type=Float,Description="p">
##INFO=<ID=T_DP,Number=1,Type=Integer,Description="d">
##INFO=<ID=T_ALT,Number=1,Type=Integer,Description="a">
##INFO=<ID=T_VAF,Number=1,Type=Float,Description="v">
##INFO=<ID=N_DP,Number=1,Type=Integer,Description="d">
##INFO=<ID=N_ALT,Number=1,Type=Integer,Description="a">
##INFO=<ID=N_VAF,Number=1,Type=Float,Description="v">
##INFO=<ID=BCSQ,Number=.,Type=String,Description="csq">
##FORMAT=<ID=GT,Number=1,Type=String,Description="g">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUM\tNOR
"""
PAIRED = "T_DP=200;T_ALT=40;T_VAF=0.2;N_DP=100;N_ALT=0;N_VAF=0;FISHER_P=1e-12;STATUS=somatic"
# Two SNVs in TP53 codon 175 that bcftools csq -p a joined into one compound consequence.
ROWS = [
    ("chr17_TP53", 10000, "T", "A", "PASS", PAIRED, None),
    ("chr17_TP53", 35087, "G", "A", "PASS", PAIRED, "@35088"),
    ("chr17_TP53", 35088, "C", "T", "PASS", PAIRED,
     "missense|TP53|ENST00000413465|protein_coding|-|175R>175H|35087G>A+35088C>T,"
     "missense|TP53|ENST00000269305|protein_coding|-|175R>175H|35087G>A+35088C>T"),
    ("chr17_TP53", 35500, "C", "G", "low_vaf", PAIRED.replace("T_ALT=40", "T_ALT=3"),
     "intron|TP53||protein_coding"),
    ("chr7_EGFR", 172806, "T", "G", "PASS", PAIRED,
     "missense|EGFR|ENST00000275493|protein_coding|+|858L>858R|172806T>G"),
]


def write_annotated(path: Path, rows=ROWS) -> Path:
    lines = [f"{contig}\t{pos}\t.\t{ref}\t{alt}\t45.5\t{filt}\t"
             f"{info}{';BCSQ=' + bcsq if bcsq else ''}\tGT\t0/1\t0/0"
             for contig, pos, ref, alt, filt, info, bcsq in rows]
    path.write_text(HEADER.replace("\\t", "\t") + "\n".join(lines) + "\n")
    return path


def export(tmp_path, vcf, models, fasta_path, **overrides):
    options = dict(patient="P1", tumour_sample="TUM", normal_sample="NOR",
                   contig_map=ContigMap.from_tsv(REGIONS), transcripts=models,
                   fasta_path=fasta_path, pair_identity="pass", purity=0.6,
                   metadata={"config_hash": "0123abcd"})
    options.update(overrides)
    return export_variants(vcf, tmp_path / "variants.parquet", **options)


def test_export_variants_rows(tmp_path, models, fasta_path):
    df = export(tmp_path, write_annotated(tmp_path / "annotated.vcf"), models, fasta_path)
    rows = df.set_index("contig_pos")
    assert list(df.columns) == VARIANTS_SCHEMA.names
    assert list(df["contig_pos"]) == [10000, 35087, 35088, 35500, 172806]
    # GRCh38 coordinates: contig offset from regions.tsv.
    assert (rows.loc[35088, "chrom"], rows.loc[35088, "pos"]) == ("chr17", 7675088)
    assert (rows.loc[172806, "chrom"], rows.loc[172806, "pos"]) == ("chr7", 55191822)
    r175h = rows.loc[35088]
    assert (r175h.gene, r175h.transcript, r175h.consequence, r175h.hgvs_p, r175h.hgvs_c) == (
        "TP53", "ENST00000269305", "missense", "p.R175H", "c.524G>A")
    # The '@35088' record takes the compound consequence it is part of, with its own c. change.
    linked = rows.loc[35087]
    assert (linked.consequence, linked.hgvs_p, linked.hgvs_c) == ("missense", "p.R175H",
                                                                  "c.525C>T")
    assert (rows.loc[172806, "hgvs_p"], rows.loc[172806, "hgvs_c"]) == ("p.L858R", "c.2573T>G")
    intron = rows.loc[35500]
    assert (intron.consequence, intron.gene, intron["filter"]) == ("intron", "TP53", "low_vaf")
    assert pd.isna(intron.hgvs_p)
    assert intron.hgvs_c == "c.376-264G>C"  # 264 bases before exon 5, minus strand
    intergenic = rows.loc[10000]
    assert intergenic[["gene", "transcript", "consequence", "hgvs_c"]].isna().all()
    assert (r175h.t_vaf, r175h.n_vaf, r175h.variant_type) == (0.2, 0.0, "SNV")
    assert (r175h.status, r175h.quality, r175h.pair_identity, r175h.purity) == (
        "somatic", 45.5, "pass", 0.6)


def test_export_variants_parquet_round_trip_and_provenance(tmp_path, models, fasta_path):
    df = export(tmp_path, write_annotated(tmp_path / "annotated.vcf"), models, fasta_path)
    read_back, metadata = read_parquet(tmp_path / "variants.parquet", VARIANTS_SCHEMA)
    pd.testing.assert_frame_equal(read_back, df)
    assert metadata["oncoweave_version"] == __version__
    assert metadata["config_hash"] == "0123abcd"
    assert metadata["bcftools_callVersion"] == "1.16+htslib-1.16"
    assert metadata["source"] == "handwritten-test"


def test_export_rejects_an_unclassified_vcf_and_unknown_contigs(tmp_path, models, fasta_path):
    plain = tmp_path / "plain.vcf"
    plain.write_text(HEADER.replace("\\t", "\t").replace(
        '##INFO=<ID=STATUS,Number=1,Type=String,Description="s">\n', ""))
    with pytest.raises(InputError, match=r"plain\.vcf: INFO/STATUS missing"):
        export(tmp_path, plain, models, fasta_path)
    vcf = write_annotated(tmp_path / "annotated.vcf")
    with pytest.raises(InputError, match=r"record chr17_TP53:10000: contig 'chr17_TP53' is not "
                                         r"in the contig map"):
        export(tmp_path, vcf, models, fasta_path,
               contig_map=ContigMap.from_tsv(_regions_without_tp53(tmp_path)))
    assert not (tmp_path / "variants.parquet").exists()


def _regions_without_tp53(tmp_path: Path) -> Path:
    lines = REGIONS.read_text().splitlines()
    path = tmp_path / "regions.tsv"
    path.write_text("\n".join(line for line in lines if not line.startswith("chr17_TP53")) + "\n")
    return path


# --- the real chain: classify -> bcftools csq -> export ----------------------------------------

@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools not installed")
def test_classify_csq_export_chain(tmp_path, models, fasta_path):
    """Known drivers through classify_vcf and bcftools csq --local-csq, tumour-only."""
    fasta = pysam.FastaFile(str(fasta_path))
    drivers = [("chr17_TP53", 34945, 1), ("chr17_TP53", 35088, 1), ("chr17_TP53", 36530, 2),
               ("chr7_EGFR", 155756, 16), ("chr7_EGFR", 172806, 1)]
    alts = {34945: "A", 35088: "T", 172806: "G"}
    records = []
    for contig, pos, length in drivers:
        ref = fasta.fetch(contig, pos - 1, pos - 1 + length)
        # GT 0/0: what call -m gives a 10-15 % VAF allele
        records.append({"contig": contig, "pos": pos, "alleles": (ref, alts.get(pos, ref[0])),
                        "samples": {"TUM": {"GT": (0, 0), "AD": (170, 30)}}})
    candidates = write_vcf_gz(tmp_path / "candidates.vcf.gz", records, samples=["TUM"],
                              contigs={contig: fasta.get_reference_length(contig)
                                       for contig in ("chr17_TP53", "chr7_EGFR")},
                              formats=CALL_FORMATS[:2])
    classified = tmp_path / "classified.vcf.gz"
    classify_vcf(candidates, classified, "TUM", None, CallingThresholds())
    annotated = tmp_path / "annotated.bcf"
    subprocess.run(["bcftools", "csq", "--local-csq", "-s", "-", "-f", str(fasta_path),
                    "-g", str(GFF3), "-Ob", "-o", str(annotated), str(classified)],
                   check=True, capture_output=True)
    df = export(tmp_path, annotated, models, fasta_path, normal_sample=None,
                pair_identity="no_normal", purity=None)
    assert list(df["hgvs_p"]) == ["p.R196*", "p.R175H", "p.L22Yfs*22", "p.E746_A750del",
                                  "p.L858R"]
    assert list(df["hgvs_c"])[0:2] == ["c.586C>T", "c.524G>A"]
    assert list(df["hgvs_c"])[3] == "c.2236_2250del"
    assert list(df["consequence"]) == ["stop_gained", "missense", "frameshift",
                                       "inframe_deletion", "missense"]
    assert list(df["variant_type"]) == ["SNV", "SNV", "DEL", "DEL", "SNV"]
    assert set(df["status"]) == {"tumour_only"}
    assert df[["n_depth", "n_alt", "n_vaf", "fisher_p", "purity"]].isna().all().all()
    _, metadata = read_parquet(tmp_path / "variants.parquet")
    assert metadata["oncoweave_classifyVersion"] == __version__
    assert "bcftools/csqVersion" in metadata


def test_cli_export_variants(tmp_path, fasta_path, capsys):
    vcf = write_annotated(tmp_path / "annotated.vcf")
    output = tmp_path / "v.parquet"
    code = main(["export-variants", "--vcf", str(vcf), "--output", str(output),
                 "--patient", "P1", "--tumour", "TUM", "--normal", "NOR",
                 "--fasta", str(fasta_path), "--contig-map", str(REGIONS),
                 "--pair-identity", "pass", "--metadata", "config_hash=ff"])
    assert code == 0
    assert "5 variants, 4 somatic PASS" in capsys.readouterr().out
    df, metadata = read_parquet(output)
    assert metadata["config_hash"] == "ff" and df["purity"].isna().all()


# --- generic Parquet I/O -----------------------------------------------------------------------

SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False),
                    pa.field("count", pa.int64()), pa.field("score", pa.float64())])


def test_parquet_round_trip_keeps_values_nulls_and_metadata(tmp_path):
    df = pd.DataFrame({"score": [0.5, None], "id": ["a", "b"], "count": [3, None]})
    write_parquet(df, tmp_path / "t.parquet", SCHEMA, {"config_hash": "abc", "tool": "x 1.0"})
    read_back, metadata = read_parquet(tmp_path / "t.parquet", SCHEMA)
    assert list(read_back.columns) == ["id", "count", "score"]
    assert read_back["count"].tolist() == [3, pd.NA]
    assert read_back["score"].isna().tolist() == [False, True]
    assert metadata == {"oncoweave_version": __version__, "config_hash": "abc", "tool": "x 1.0"}


@pytest.mark.parametrize("df, message", [
    (pd.DataFrame({"id": ["a"], "score": [1.0]}), r"missing column\(s\) count"),
    (pd.DataFrame({"id": ["a"], "count": [1], "score": [1.0], "x": [0]}),
     r"unexpected column\(s\) x"),
    (pd.DataFrame({"id": [None], "count": [1], "score": [1.0]}),
     r"row 0, column 'id': null in a non-nullable column"),
    (pd.DataFrame({"id": ["a"], "count": ["three"], "score": [1.0]}),
     r"column 'count': values do not fit type int64"),
])
def test_bad_table_is_a_clear_error_and_leaves_no_file(tmp_path, df, message):
    with pytest.raises(InputError, match=r"t\.parquet.*" + message):
        write_parquet(df, tmp_path / "t.parquet", SCHEMA)
    assert list(tmp_path.iterdir()) == []


def test_read_parquet_checks_the_expected_schema(tmp_path):
    write_parquet(pd.DataFrame({"id": ["a"], "count": [1], "score": [1.0]}),
                  tmp_path / "t.parquet", SCHEMA)
    other = pa.schema([pa.field("id", pa.string(), nullable=False),
                       pa.field("count", pa.float64()), pa.field("score", pa.float64())])
    with pytest.raises(InputError, match="count: expected double, found int64"):
        read_parquet(tmp_path / "t.parquet", other)


def test_provenance_from_vcf_header(tmp_path):
    vcf = tmp_path / "h.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##source=freeBayes v1.3.6\n"
                   "##bcftools_normVersion=1.16+htslib-1.16\n"
                   "##bcftools_normCommand=norm -m -any; Date=today\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    assert provenance_from_vcf_header(vcf) == {"bcftools_normVersion": "1.16+htslib-1.16",
                                               "source": "freeBayes v1.3.6"}
