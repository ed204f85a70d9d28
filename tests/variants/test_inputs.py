"""Input-file content checks (BAM, VCF, FASTQ) and the import of a user VCF."""

import gzip
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from helpers import TEST_DATA, write_vcf_gz
from oncoweave.cli import main as cli
from oncoweave.core.errors import InputError
from oncoweave.core.io import open_vcf
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.variants.fastq import check_fastq, check_fastq_pair
from oncoweave.variants.import_summary import ImportSummary, import_notes, write_import_summaries
from oncoweave.variants.inputs import (
    GRCH38_LENGTHS,
    check_bam,
    check_vcf_contigs,
    import_vcf,
)

HG19_BAM = TEST_DATA / "bad_inputs" / "NA06984_T.hg19_head.bam"
CONTIG_MAP = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """The real `oncoweave` entry point, limited to this module's commands."""
    original = cli.COMMAND_MODULES
    cli.COMMAND_MODULES = ("oncoweave.cli.variants",)
    try:
        code = cli.main(argv)
    finally:
        cli.COMMAND_MODULES = original
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- FASTQ -----------------------------------------------------------------------------------

def fastq_text(records: int, read_length: int, start: int = 0) -> str:
    return "".join(f"@read{i}/1\n{'ACGT' * (read_length // 4)}\n+\n{'I' * (read_length // 4 * 4)}\n"
                   for i in range(start, start + records))


def write_gzip(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    return path


def fastq_error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        check_fastq(path)
    return str(caught.value)


@pytest.mark.parametrize("compressed", [True, False])
def test_fastq_counts_records_and_bases(tmp_path, compressed):
    text = fastq_text(records=300, read_length=40)
    path = tmp_path / "reads.fq"
    if compressed:
        write_gzip(path, text)
    else:
        path.write_text(text)
    summary = check_fastq(path)
    lines = text.splitlines()
    assert summary.records == len(lines) // 4
    assert summary.bases == sum(len(line) for line in lines[1::4])


def test_fastq_records_spanning_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("oncoweave.variants.fastq.FASTQ_CHUNK_BYTES", 37)  # cuts records and lines
    path = write_gzip(tmp_path / "reads.fq.gz", fastq_text(records=50, read_length=28))
    assert (check_fastq(path).records, check_fastq(path).bases) == (50, 50 * 28)


def test_truncated_gzip_fastq(tmp_path):
    whole = write_gzip(tmp_path / "whole.fq.gz", fastq_text(records=2000, read_length=100))
    truncated = tmp_path / "truncated.fq.gz"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert fastq_error(truncated).startswith(f"{truncated}: truncated gzip file")


def test_corrupt_gzip_fastq(tmp_path):
    path = write_gzip(tmp_path / "corrupt.fq.gz", fastq_text(records=2000, read_length=100))
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 16] = bytes(16)
    path.write_bytes(bytes(data))
    assert fastq_error(path).startswith(f"{path}: corrupt gzip data")


NOT_FASTQ = "; not a valid FASTQ file"


@pytest.mark.parametrize("damage, expected", [
    (lambda lines: lines.__setitem__(4, "read1"),
     "record 2 (lines 5-8): header line does not start with '@'" + NOT_FASTQ),
    (lambda lines: lines.__setitem__(10, "-"),
     "record 3 (lines 9-12): third line does not start with '+'" + NOT_FASTQ),
    (lambda lines: lines.__setitem__(7, "II"),
     "record 2 (lines 5-8): sequence and quality lengths differ" + NOT_FASTQ),
    (lambda lines: lines.pop(), "ends inside record 3 (3 of its 4 lines): the file is truncated"),
])
def test_broken_fastq_records(tmp_path, damage, expected):
    lines = fastq_text(records=3, read_length=20).splitlines()
    damage(lines)
    path = tmp_path / "broken.fq"
    path.write_text("\n".join(lines) + "\n")
    assert fastq_error(path) == f"{path}: {expected}"


def test_empty_fastq(tmp_path):
    path = write_gzip(tmp_path / "empty.fq.gz", "")
    assert fastq_error(path) == f"{path}: contains no reads"


def test_fastq_pair_with_unequal_counts(tmp_path):
    first = write_gzip(tmp_path / "r1.fq.gz", fastq_text(records=10, read_length=20))
    second = write_gzip(tmp_path / "r2.fq.gz", fastq_text(records=9, read_length=20))
    with pytest.raises(InputError) as caught:
        check_fastq_pair(first, second)
    assert str(caught.value) == f"{second}: 9 records but its mate {first} has 10: the two " \
                                "files do not pair"


