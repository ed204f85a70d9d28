"""Input checks beyond the file formats: a BAM's sort order, implausible values, read counts and
sample columns of a VCF, and FASTQ mates that do not pair read by read."""

from pathlib import Path

import pysam
import pytest

from helpers import CALL_FORMATS, write_vcf_gz
from oncoweave.core.errors import InputError
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.variants.import_summary import import_tumour_columns, write_import_summaries
from oncoweave.variants.inputs import check_bam, import_vcf

CONTIG_MAP = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")


# --- BAM sort order --------------------------------------------------------------------------

def write_bam(path: Path, contigs: dict[str, int], positions: list[tuple[int, int]],
              sort_order: str | None) -> Path:
    """A BAM of 20-bp reads at (contig index, 0-based start), in the order given."""
    header = {"HD": {"VN": "1.6", **({"SO": sort_order} if sort_order else {})},
              "SQ": [{"SN": name, "LN": length} for name, length in contigs.items()]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for number, (contig, start) in enumerate(positions):
            read = pysam.AlignedSegment(bam.header)
            read.query_name, read.query_sequence = f"read{number}", "A" * 20
            read.reference_id, read.reference_start, read.cigarstring = contig, start, "20M"
            read.query_qualities, read.mapping_quality = pysam.qualitystring_to_array("I" * 20), 60
            bam.write(read)
    return path


def sort_error(path: Path, reference_contigs) -> str:
    with pytest.raises(InputError) as caught:
        check_bam(path, reference_contigs)
    return str(caught.value)


def test_name_sorted_bam_is_refused_with_the_fix(tmp_path, reference_contigs):
    path = write_bam(tmp_path / "named.bam", reference_contigs, [(0, 500), (0, 100)], "queryname")
    assert sort_error(path, reference_contigs) == (
        f"{path}: is not coordinate-sorted (SO:queryname): sort it with "
        f"`samtools sort -o sorted.bam {path}`")


@pytest.mark.parametrize("sort_order, why", [
    (None, "no SO tag"), ("unknown", "SO:unknown"),
    ("coordinate", "although its header says SO:coordinate"),
])
def test_unsorted_records_are_refused_whatever_the_header_says(tmp_path, reference_contigs,
                                                               sort_order, why):
    path = write_bam(tmp_path / "plain.bam", reference_contigs, [(0, 100), (1, 50), (0, 300)],
                     sort_order)
    assert sort_error(path, reference_contigs) == (
        f"{path}: is not coordinate-sorted ({why}; its record 3 is out of coordinate "
        f"order): sort it with `samtools sort -o sorted.bam {path}`")


@pytest.mark.parametrize("order, refused", [([(0, 100), (0, 300), (1, 5)], False),
                                           ([(0, 300), (0, 100), (1, 5)], True)])
def test_cram_records_are_checked_with_the_reference(tmp_path, reference_fasta,
                                                    reference_contigs, order, refused):
    bam = write_bam(tmp_path / "reads.bam", reference_contigs, order, "coordinate")
    cram = tmp_path / "reads.cram"
    pysam.samtools.view("--no-PG", "-C", "-T", str(reference_fasta), "-o", str(cram), str(bam),
                        catch_stdout=False)
    if not refused:
        check_bam(cram, reference_contigs, reference_fasta)
        return
    with pytest.raises(InputError, match=r"reads\.cram: is not coordinate-sorted \(although its "
                       r"header says SO:coordinate; its record 2 is out of coordinate order\)"):
        check_bam(cram, reference_contigs, reference_fasta)
    check_bam(cram, reference_contigs)  # without the reference only the header can be judged


@pytest.mark.parametrize("sort_order", [None, "unknown", "coordinate"])
def test_sorted_records_pass(tmp_path, reference_contigs, sort_order):
    path = write_bam(tmp_path / "sorted.bam", reference_contigs, [(0, 100), (0, 100), (1, 5)],
                     sort_order)
    check_bam(path, reference_contigs)


# --- VCF import: read counts, implausible depths, the one sample column ----------------------

def write_tp53_calls(path: Path, fasta: Path, samples: dict[str, dict], formats=CALL_FORMATS,
                     count: int = 2) -> Path:
    """``count`` SNVs on the TP53 contig with the reference's REF, each sample with ``samples``'
    FORMAT values."""
    with pysam.FastaFile(str(fasta)) as reference:
        bases = reference.fetch("chr17_TP53", 35087, 35087 + count).upper()
    records = [{"contig": "chr17_TP53", "pos": 35088 + k, "alleles": (ref, "A" if ref != "A"
                                                                       else "G"),
                "samples": samples} for k, ref in enumerate(bases)]
    return write_vcf_gz(path, records, contigs={"chr17_TP53": None}, samples=list(samples),
                        formats=formats)


def run_import(source: Path, output: Path, fasta: Path, **options):
    return import_vcf(source, output, reference_fasta=fasta, contig_map=CONTIG_MAP,
                      tumour_sample="P1-T", require_read_counts=True, **options)


def test_depth_beyond_any_sequencing_is_refused(tmp_path, reference_fasta):
    source = write_tp53_calls(tmp_path / "calls.vcf.gz", reference_fasta,
                              {"P1-T": {"GT": (0, 1), "AD": (60, 40), "DP": 2_147_483_000}})
    with pytest.raises(InputError) as caught:
        run_import(source, tmp_path / "out.vcf.gz", reference_fasta)
    record = str(caught.value).split(": ")[1]
    assert str(caught.value) == (
        f"{source}: {record}: sample P1-T: FORMAT/DP is 2,147,483,000 reads, above 10,000,000, "
        "more than any sequencing gives: the value is corrupt (an overflow or a placeholder?); "
        "fix or re-export the file")
    assert record.startswith("record chr17_TP53:35088 ")
    assert not (tmp_path / "out.vcf.gz").exists()


def test_deep_but_plausible_depth_passes(tmp_path, reference_fasta):
    source = write_tp53_calls(tmp_path / "calls.vcf.gz", reference_fasta,
                              {"P1-T": {"GT": (0, 1), "AD": (60_000, 40_000), "DP": 100_000}})
    assert run_import(source, tmp_path / "out.vcf.gz", reference_fasta).records_written == 2


def test_vcf_without_allele_depths_is_refused_at_import(tmp_path, reference_fasta):
    source = write_tp53_calls(tmp_path / "calls.vcf.gz", reference_fasta,
                              {"P1-T": {"GT": (0, 1), "DP": 80}}, formats=[CALL_FORMATS[0],
                                                                           CALL_FORMATS[2]])
    with pytest.raises(InputError) as caught:
        run_import(source, tmp_path / "out.vcf.gz", reference_fasta)
    assert str(caught.value) == (
        f"{source}: has no FORMAT/AD (reads per allele; its FORMAT fields: GT, DP): the calls "
        "cannot be classified without read counts; export them with allele depths (bcftools "
        "mpileup -a AD,DP; GATK/Mutect2 and most somatic callers write AD)")
    assert not (tmp_path / "out.vcf.gz").exists()


def test_one_sample_vcf_of_another_name_is_the_tumour(tmp_path, reference_fasta, caplog):
    source = write_tp53_calls(tmp_path / "calls.vcf.gz", reference_fasta,
                              {"TUMOR": {"GT": (0, 1), "AD": (60, 40), "DP": 100}})
    output = tmp_path / "P1.vcf.gz"
    summary = run_import(source, output, reference_fasta)
    assert summary.tumour_column == "TUMOR" and summary.records_written == 2
    assert f"{source}: its one sample column 'TUMOR' is not named 'P1-T' (the sample sheet's " \
           "sample): read as the tumour" in caplog.text
    with pysam.VariantFile(str(output)) as imported:
        assert list(imported.header.samples) == ["P1-T"]
        assert [record.samples["P1-T"]["AD"] for record in imported] == [(60, 40)] * 2
    write_import_summaries({"P1": (source, summary)}, tmp_path / "import_summary.tsv")
    header, row = (tmp_path / "import_summary.tsv").read_text().splitlines()
    assert header.endswith("\tnote\ttumour_column") and row.endswith("\t\tTUMOR")
    assert import_tumour_columns(tmp_path) == {"P1": "TUMOR"}


def test_two_sample_vcf_of_other_names_is_still_refused(tmp_path, reference_fasta):
    counts = {"GT": (0, 1), "AD": (60, 40), "DP": 100}
    source = write_tp53_calls(tmp_path / "calls.vcf.gz", reference_fasta,
                              {"TUMOR": counts, "NORMAL": counts})
    with pytest.raises(InputError) as caught:
        import_vcf(source, tmp_path / "out.vcf.gz", reference_fasta=reference_fasta,
                   contig_map=CONTIG_MAP, tumour_sample="P1-T", normal_sample="P1-N")
    assert str(caught.value) == (
        f"{source}: has no sample column 'P1-T' (its columns: TUMOR, NORMAL): rename its "
        "columns to the sample sheet's ids (bcftools reheader --samples), or give import-vcf "
        "--tumour-column/--normal-column")


def test_one_sample_vcf_with_a_normal_on_the_sheet_is_refused(tmp_path, reference_fasta):
    source = write_tp53_calls(tmp_path / "calls.vcf.gz", reference_fasta,
                              {"TUMOR": {"GT": (0, 1), "AD": (60, 40), "DP": 100}})
    with pytest.raises(InputError, match="has no sample column 'P1-T' \\(its columns: TUMOR\\)"):
        import_vcf(source, tmp_path / "out.vcf.gz", reference_fasta=reference_fasta,
                   contig_map=CONTIG_MAP, tumour_sample="P1-T", normal_sample="P1-N")


# --- FASTQ mates read by read ----------------------------------------------------------------

def write_fastq(path: Path, names: list[str]) -> Path:
    import gzip

    with gzip.open(path, "wt") as handle:
        handle.writelines(f"@{name}\nACGTACGT\n+\nIIIIIIII\n" for name in names)
    return path


def test_mates_of_another_sample_are_refused_at_the_first_mismatch(tmp_path):
    from oncoweave.variants.fastq import check_fastq_pair

    r1 = write_fastq(tmp_path / "A_R1.fq.gz", [f"A:1:{k} 1:N:0:1" for k in range(5)])
    r2 = write_fastq(tmp_path / "B_R2.fq.gz", [f"A:1:{k} 2:N:0:1" for k in range(2)]
                     + [f"B:7:{k} 2:N:0:1" for k in range(3)])
    with pytest.raises(InputError) as caught:
        check_fastq_pair(r1, r2)
    assert str(caught.value) == (
        f"{r2}: record 3 is read 'B:7:0' but record 3 of its mate {r1} is 'A:1:2': the two files "
        "do not pair (R1 and R2 of different samples or runs?)")


def test_mate_suffixes_and_comments_do_not_matter(tmp_path):
    from oncoweave.variants.fastq import check_fastq_pair

    r1 = write_fastq(tmp_path / "R1.fq.gz", [f"SRR1.{k}/1" for k in range(3)])
    r2 = write_fastq(tmp_path / "R2.fq.gz", [f"SRR1.{k}/2 length=8" for k in range(3)])
    first, second = check_fastq_pair(r1, r2)
    assert first.records == second.records == 3
