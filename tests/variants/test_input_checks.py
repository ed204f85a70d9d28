"""Input checks beyond the file formats: a BAM's sort order, implausible values, read counts and
sample columns of a VCF, and FASTQ mates that do not pair read by read."""

from pathlib import Path

import pysam
import pytest

from helpers import indexed_bundled_reference
from oncoweave.core.errors import InputError
from oncoweave.variants.inputs import check_bam


@pytest.fixture(scope="module")
def reference_fasta(tmp_path_factory) -> Path:
    return indexed_bundled_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def reference_contigs(reference_fasta) -> dict[str, int]:
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        return dict(zip(fasta.references, fasta.lengths, strict=True))


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


def test_unsorted_records_without_a_sort_order_are_refused(tmp_path, reference_contigs):
    path = write_bam(tmp_path / "plain.bam", reference_contigs, [(0, 100), (1, 50), (0, 300)],
                     None)
    assert sort_error(path, reference_contigs) == (
        f"{path}: is not coordinate-sorted (no SO tag; its record 3 is out of coordinate "
        f"order): sort it with `samtools sort -o sorted.bam {path}`")


@pytest.mark.parametrize("sort_order", [None, "unknown", "coordinate"])
def test_sorted_records_pass(tmp_path, reference_contigs, sort_order):
    path = write_bam(tmp_path / "sorted.bam", reference_contigs, [(0, 100), (0, 100), (1, 5)],
                     sort_order)
    check_bam(path, reference_contigs)