def test_check_fastq_cli(tmp_path, capsys):
    first = write_gzip(tmp_path / "r1.fq.gz", fastq_text(records=10, read_length=20))
    second = write_gzip(tmp_path / "r2.fq.gz", fastq_text(records=10, read_length=20))
    code, out, _ = run_cli(["check-fastq", str(first), str(second)], capsys)
    assert code == 0
    assert out == f"{first} + {second}: 10 read pairs, 400 bases\n"


def write_truncated_fastq(tmp_path: Path) -> Path:
    """A gzip FASTQ cut off mid-stream."""
    truncated = tmp_path / "t.fq.gz"
    truncated.write_bytes(write_gzip(tmp_path / "w.fq.gz",
                                     fastq_text(records=500, read_length=60)).read_bytes()[:900])
    return truncated


def test_check_fastq_cli_error_is_one_labelled_line(tmp_path, capsys):
    truncated = write_truncated_fastq(tmp_path)
    code, out, err = run_cli(["check-fastq", str(truncated), "--label", "samples.tsv row 3"],
                             capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"oncoweave check-fastq: error: samples.tsv row 3: {truncated}: "
                          "truncated gzip file")
    assert err.count("\n") == 1


def test_check_fastq_module_entry_in_the_alignment_environment(tmp_path):
    """`python -m oncoweave.cli.variants` (the check align_reads runs first, by hand): the same one
    labelled line, without importing the other stages (their libraries are not in the alignment
    environment)."""
    truncated = write_truncated_fastq(tmp_path)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oncoweave.cli.variants", "check-fastq",
         str(truncated), "--label", "samples.tsv, row 3"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    [error] = [line for line in lines if not line.startswith("import time:")]
    assert error.startswith(f"oncoweave check-fastq: error: samples.tsv, row 3: {truncated}: "
                            "truncated gzip file")
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
    assert "oncoweave.core.io" in imported  # (the check's own imports are logged)
    assert not {"allel", "xgboost", "torch", "oncoweave.variants.classify"} & imported


# --- BAM -------------------------------------------------------------------------------------

def write_bam_header(path: Path, contigs: dict[str, int]) -> Path:
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": name, "LN": length}
                                          for name, length in contigs.items()]}
    with pysam.AlignmentFile(str(path), "wb", header=header):
        pass
    return path


def bam_error(path: Path, reference_contigs: dict[str, int]) -> str:
    with pytest.raises(InputError) as caught:
        check_bam(path, reference_contigs)
    return str(caught.value)


def test_bam_on_the_reference_passes(tmp_path, reference_contigs):
    extra = {"chrM_decoy": 1000}  # contigs beyond the reference do no harm
    check_bam(write_bam_header(tmp_path / "ok.bam", reference_contigs | extra), reference_contigs)


def test_text_file_is_not_a_bam(tmp_path, reference_contigs):
    path = tmp_path / "reads.bam"
    path.write_text("this is not a BAM\n")
    assert bam_error(path, reference_contigs).startswith(f"{path}: not a BAM/CRAM file")


def test_hg19_bam_with_contig_17(reference_contigs):
    message = bam_error(HG19_BAM, reference_contigs)
    assert message.startswith(f"{HG19_BAM}: its header does not match the reference: ")
    assert "absent from it (it has 17)" in message
    assert "GRCh37/hg19: 17 is 81,195,210 bp" in message
    assert "names chromosomes like '17' where the reference uses 'chr17'" in message


def test_whole_grch38_bam_against_region_reference(tmp_path, reference_contigs):
    chromosomes = {f"chr{key}": length for key, length in GRCH38_LENGTHS.items()}
    path = write_bam_header(tmp_path / "grch38.bam", chromosomes)
    message = bam_error(path, reference_contigs)
    assert "not on the reference's gene-region contigs (chr17_TP53)" in message
    assert "point `reference:` in the config at the full GRCh38 FASTA" in message


def test_bam_contig_of_other_length(tmp_path, reference_contigs):
    contigs = dict(reference_contigs, chr7_EGFR=reference_contigs["chr7_EGFR"] - 1)
    message = bam_error(write_bam_header(tmp_path / "short.bam", contigs), reference_contigs)
    assert f"contig chr7_EGFR is {contigs['chr7_EGFR']:,} bp in the file but " \
           f"{reference_contigs['chr7_EGFR']:,} bp in the reference" in message


