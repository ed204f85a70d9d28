"""One sample's alignment and QC (oncoweave.variants.alignment): the steps align_reads and link_bam
run, their logged commands, and the QC folder's layout that the shard jobs and MultiQC read."""

from __future__ import annotations

import gzip
import logging
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from helpers import REPO, TEST_DATA, indexed_bundled_reference
from oncoweave.core.errors import InputError
from oncoweave.variants import alignment, qc_files

READS = TEST_DATA / "1000g_tp53_reads"
TARGETS = REPO / "resources/reference/targets.bed"


def test_read_group_is_the_sample_name_with_bwa_escapes():
    assert alignment.read_group("P1-T") == "@RG\\tID:P1-T\\tSM:P1-T\\tPL:ILLUMINA\\tLB:P1-T"


def test_qc_files_are_named_after_the_sample_inside_its_folder():
    files = qc_files.qc_files("results/qc/mapped/P1-T", "P1-T")
    assert files["summary"] == "results/qc/mapped/P1-T/P1-T.mosdepth.summary.txt"
    assert files["thresholds"] == "results/qc/mapped/P1-T/P1-T.thresholds.bed.gz"
    assert files["stats"] == "results/qc/mapped/P1-T/P1-T.stats.txt"
    assert {Path(path).parent.as_posix() for path in files.values()} == {"results/qc/mapped/P1-T"}


def test_multiqc_inputs_are_the_listed_qc_files_of_each_folder(tmp_path):
    folders = []
    for sample in ("B", "A"):
        folder = tmp_path / sample
        folder.mkdir()
        for path in qc_files.qc_files(str(folder), sample).values():
            Path(path).touch()
        (folder / f"{sample}.regions.bed.gz.csi").touch()
        folders.append(folder)
    listed = [Path(path).relative_to(tmp_path).as_posix()
              for path in qc_files.multiqc_inputs(folders)]
    assert listed == [f"{sample}/{sample}{suffix}" for sample in ("B", "A")
                      for suffix in sorted(qc_files.MULTIQC_SUFFIXES)]


def test_pipe_logs_each_command_and_fails_like_pipefail(tmp_path, caplog):
    out = tmp_path / "out.txt"
    with open(tmp_path / "job.log", "w") as log, \
            caplog.at_level(logging.INFO, logger="oncoweave.variants.alignment"):
        commands = alignment.Commands(log)
        commands.pipe([["printf", "b\\na\\n"], ["sort"]], stdout=str(out))
        assert out.read_text() == "a\nb\n"
        assert [record.getMessage() for record in caplog.records] == [
            "running: printf 'b\\na\\n'", "running: sort"]
        with pytest.raises(subprocess.CalledProcessError):
            commands.pipe([["false"], ["cat"]], stdout=str(out))
        commands.run(["sh", "-c", "echo to-the-log >&2"])
    assert (tmp_path / "job.log").read_text() == "to-the-log\n"