# --- VCF contigs and import ------------------------------------------------------------------

VCF_HEADER = """##fileformat=VCFv4.2
{contigs}##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=SOMATIC,Number=0,Type=Flag,Description="Somatic">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allele depths">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNORMAL\tTUMOR
"""


def write_vcf(path: Path, records: list[str], contigs: dict[str, int] | None = None) -> Path:
    contig_lines = "".join(f"##contig=<ID={name},length={length}>\n"
                           for name, length in (contigs or {}).items())
    path.write_text(VCF_HEADER.format(contigs=contig_lines)
                    + "".join(f"{record}\tGT:AD\t0/0:90,0\t0/1:60,40\n" for record in records))
    return path


R175H_GRCH38 = "chr17\t7675088\trs28934578\tC\tT\t99\tPASS\tDP=300;SOMATIC"


def reference_base(fasta: Path, contig: str, pos: int) -> str:
    with pysam.FastaFile(str(fasta)) as reference:
        return reference.fetch(contig, pos - 1, pos)


def test_vcf_on_ensembl_contig_names(tmp_path, reference_contigs):
    path = write_vcf(tmp_path / "calls.vcf", ["17\t7675088\t.\tC\tT\t99\tPASS\tDP=300"])
    with pytest.raises(InputError) as caught:
        check_vcf_contigs(path, reference_contigs, CONTIG_MAP)
    message = str(caught.value)
    assert message.startswith(f"{path}: records on contig '17', which is neither")
    assert "names chromosomes like '17' (Ensembl/GRCh37 style) where the reference uses " \
           "'chr17'" in message


def test_vcf_declaring_grch37_lengths(tmp_path, reference_contigs):
    path = write_vcf(tmp_path / "calls.vcf", [R175H_GRCH38], contigs={"chr17": 81195210})
    with pytest.raises(InputError, match="declares chr17 as 81,195,210 bp, the GRCh37/hg19"):
        check_vcf_contigs(path, reference_contigs, CONTIG_MAP)


def test_vcf_contigs_counted(tmp_path, reference_contigs):
    records = [R175H_GRCH38, "chr1\t1000000\t.\tA\tG\t50\tPASS\tDP=10",
               "chr17_TP53\t35088\t.\tC\tT\t99\tPASS\tDP=300"]
    path = write_vcf(tmp_path / "calls.vcf", records)
    assert check_vcf_contigs(path, reference_contigs, CONTIG_MAP) == {
        "chr17": 1, "chr1": 1, "chr17_TP53": 1}


def test_full_reference_refuses_unknown_chromosome(tmp_path):
    path = write_vcf(tmp_path / "calls.vcf", [R175H_GRCH38])
    with pytest.raises(InputError, match="records on contig 'chr17'"):
        check_vcf_contigs(path, {"chr1": GRCH38_LENGTHS["1"]}, ContigMap())


PLAIN_GZIP_MESSAGE = ("is gzip but not bgzip-compressed: recompress it with `bgzip` (zcat file | "
                      "bgzip > file.vcf.gz) and index it with `tabix -p vcf`")


def test_plain_gzip_vcf_is_one_line_not_a_seek_traceback(tmp_path, reference_fasta,
                                                         reference_contigs):
    text = write_vcf(tmp_path / "calls.vcf", [R175H_GRCH38]).read_bytes()
    plain = tmp_path / "calls.vcf.gz"
    plain.write_bytes(gzip.compress(text))
    for check in (lambda: check_vcf_contigs(plain, reference_contigs, CONTIG_MAP),
                  lambda: import_vcf(plain, tmp_path / "out.vcf.gz",
                                     reference_fasta=reference_fasta, contig_map=CONTIG_MAP,
                                     tumour_sample="TUMOR", normal_sample="NORMAL")):
        with pytest.raises(InputError) as caught:
            check()
        assert str(caught.value) == f"{plain}: {PLAIN_GZIP_MESSAGE}"
    assert not (tmp_path / "out.vcf.gz").exists()
    with pytest.raises(InputError) as caught:
        open_vcf(plain)
    assert str(caught.value) == f"{plain}: {PLAIN_GZIP_MESSAGE}"
    # The same records bgzipped pass.
    bgzipped = write_vcf_gz(tmp_path / "bgzipped.vcf.gz", [
        {"contig": "chr17", "pos": 7675088, "alleles": ("C", "T")}], contigs={"chr17": None})
    assert check_vcf_contigs(bgzipped, reference_contigs, CONTIG_MAP) == {"chr17": 1}


def imported_records(path: Path) -> tuple[list[str], list[tuple]]:
    with pysam.VariantFile(str(path)) as variants:
        return list(variants.header.samples), [
            (r.chrom, r.pos, r.ref, r.alts, r.id, *(s["AD"] for s in r.samples.values()),
             "SOMATIC" in r.info) for r in variants]


def test_import_r175h_lands_on_tp53_contig(tmp_path, reference_fasta):
    brca1_pos = 43_045_712
    brca1_ref = reference_base(reference_fasta, "chr17_BRCA1", brca1_pos - 43_000_000)
    records = [R175H_GRCH38, f"chr17\t{brca1_pos}\t.\t{brca1_ref}\tG\t50\tPASS\tDP=80",
               "chr17\t60000000\t.\tA\tG\t50\tPASS\tDP=80",
               f"chr17\t{brca1_pos + 1}\t.\tN\t.\t.\t.\t."]
    source = write_vcf(tmp_path / "published.vcf", records)
    output = tmp_path / "out" / "P1.vcf.gz"
    output.parent.mkdir()
    summary = import_vcf(source, output, reference_fasta=reference_fasta, contig_map=CONTIG_MAP,
                         tumour_sample="P1-T", normal_sample="P1-N", tumour_column="TUMOR",
                         normal_column="NORMAL")
    assert summary == ImportSummary(records_read=4, records_written=2, outside_regions=1,
                                    without_alt=1)
    samples, converted = imported_records(output)
    assert samples == ["P1-T", "P1-N"]
    assert converted[0] == ("chr17_TP53", 35088, "C", ("T",), "rs28934578", (60, 40), (90, 0),
                            True)
    assert converted[1][:2] == ("chr17_BRCA1", brca1_pos - 43_000_000)
    assert Path(f"{output}.tbi").exists()
    assert sorted(p.name for p in output.parent.iterdir()) == ["P1.vcf.gz", "P1.vcf.gz.tbi"]


def test_import_tumour_only_in_contig_coordinates(tmp_path, reference_fasta):
    source = write_vcf(tmp_path / "calls.vcf", ["chr17_TP53\t35088\t.\tC\tT\t99\tPASS\tDP=300"])
    output = tmp_path / "T.vcf.gz"
    import_vcf(source, output, reference_fasta=reference_fasta, contig_map=CONTIG_MAP,
               tumour_sample="TUMOR")
    samples, converted = imported_records(output)
    assert samples == ["TUMOR"] and converted[0][:2] == ("chr17_TP53", 35088)


def test_import_ref_mismatch_names_record_and_leaves_nothing(tmp_path, reference_fasta):
    wrong = {"A", "C", "G", "T"} - {reference_base(reference_fasta, "chr17_TP53", 35088)}
    base = sorted(wrong)[0]
    source = write_vcf(tmp_path / "hg19.vcf", [f"chr17\t7675088\t.\t{base}\tT\t99\tPASS\tDP=3"])
    output = tmp_path / "out.vcf.gz"
    with pytest.raises(InputError) as caught:
        import_vcf(source, output, reference_fasta=reference_fasta, contig_map=CONTIG_MAP,
                   tumour_sample="TUMOR")
    assert str(caught.value).startswith(f"{source}: record chr17:7675088 {base}>T: REF is")
    assert "likely on another genome build" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hg19.vcf"]


def test_import_unknown_sample_column(tmp_path, reference_fasta):
    source = write_vcf(tmp_path / "calls.vcf", [R175H_GRCH38])
    with pytest.raises(InputError) as caught:
        import_vcf(source, tmp_path / "out.vcf.gz", reference_fasta=reference_fasta,
                   contig_map=CONTIG_MAP, tumour_sample="P1-T")
    assert str(caught.value).startswith(f"{source}: has no sample column 'P1-T' (its columns: "
                                        "NORMAL, TUMOR)")


def test_import_unsorted_input(tmp_path, reference_fasta):
    next_base = reference_base(reference_fasta, "chr17_TP53", 35089)
    alt = sorted({"A", "C", "G", "T"} - {next_base})[0]
    second = f"chr17\t7675089\t.\t{next_base}\t{alt}\t99\tPASS\tDP=300"
    source = write_vcf(tmp_path / "calls.vcf", [second, R175H_GRCH38])
    with pytest.raises(InputError, match="not sorted by position"):
        import_vcf(source, tmp_path / "out.vcf.gz", reference_fasta=reference_fasta,
                   contig_map=CONTIG_MAP, tumour_sample="TUMOR")
    assert not (tmp_path / "out.vcf.gz").exists()