def test_broken_fastq_is_named_with_its_label_before_any_tool_runs(tmp_path):
    data = (READS / "NA06984_T_1.fastq.gz").read_bytes()
    truncated = tmp_path / "R1.fastq.gz"
    truncated.write_bytes(data[: len(data) // 2])
    qc_dir = tmp_path / "qc"
    with pytest.raises(InputError, match=r"^samples.tsv, row 1 \(sample S\): .*R1.fastq.gz: "
                                         r"truncated gzip file"):
        alignment.align_pair(str(truncated), str(READS / "NA06984_T_2.fastq.gz"), sample="S",
                             label="samples.tsv, row 1 (sample S)", index_prefix="missing",
                             fasta="missing.fa", targets=str(TARGETS), bam=str(tmp_path / "S.bam"),
                             bai=str(tmp_path / "S.bam.bai"), qc_dir=str(qc_dir))
    assert not qc_dir.exists() and not (tmp_path / "S.bam").exists()


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """The real 1000 Genomes TP53 reads aligned onto the bundled reference, as align_reads does."""
    root = tmp_path_factory.mktemp("aligned")
    fasta = indexed_bundled_reference(root)
    prefix = root / "bwa" / alignment.BWA_INDEX_NAME
    prefix.parent.mkdir()
    subprocess.run(["bwa", "index", "-p", str(prefix), str(fasta)], check=True,
                   capture_output=True)
    stream = open(root / "align.log", "w")
    bam, qc_dir = root / "mapped/S-T.bam", root / "qc/mapped/S-T"
    bam.parent.mkdir()
    alignment.align_pair(str(READS / "NA06984_T_1.fastq.gz"), str(READS / "NA06984_T_2.fastq.gz"),
                         sample="S-T", index_prefix=str(prefix), fasta=str(fasta),
                         targets=str(TARGETS), bam=str(bam), bai=f"{bam}.bai", qc_dir=str(qc_dir),
                         threads=2, tmpdir=str(root), fastp_extra="--detect_adapter_for_pe",
                         commands=alignment.Commands(stream))
    stream.close()
    return {"root": root, "fasta": fasta, "bam": bam, "qc": qc_dir}


def test_aligned_pair_is_a_marked_indexed_bam_with_its_read_group(aligned):
    with pysam.AlignmentFile(str(aligned["bam"])) as bam:
        assert bam.header["RG"] == [{"ID": "S-T", "SM": "S-T", "PL": "ILLUMINA", "LB": "S-T"}]
        header = str(bam.header)
        programs = [entry["CL"].split() for entry in bam.header["PG"]]
        assert bam.check_index()
        reads = list(bam.fetch(until_eof=True))
    # One @PG line, bwa's, naming no temporary path (two runs write the same header).
    assert len(programs) == 1 and programs[0][:2] == ["bwa", "mem"]
    assert programs[0][-3:] == ["index/genome.fa", "R1.fastq.gz", "R2.fastq.gz"]
    assert str(aligned["root"]) not in header and "align_reads." not in header
    assert 0.9 * 2 * 2475 <= len(reads) <= 2 * 2475
    assert all(read.get_tag("RG") == "S-T" for read in reads)
    assert any(read.is_duplicate for read in reads)
    # Only the BAM and its index beside it: the scratch folder is gone.
    assert sorted(p.name for p in aligned["bam"].parent.iterdir()) == ["S-T.bam", "S-T.bam.bai"]
    assert not list(aligned["root"].glob("align_reads.*"))


def test_aligned_pair_qc_folder_holds_every_qc_file(aligned):
    files = qc_files.qc_files(str(aligned["qc"]), "S-T")
    for path in files.values():
        assert Path(path).stat().st_size > 0, path
    with gzip.open(files["thresholds"], "rt") as handle:
        assert handle.readline().startswith("#chrom\tstart\tend\tregion\t20X\t100X\t200X")
    assert "SN\treads mapped:" in Path(files["stats"]).read_text()


def test_linked_bam_gets_the_same_qc_without_copying(aligned, tmp_path):
    bam = tmp_path / "linked/S-T.bam"
    with open(tmp_path / "link.log", "w") as log:
        alignment.link_bam(str(aligned["bam"]), sample="S-T", fasta=str(aligned["fasta"]),
                           targets=str(TARGETS), bam=str(bam), bai=f"{bam}.bai",
                           qc_dir=str(tmp_path / "qc"), commands=alignment.Commands(log))
    assert bam.is_symlink() and bam.resolve() == aligned["bam"].resolve()
    assert Path(f"{bam}.bai").exists() and not Path(f"{aligned['bam']}.csi").exists()
    linked = qc_files.qc_files(str(tmp_path / "qc"), "S-T")
    mapped = qc_files.qc_files(str(aligned["qc"]), "S-T")
    for key in ("summary", "dist"):
        assert Path(linked[key]).read_text() == Path(mapped[key]).read_text()


def test_alignment_steps_import_no_other_stage():
    """The alignment environment has the tools and Python, not the other stages' libraries."""
    code = ("import sys; import oncoweave.variants.alignment; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pandas', 'numpy', 'pysam', 'allel', 'pyarrow') or m.startswith('oncoweave.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert set(loaded) <= {"oncoweave.core", "oncoweave.core.errors", "oncoweave.variants",
                           "oncoweave.variants.alignment", "oncoweave.variants.fastq",
                           "oncoweave.variants.qc_files"}


def test_the_alignments_do_not_depend_on_the_number_of_threads(aligned, tmp_path):
    """align_reads takes its threads from the reads' size: one or two threads, the same records."""
    bam = tmp_path / "one_thread.bam"
    with open(tmp_path / "align.log", "w") as stream:
        alignment.align_pair(str(READS / "NA06984_T_1.fastq.gz"),
                             str(READS / "NA06984_T_2.fastq.gz"), sample="S-T",
                             index_prefix=str(aligned["root"] / "bwa" / alignment.BWA_INDEX_NAME),
                             fasta=str(aligned["fasta"]), targets=str(TARGETS), bam=str(bam),
                             bai=f"{bam}.bai", qc_dir=str(tmp_path / "qc"), threads=1,
                             tmpdir=str(tmp_path), fastp_extra="--detect_adapter_for_pe",
                             commands=alignment.Commands(stream))

    def records(path):
        return subprocess.run(["samtools", "view", str(path)], check=True, capture_output=True,
                              text=True).stdout

    assert records(bam) == records(aligned["bam"]) and records(bam).count("\n") > 1000

    def header(path):
        return subprocess.run(["samtools", "view", "--no-PG", "-H", str(path)], check=True,
                              capture_output=True, text=True).stdout

    # Another scratch folder and thread count: the same header but bwa's -t.
    assert header(bam).replace("-t 1 ", "-t 2 ") == header(aligned["bam"])


def test_align_threads_grow_with_the_reads():
    assert [alignment.threads_for_reads(mb) for mb in (0, 12, 249, 250, 1000, 10_000)] == \
        [1, 1, 1, 2, 5, 8]


def test_the_bwa_index_is_linked_into_the_scratch_folder_under_its_relative_path(tmp_path,
                                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/reference/bwa").mkdir(parents=True)
    (tmp_path / "results/reference/bwa/genome.fa.bwt").write_text("index")
    for name in ("scratch", "absolute", "outside"):
        (tmp_path / name).mkdir()
    prefix = alignment.linked_index("results/reference/bwa/genome.fa", str(tmp_path / "scratch"))
    assert prefix == "results/reference/bwa/genome.fa"
    assert (tmp_path / "scratch" / f"{prefix}.bwt").read_text() == "index"
    absolute = str(tmp_path / "results/reference/bwa/genome.fa")
    assert alignment.linked_index(absolute, str(tmp_path / "absolute")) == "index/genome.fa"
    assert (tmp_path / "absolute/index/genome.fa.bwt").read_text() == "index"
    assert alignment.linked_index("../x/genome.fa", str(tmp_path / "outside")) == "index/genome.fa"