def test_import_vcf_cli(tmp_path, reference_fasta, capsys):
    source = write_vcf(tmp_path / "published.vcf", [R175H_GRCH38])
    output = tmp_path / "P1.vcf.gz"
    code, out, _ = run_cli(["import-vcf", str(source), str(output), "--reference",
                            str(reference_fasta), "--regions",
                            str(BUNDLED_REFERENCE_DIR / "regions.tsv"), "--tumour-sample", "P1-T",
                            "--tumour-column", "TUMOR"], capsys)
    assert code == 0
    assert out == f"{source}: 1 records read, 1 written to {output}, 0 outside the reference " \
                  "regions, 0 without an ALT allele\n"
    assert imported_records(output)[1][0][:2] == ("chr17_TP53", 35088)


# --- A file that yields no usable record is an error, not a patient without drivers ----------

# TP53 R175H, R248Q and EGFR L858R, T790M at their GRCh37/hg19 positions (VCF order: chr7 first).
HG19_DRIVERS = [("chr7", 55249071, "C", "T"), ("chr7", 55259515, "T", "G"),
                ("chr17", 7577538, "C", "T"), ("chr17", 7578406, "C", "T")]


def write_calls(path: Path, calls: list[tuple[str, int, str, str]]) -> Path:
    """A tumour-only VCF.gz of (chrom, pos, ref, alt) with no ##contig lengths (as many
    pipelines write them, so the header cannot betray the build)."""
    contigs = {chrom: None for chrom, *_ in calls} or {"chr17": None}
    return write_vcf_gz(path, [{"contig": chrom, "pos": pos, "alleles": (ref, alt),
                                "samples": {"P1-T": {"GT": (0, 1)}}}
                               for chrom, pos, ref, alt in calls],
                        contigs=contigs, samples=["P1-T"], formats=[("GT", 1, "String", "Genotype")])


def tp53_calls(fasta: Path, count: int) -> list[tuple[str, int, str, str]]:
    """``count`` SNVs with the right REF inside the GRCh38 TP53 region, in chromosome positions."""
    calls = []
    for pos in range(7_675_088, 7_675_088 + count):
        ref = reference_base(fasta, "chr17_TP53", pos - 7_640_000)
        calls.append(("chr17", pos, ref, sorted({"A", "C", "G", "T"} - {ref})[0]))
    return calls


def import_calls(source: Path, output: Path, fasta: Path, **options):
    return import_vcf(source, output, reference_fasta=fasta, contig_map=CONTIG_MAP,
                      tumour_sample="P1-T", **options)


def test_hg19_vcf_without_contig_lengths_is_refused_as_grch37(tmp_path, reference_fasta):
    source = write_calls(tmp_path / "hg19.vcf.gz", HG19_DRIVERS)
    output = tmp_path / "out" / "P1.vcf.gz"
    with pytest.raises(InputError) as caught:
        import_calls(source, output, reference_fasta)
    message = str(caught.value)
    assert message.startswith(f"{source}: none of its records is usable: 4 records read, 0 kept "
                              "(4 outside the reference regions, 0 without an ALT allele).")
    assert "4 of the dropped positions fall in EGFR, TP53 at their GRCh37/hg19 coordinates " \
           "(e.g. chr7:55,249,071)" in message
    assert "inputs.allow_empty_calls" in message and "\n" not in message
    assert not output.parent.exists() or not list(output.parent.iterdir())


def test_all_records_outside_the_regions_is_refused(tmp_path, reference_fasta):
    # GRCh38 positions, but none in a gene region (and none where a driver gene lies on hg19).
    off_target = [("chr1", 1_000_000, "A", "G"), ("chr13", 20_000_000, "C", "T"),
                  ("chr17", 60_000_000, "A", "G")]
    source = write_calls(tmp_path / "offtarget.vcf.gz", off_target)
    with pytest.raises(InputError) as caught:
        import_calls(source, tmp_path / "out.vcf.gz", reference_fasta)
    message = str(caught.value)
    assert message.startswith(f"{source}: none of its records is usable: 3 records read, 0 kept "
                              "(3 outside the reference regions, 0 without an ALT allele).")
    assert "GRCh37" not in message and "whole-exome/genome VCF" in message
    assert not (tmp_path / "out.vcf.gz").exists()


def test_header_only_vcf_is_refused(tmp_path, reference_fasta):
    source = write_calls(tmp_path / "header_only.vcf.gz", [])
    with pytest.raises(InputError, match=r"holds no variant record \(header only\)") as caught:
        import_calls(source, tmp_path / "out.vcf.gz", reference_fasta)
    assert str(caught.value).startswith(f"{source}: ")
    assert not (tmp_path / "out.vcf.gz").exists()


def test_most_records_dropped_is_refused(tmp_path, reference_fasta):
    source = write_calls(tmp_path / "mostly_hg19.vcf.gz",
                         HG19_DRIVERS[:3] + tp53_calls(reference_fasta, 1))
    with pytest.raises(InputError) as caught:
        import_calls(source, tmp_path / "out.vcf.gz", reference_fasta)
    assert str(caught.value).startswith(
        f"{source}: most of its records are unusable: 4 records read, 1 kept (3 outside")
    assert "GRCh37/hg19" in str(caught.value)


@pytest.mark.parametrize("calls, headline", [
    (HG19_DRIVERS, "no usable variant records in calls.vcf.gz: 4 records read, 0 kept (4 outside "
                   "the reference regions, 0 without an ALT allele). 4 of the dropped positions"),
    ([], "no usable variant records in calls.vcf.gz: the file holds none (header only)."),
], ids=["hg19", "header-only"])
def test_allowed_empty_call_set_is_imported_with_its_reason(tmp_path, reference_fasta, calls,
                                                            headline):
    source = write_calls(tmp_path / "calls.vcf.gz", calls)
    output = tmp_path / "P1.vcf.gz"
    summary = import_calls(source, output, reference_fasta, allow_empty=True)
    assert (summary.records_read, summary.records_written) == (len(calls), 0)
    assert summary.note.startswith(headline)
    assert summary.note.endswith("Imported as given: the patient is listed under "
                                 "inputs.allow_empty_calls.")
    assert str(tmp_path) not in summary.note  # the file by name only
    assert imported_records(output) == (["P1-T"], [])
    write_import_summaries({"P1": (source, summary)}, tmp_path / "import_summary.tsv")
    assert import_notes(tmp_path) == {"P1": summary.note}


def test_a_small_minority_dropped_passes(tmp_path, reference_fasta):
    calls = tp53_calls(reference_fasta, 5)
    source = write_calls(tmp_path / "calls.vcf.gz", calls[:3] + [("chr17", 60_000_000, "A", "G")]
                         + calls[3:])
    summary = import_calls(source, tmp_path / "P1.vcf.gz", reference_fasta)
    assert summary == ImportSummary(records_read=6, records_written=5, outside_regions=1,
                                    without_alt=0, note="")
    write_import_summaries({"P1": (source, summary)}, tmp_path / "import_summary.tsv")
    assert import_notes(tmp_path) == {}


def test_grch38_exome_near_a_grch37_gene_span_is_not_called_hg19(tmp_path, reference_fasta):
    # One off-target record where TP53 lies on GRCh37, more calls inside the regions: GRCh38.
    calls = tp53_calls(reference_fasta, 1) + [("chr17", 7_578_406, "C", "T")] + [
        ("chr17", pos, "A", "G") for pos in (60_000_000, 60_000_100)]
    source = write_calls(tmp_path / "exome.vcf.gz", sorted(calls, key=lambda call: call[1]))
    with pytest.raises(InputError, match="most of its records are unusable") as caught:
        import_calls(source, tmp_path / "out.vcf.gz", reference_fasta)
    assert "GRCh37" not in str(caught.value) and "whole-exome/genome VCF" in str(caught.value)


def test_import_vcf_cli_refuses_an_empty_file_unless_allowed(tmp_path, reference_fasta, capsys):
    source = write_calls(tmp_path / "hg19.vcf.gz", HG19_DRIVERS)
    output = tmp_path / "P1.vcf.gz"
    argv = ["import-vcf", str(source), str(output), "--reference", str(reference_fasta),
            "--regions", str(BUNDLED_REFERENCE_DIR / "regions.tsv"), "--tumour-sample", "P1-T"]
    code, _, err = run_cli(argv, capsys)
    assert code != 0 and not output.exists()
    assert f"{source}: none of its records is usable" in err and "GRCh37/hg19" in err
    code, out, _ = run_cli(argv + ["--allow-empty"], capsys)
    assert code == 0 and output.exists()
    assert "warning: no usable variant records in hg19.vcf.gz: 4 records read, 0 kept" in out
