"""Bad input stops the workflow with one clear line naming the file and row, and no partial output."""

from __future__ import annotations

import gzip
import shutil
from html import unescape

import pytest
import yaml

from helpers import CALL_FORMATS, REPO, make_workdir, run_snakemake, shard_of, write_vcf_gz

pytestmark = pytest.mark.workflow

READS = REPO / "tests/data/1000g_tp53_reads"
HEADER = "patient\tsample\ttype\tfastq1\tfastq2\tbam\tvcf\tpurity\n"


def fastq_row(patient, sample, kind, r1="reads/R1.fastq.gz", r2="reads/R2.fastq.gz"):
    return f"{patient}\t{sample}\t{kind}\t{r1}\t{r2}\t\t\t\n"


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "reads").mkdir()
    shutil.copy(READS / "NA06984_T_1.fastq.gz", tmp_path / "reads/R1.fastq.gz")
    shutil.copy(READS / "NA06984_T_2.fastq.gz", tmp_path / "reads/R2.fastq.gz")
    return tmp_path


def error_line(result, *words: str) -> str:
    """The one output line that holds every word (the error names the file and row together)."""
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if all(word in line for word in words)]
    assert lines, f"no line holds all of {words}:\n{result.stderr[-3000:]}"
    return lines[0]


@pytest.mark.parametrize("sheet, expected", [
    (HEADER.replace("purity", "purity\tbatch").replace("\n", "", 1) + "\n"
     + fastq_row("P1", "P1-T", "tumour").rstrip("\n") + "\tb1\n",
     ["samples.tsv", "batch"]),
    (HEADER + fastq_row("P1", "P1-T", "tumour") + fastq_row("P2", "P1-T", "tumour"),
     ["samples.tsv", "row 2", "P1-T"]),
    (HEADER + fastq_row("P1", "P1-T", "tumour") + fastq_row("P1", "P1-N", "normal")
     + fastq_row("P1", "P1-N2", "normal"), ["samples.tsv", "row 3", "normal"]),
    (HEADER + fastq_row("P1", "P1-T", "tumour", r1="reads/missing.fastq.gz"),
     ["samples.tsv", "row 1", "fastq1", "missing.fastq.gz"]),
], ids=["unknown-column", "duplicate-sample", "two-normals", "missing-file"])
def test_bad_sheet_stops_before_any_job(workdir, sheet, expected):
    make_workdir(workdir, sheet)
    result = run_snakemake(workdir, "--cores", "1", check=False)
    assert result.returncode != 0
    error_line(result, *expected)
    assert not (workdir / "results").exists(), "a job ran although the sheet was bad"


def test_truncated_fastq_is_named_and_leaves_nothing(workdir):
    data = (workdir / "reads/R1.fastq.gz").read_bytes()
    (workdir / "reads/R1.fastq.gz").write_bytes(data[: len(data) // 2])
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    result = run_snakemake(workdir, "--cores", "1", "results/mapped/P1-T.bam", check=False)
    assert result.returncode != 0
    error_line(result, "reads/R1.fastq.gz", "row 1", "truncated")
    # The check runs first in align_reads: no BAM, no fastp report.
    assert not list((workdir / "results/mapped").glob("P1-T*"))
    assert not (workdir / "results/qc/fastp").exists() or not list(
        (workdir / "results/qc/fastp").iterdir())


def test_file_that_is_not_a_bam_stops_planning(workdir):
    (workdir / "reads/fake.bam").write_bytes(gzip.compress(b"not a bam at all\n"))
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\treads/fake.bam\t\t\n")
    result = run_snakemake(workdir, "--cores", "1", "results/checks/P1-T.bam.ok", check=False)
    assert result.returncode != 0
    assert error_line(result, "oncoweave: error") == (
        "oncoweave: error: config/samples.tsv: row 1 (line 2): column 'bam': reads/fake.bam is not "
        "a BAM or CRAM file (no BAM/CRAM magic bytes; it is gzip-compressed data of another kind)")
    assert not (workdir / "results").exists()


def test_vcf_on_wrong_contig_names(workdir):
    vcf = workdir / "reads/calls.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=17>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1-T\n"
        "17\t7578406\t.\tC\tT\t50\tPASS\t.\tGT\t0/1\n")
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\t\treads/calls.vcf\t\n")
    imported = f"results/shards/{shard_of(workdir, 'P1')}/imported"
    result = run_snakemake(workdir, "--cores", "1", imported, check=False)
    assert result.returncode != 0
    error_line(result, "reads/calls.vcf", "row 1", "'17'")
    assert not (workdir / imported).exists()


# TP53 R175H, R248Q and EGFR L858R, T790M at their GRCh37/hg19 positions, no ##contig lengths.
HG19_DRIVERS = [("chr7", 55249071, "C", "T"), ("chr7", 55259515, "T", "G"),
                ("chr17", 7577538, "C", "T"), ("chr17", 7578406, "C", "T")]
# GRCh38 TP53 R175H and EGFR L858R: what the other patients of the allowed-empty cohort carry.
GRCH38_DRIVERS = [("chr17", 7675088, "C", "T"), ("chr7", 55191822, "T", "G")]


def write_calls(path, sample, calls):
    return write_vcf_gz(path, [{"contig": chrom, "pos": pos, "alleles": (ref, alt),
                                "samples": {sample: {"GT": (0, 1), "AD": (60, 40), "DP": 100}}}
                               for chrom, pos, ref, alt in calls],
                        contigs={chrom: None for chrom, *_ in calls} or {"chr17": None},
                        samples=[sample], formats=CALL_FORMATS)


def vcf_cohort(workdir, calls_of, allow_empty=False):
    """VCF patients P1.. (``calls_of``: patient -> calls), clinical rows with outcomes, and the
    fusion stage made small: the run reaches the reports in seconds."""
    (workdir / "calls").mkdir()
    rows = [f"{p}\t{p}-T\ttumour\t\t\t\tcalls/{p}.vcf.gz\t\n" for p in calls_of]
    make_workdir(workdir, HEADER + "".join(rows))
    for patient, calls in calls_of.items():
        write_calls(workdir / f"calls/{patient}.vcf.gz", f"{patient}-T", calls)
    clinical = ["patient\tage\tsex\tstage\tcancer_type\ttreatment\tos_months\tos_event\tresponse"]
    clinical += [f"{p}\t{50 + k}\t{'FM'[k % 2]}\tII\tLung Adenocarcinoma\t\t{5 + 3 * k}\t"
                 f"{k % 2}\t{['PD', 'PR', 'SD', 'CR'][k % 4]}" for k, p in enumerate(calls_of)]
    (workdir / "config/clinical.tsv").write_text("\n".join(clinical) + "\n")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["inputs"]["allow_empty_calls"] = allow_empty
    config["fusion"]["network"] = {"epochs": 5}
    config["fusion"]["evaluation"] = {"n_folds": 2, "inner_folds": 2, "n_bootstrap": 5,
                                      "interval_refits": 2}
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.mark.parametrize("calls, expected", [
    (HG19_DRIVERS, ["none of its records is usable: 4 records read, 0 kept (4 outside",
                    "GRCh37/hg19 coordinates"]),
    ([("chr1", 1_000_000, "A", "G"), ("chr13", 20_000_000, "C", "T")],
     ["none of its records is usable: 2 records read, 0 kept (2 outside"]),
    ([], ["holds no variant record (header only)"]),
], ids=["hg19", "off-target", "header-only"])
def test_vcf_without_usable_records_stops_the_run(tmp_path, calls, expected):
    vcf_cohort(tmp_path, {"P1": calls})
    imported = f"results/shards/{shard_of(tmp_path, 'P1')}/imported"
    result = run_snakemake(tmp_path, "--cores", "1", imported, check=False)
    assert result.returncode != 0
    line = error_line(result, "error in rule import_vcfs", "samples.tsv, row 1 (sample P1-T)",
                      "calls/P1.vcf.gz", *expected, "inputs.allow_empty_calls")
    assert line in (tmp_path / f"logs/import_vcfs/{shard_of(tmp_path, 'P1')}.log").read_text()
    assert not (tmp_path / "results/shards").exists() or not [
        path for path in (tmp_path / "results/shards").rglob("*") if path.is_file()]


def test_allowed_empty_call_set_is_said_at_the_top_of_the_report(tmp_path):
    calls_of = {"P1": HG19_DRIVERS, **{f"P{k}": [GRCH38_DRIVERS[k % 2]] for k in range(2, 13)}}
    vcf_cohort(tmp_path, calls_of, allow_empty=["P1"])
    # P2's one-sample VCF names its column as its caller did: read as the tumour, said in the QC.
    write_calls(tmp_path / "calls/P2.vcf.gz", "TUMOR", calls_of["P2"])
    shard = shard_of(tmp_path, "P1")
    run_snakemake(tmp_path, "--cores", "2", f"results/report/{shard}",
                  f"results/report/{shard_of(tmp_path, 'P2')}")
    html = (tmp_path / f"results/report/{shard}/P1.html").read_text()
    top = html[html.index("<header>"):html.index("</header>")]
    assert '<p class="alert" id="call-set-notice">no usable variant records in P1.vcf.gz: 4 ' \
           "records read, 0 kept (4 outside the reference regions, 0 without an ALT allele)" in top
    assert "GRCh37/hg19" in top and "tumour calls scored" not in html
    other = (tmp_path / f"results/report/{shard_of(tmp_path, 'P2')}/P2.html").read_text()
    assert "call-set-notice" not in other
    assert "Calls: the VCF's one sample column 'TUMOR' was read as the tumour (the column is not " \
           "named as the sample sheet's sample)." in unescape(other)
    # The counts are in the job's log, not only on the terminal.
    log = (tmp_path / f"logs/import_vcfs/{shard}.log").read_text()
    assert "P1: calls/P1.vcf.gz: 4 records read, 0 kept" in log


CLINICAL_HEADER = "patient\tage\tsex\tstage\tcancer_type\ttreatment\tos_months\tos_event\tresponse\n"
CLINICAL_ROW = "P1\t50\tF\tII\tLung Adenocarcinoma\t\t3\t1\tPD\n"


@pytest.mark.parametrize("row, expected", [
    ("P1\t50\tF\tII\tLung\t\t3\t1\tresponder\n",
     "row 1 (line 2): column 'response': 'responder' is not one of 1, 0, CR, PR (1), SD, PD (0) "
     "(leave it empty when unknown)"),
    ("P1\t50\tX\tII\tLung\t\t3\t1\tPD\n",
     "row 1 (line 2): column 'sex': 'X' is not one of F/female, M/male (leave it empty when "
     "unknown)"),
    ("P1\t50\tF\tlimited\tLung\t\t3\t1\tPD\n",
     "row 1 (line 2): column 'stage': 'limited' is not a stage (0, I-IV with optional A-C, or "
     "1-4)"),
    ("P1\t50\tF\tII\tLung\t\t3\tyes\tPD\n",
     "row 1 (line 2): column 'os_event': 'yes' is not of type 'integer' (leave the cell empty "
     "for a missing value)"),
    (CLINICAL_ROW + CLINICAL_ROW.replace("P1", "P7"),
     "row 2 (line 3): column 'patient': 'P7' is not in the sample sheet config/samples.tsv"),
    ("P1\t50\tF\tII\tLung\t\t1e300\t1\tPD\n",
     "row 1 (line 2): column 'os_months': '1e300' is above 1,200 months (100 years): not a "
     "plausible survival or follow-up time (days instead of months, or a corrupt cell?)"),
], ids=["response", "sex", "stage", "os_event", "unknown-patient", "os_months"])
def test_bad_clinical_row_stops_planning(workdir, row, expected):
    """What build_patient_features would refuse after all the genomic work stops `snakemake -n`."""
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    (workdir / "config/clinical.tsv").write_text(CLINICAL_HEADER + row)
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert error_line(result, "oncoweave: error") == (
        f"oncoweave: error: config/clinical.tsv: {expected}")
    assert not (workdir / "results").exists()


def test_image_row_of_an_unknown_patient_stops_planning(workdir):
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    (workdir / "config/clinical.tsv").write_text(CLINICAL_HEADER + CLINICAL_ROW)
    images = (REPO / "config/images.tsv").read_text().splitlines()
    (workdir / "config/images.tsv").write_text("\n".join(images[:3]) + "\n")
    first = images[1].split("\t")[0]
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert error_line(result, "oncoweave: error") == (
        f"oncoweave: error: config/images.tsv: row 1 (line 2): column 'patient': '{first}' is not "
        "in the sample sheet config/samples.tsv")


@pytest.mark.parametrize("section, key, typo, allowed", [
    ("calling", "thresholds", "min_vaff", "min_tumour_depth, min_normal_depth, "),
    ("imaging", "encoder", "epoch", "seed, epochs, batch_size, "),
    ("fusion", "network", "hidden", "seed, hidden_dim, embedding_dim, "),
    ("fusion", "evaluation", "nfolds", "n_folds, inner_folds, n_bootstrap, "),
])
def test_unknown_settings_key_stops_planning(workdir, section, key, typo, allowed):
    """A typo in a free-form settings mapping: one line at planning, not a failed job later."""
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    config_path = workdir / "config/config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config[section][key] = {typo: 1}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    line = error_line(result, "oncoweave: error")
    assert line.startswith(f"oncoweave: error: config key {section}.{key}: unknown key '{typo}' "
                           f"(allowed: {allowed}")
    assert "Failed validating" not in result.stderr


def test_hg19_bam_is_refused_and_the_jobs_one_line_error_is_said_last(workdir):
    """After Snakemake's error blocks and log hint, the run ends on the job's own one line."""
    shutil.copy(REPO / "tests/data/bad_inputs/NA06984_T.hg19_head.bam", workdir / "reads/hg19.bam")
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\treads/hg19.bam\t\t\n")
    result = run_snakemake(workdir, "--cores", "1", "results/checks/P1-T.bam.ok", check=False)
    assert result.returncode != 0
    last = result.stderr.splitlines()[-1]
    assert last.startswith("oncoweave: error: config/samples.tsv, row 1 (sample P1-T): "
                           "reads/hg19.bam: its header does not match the reference: ")
    assert "It looks like GRCh37/hg19" in last and "'17' where the reference uses 'chr17'" in last
    assert not (workdir / "results/checks/P1-T.bam.ok").exists()
    assert last.endswith(" (rule check_bam; log logs/check_bam/P1-T.log)")
    # Said once, although the job printed it to the terminal too.
    assert sum("(rule check_bam; log" in line for line in result.stderr.splitlines()) == 1


def test_plain_gzip_vcf_is_named_with_the_bgzip_fix(workdir):
    text = ("##fileformat=VCFv4.2\n##contig=<ID=chr17>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1-T\n"
            "chr17\t7675088\t.\tC\tT\t50\tPASS\t.\tGT\t0/1\n")
    (workdir / "reads/calls.vcf.gz").write_bytes(gzip.compress(text.encode()))
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\t\treads/calls.vcf.gz\t\n")
    imported = f"results/shards/{shard_of(workdir, 'P1')}/imported"
    result = run_snakemake(workdir, "--cores", "1", imported, check=False)
    assert result.returncode != 0
    assert "seek not implemented" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): reads/calls.vcf.gz: is gzip but "
        "not bgzip-compressed: recompress it with `bgzip` (zcat file | bgzip > file.vcf.gz) and "
        "index it with `tabix -p vcf` (rule import_vcfs; log "
        f"logs/import_vcfs/{shard_of(workdir, 'P1')}.log)")
    assert not (workdir / imported).exists()


def test_name_sorted_bam_is_refused_with_the_sort_command(workdir):
    """`samtools index` would fail later on it with an unclear message."""
    import pysam

    from helpers import indexed_bundled_reference

    with pysam.FastaFile(str(indexed_bundled_reference(workdir))) as fasta:
        contigs = [{"SN": name, "LN": length}
                   for name, length in zip(fasta.references, fasta.lengths, strict=True)]
    header = {"HD": {"VN": "1.6", "SO": "queryname"}, "SQ": contigs}
    with pysam.AlignmentFile(str(workdir / "reads/named.bam"), "wb", header=header):
        pass
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\treads/named.bam\t\t\n")
    result = run_snakemake(workdir, "--cores", "1", "results/checks/P1-T.bam.ok", check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): reads/named.bam: is not "
        "coordinate-sorted (SO:queryname): sort it with `samtools sort -o sorted.bam "
        "reads/named.bam` (rule check_bam; log logs/check_bam/P1-T.log)")
    assert not (workdir / "results/checks/P1-T.bam.ok").exists()


def one_vcf_patient(workdir, sample_values, formats=CALL_FORMATS, column="P1-T"):
    """Patient P1 given as a VCF of GRCh38 TP53 R175H with ``sample_values`` in its one column."""
    (workdir / "calls").mkdir()
    write_vcf_gz(workdir / "calls/P1.vcf.gz",
                 [{"contig": "chr17", "pos": 7675088, "alleles": ("C", "T"),
                   "samples": {column: sample_values}}],
                 contigs={"chr17": None}, samples=[column], formats=formats)
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\t\tcalls/P1.vcf.gz\t\n")
    return f"results/shards/{shard_of(workdir, 'P1')}/imported"


def test_corrupt_read_depth_stops_the_import(workdir):
    imported = one_vcf_patient(workdir, {"GT": (0, 1), "AD": (60, 40), "DP": 2_147_483_000})
    result = run_snakemake(workdir, "--cores", "1", imported, check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): calls/P1.vcf.gz: record "
        "chr17:7675088 C>T: sample P1-T: FORMAT/DP is 2,147,483,000 reads, above 10,000,000, more "
        "than any sequencing gives: the value is corrupt (an overflow or a placeholder?); fix or "
        "re-export the file (rule import_vcfs; log "
        f"logs/import_vcfs/{shard_of(workdir, 'P1')}.log)")
    assert not (workdir / imported).exists()


def test_vcf_without_allele_depths_names_the_users_file(workdir):
    imported = one_vcf_patient(workdir, {"GT": (0, 1)}, formats=CALL_FORMATS[:1])
    result = run_snakemake(workdir, "--cores", "1", imported, check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): calls/P1.vcf.gz: has no "
        "FORMAT/AD (reads per allele; its FORMAT fields: GT): the calls cannot be classified "
        "without read counts; export them with allele depths (bcftools mpileup -a AD,DP; "
        "GATK/Mutect2 and most somatic callers write AD) (rule import_vcfs; log "
        f"logs/import_vcfs/{shard_of(workdir, 'P1')}.log)")
    assert not (workdir / imported).exists()


def test_one_sample_vcf_named_tumor_is_read_as_the_tumour(workdir):
    imported = one_vcf_patient(workdir, {"GT": (0, 1), "AD": (60, 40), "DP": 100}, column="TUMOR")
    run_snakemake(workdir, "--cores", "1", imported)
    log = (workdir / f"logs/import_vcfs/{shard_of(workdir, 'P1')}.log").read_text()
    assert "WARNING oncoweave.variants.vcf_checks: calls/P1.vcf.gz: its one sample column " \
           "'TUMOR' is not named 'P1-T' (the sample sheet's sample): read as the tumour" in log
    summary = (workdir / imported / "import_summary.tsv").read_text().splitlines()
    assert summary[1].startswith("P1\tP1.vcf.gz\t1\t1\t") and summary[1].endswith("\tTUMOR")


def test_r2_of_another_sample_is_named_before_bwa(workdir):
    """Same read count, other read names: bwa mem would stop on 'paired reads have different
    names' after the trimming."""
    lines = gzip.decompress((workdir / "reads/R2.fastq.gz").read_bytes()).split(b"\n")
    for index in range(0, len(lines) - 1, 4):
        lines[index] = lines[index].replace(b"@SRR080818.", b"@SRR999999.")
    (workdir / "reads/R2.fastq.gz").write_bytes(gzip.compress(b"\n".join(lines)))
    first = gzip.decompress((workdir / "reads/R1.fastq.gz").read_bytes()).split(b"\n", 1)[0]
    name = first[1:].decode().removesuffix("/1")
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    result = run_snakemake(workdir, "--cores", "1", "results/mapped/P1-T.bam", check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): reads/R2.fastq.gz: record 1 is "
        f"read '{name.replace('SRR080818.', 'SRR999999.')}' but record 1 of its mate "
        f"reads/R1.fastq.gz is '{name}': the two files do not pair (R1 and R2 of different "
        "samples or runs?) (rule align_reads; log logs/align_reads/P1-T.log)")
    assert not list((workdir / "results/mapped").glob("P1-T*"))


def test_dicom_folder_of_two_series_is_named_by_series_number(workdir):
    import numpy as np
    import pydicom
    import SimpleITK as sitk

    from oncoweave.toy.images import lesion_phantom, write_dicom_series

    image, mask = lesion_phantom(0.6, np.random.default_rng(3))
    write_dicom_series(image, workdir / "ct", uid_seed="a")
    for k, path in enumerate(write_dicom_series(image[:, :, :4], workdir / "scout",
                                                uid_seed="b")):
        ds = pydicom.dcmread(path)
        ds.SeriesNumber = 2
        ds.save_as(workdir / "ct" / f"scout_{k}.dcm")
    sitk.WriteImage(mask, str(workdir / "mask.nii.gz"))
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    (workdir / "config/images.tsv").write_text(
        "patient\tlesion\timage\tmask\tmodality\tlabel\nP1\tL1\tct\tmask.nii.gz\tCT\t1\n")
    imaging = f"results/shards/{shard_of(workdir, 'P1')}/imaging"
    result = run_snakemake(workdir, "--cores", "1", imaging, check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/images.tsv, row 1 (line 2): patient P1, lesion L1: image: ct: "
        "a DICOM folder must hold exactly one image series, found 2 (SeriesNumber 1: "
        f"{image.GetSize()[2]} files; SeriesNumber 2: 4 files): put each series in its own folder "
        f"(mask mask.nii.gz) (rule ingest_images; log "
        f"logs/ingest_images/{shard_of(workdir, 'P1')}.log)")
    assert not (workdir / imaging).exists()


def test_paired_vcf_of_other_column_names_is_still_refused(workdir):
    """Only a one-sample VCF without a normal is read by position: a pair's columns must be
    named as the sheet's samples."""
    (workdir / "calls").mkdir()
    counts = {"GT": (0, 1), "AD": (60, 40), "DP": 100}
    write_vcf_gz(workdir / "calls/P1.vcf.gz",
                 [{"contig": "chr17", "pos": 7675088, "alleles": ("C", "T"),
                   "samples": {"TUMOR": counts, "NORMAL": counts}}],
                 contigs={"chr17": None}, samples=["TUMOR", "NORMAL"], formats=CALL_FORMATS)
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\t\tcalls/P1.vcf.gz\t\n"
                 "P1\tP1-N\tnormal\t\t\t\tcalls/P1.vcf.gz\t\n")
    imported = f"results/shards/{shard_of(workdir, 'P1')}/imported"
    result = run_snakemake(workdir, "--cores", "1", imported, check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): calls/P1.vcf.gz: has no sample "
        "column 'P1-T' (its columns: TUMOR, NORMAL): rename its columns to the sample sheet's ids "
        "(bcftools reheader --samples), or give import-vcf --tumour-column/--normal-column (rule "
        f"import_vcfs; log logs/import_vcfs/{shard_of(workdir, 'P1')}.log)")
    assert not (workdir / imported).exists()


# --- More of the matrix: each bad input stops `snakemake -n` with one exact line -------------

IMAGE_HEADER = "patient\tlesion\timage\tmask\tmodality\tlabel\n"
MAF_HEADER = ("Hugo_Symbol\tChromosome\tStart_Position\tReference_Allele\tTumor_Seq_Allele2\t"
              "Variant_Classification\n")


def write_sheet(name, text):
    return lambda workdir: (workdir / "config" / name).write_text(text)


def with_samples(*rows):
    return write_sheet("samples.tsv", HEADER + "".join(rows))


def with_config(**settings):
    def change(workdir):
        path = workdir / "config/config.yaml"
        config = yaml.safe_load(path.read_text())
        config.update(settings)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return change


def with_maf(text):
    def change(workdir):
        (workdir / "config/cohort.maf").write_text(text)
        with_config(maf="config/cohort.maf")(workdir)
        with_samples()(workdir)
    return change


def with_empty_fastq(workdir):
    (workdir / "reads/R1.fastq.gz").write_bytes(b"")


def with_fastq_as_vcf(workdir):
    with_samples(fastq_row("P1", "P1-T", "tumour", r1="", r2="")
                 .replace("\t\t\t\t\n", "\t\t\treads/R1.fastq.gz\t\n"))(workdir)


SAMPLES = "oncoweave: error: config/samples.tsv: "
CLINICAL = "oncoweave: error: config/clinical.tsv: "
IMAGES = "oncoweave: error: config/images.tsv: "
ROW1 = "row 1 (line 2): "


@pytest.mark.parametrize("change, expected", [
    (write_sheet("samples.tsv", HEADER.replace("type\t", "") + "P1\tP1-T\treads/R1.fastq.gz\t"
                 "reads/R2.fastq.gz\t\t\t\n"),
     SAMPLES + "line 1 (header): required column 'type' is missing"),
    (with_samples(fastq_row("P1", "P1-T", "tumour").replace("\t\n", "\t1.5\n")),
     SAMPLES + ROW1 + "column 'purity': 1.5 is greater than the maximum of 1"),
    (with_samples(fastq_row("P1", "P1-T", "tumor")),
     SAMPLES + ROW1 + "column 'type': 'tumor' is not one of ['tumour', 'normal']"),
    (with_samples(fastq_row("P1", "P1-T", "tumour", r1="", r2="")),
     SAMPLES + ROW1 + "sample 'P1-T' gives none; give exactly one of fastq1+fastq2, bam or vcf"),
    (with_samples(fastq_row("P1", "P1-T", "tumour").replace("\t\t\t\n",
                                                            "\t\treads/R1.fastq.gz\t\n")),
     SAMPLES + ROW1 + "sample 'P1-T' gives fastq1+fastq2 and vcf; give exactly one of "
     "fastq1+fastq2, bam or vcf"),
    (with_samples(fastq_row("P1", "P1-T", "tumour", r2="")),
     SAMPLES + ROW1 + "column 'fastq2': is empty but the other mate is given (paired reads need "
     "fastq1 and fastq2)"),
    (with_samples(fastq_row("P1", "P1-T", "tumour", r1="reads")),
     SAMPLES + ROW1 + "column 'fastq1': reads is a folder, not a file"),
    (with_empty_fastq, SAMPLES + ROW1 + "column 'fastq1': reads/R1.fastq.gz is empty (0 bytes)"),
    (with_samples(fastq_row("P1", "P1-T", "tumour", r2="reads/R1.fastq.gz")),
     SAMPLES + ROW1 + "column 'fastq2': is the same file as fastq1 (reads/R1.fastq.gz); give the "
     "second mate's file"),
    (with_fastq_as_vcf,
     SAMPLES + ROW1 + "column 'vcf': reads/R1.fastq.gz is not a VCF or BCF file (a VCF starts "
     "with its '##fileformat=VCF' header line; it looks like a FASTQ file)"),
    (write_sheet("clinical.tsv", CLINICAL_HEADER + CLINICAL_ROW * 2),
     CLINICAL + "row 2 (line 3): column 'patient': 'P1' repeats row 1 (line 2); patient ids must "
     "be unique"),
    (write_sheet("clinical.tsv", CLINICAL_HEADER + CLINICAL_ROW.replace("\t50\t", "\t-4\t")),
     CLINICAL + ROW1 + "column 'age': -4 is less than the minimum of 0"),
    (write_sheet("clinical.tsv", CLINICAL_HEADER.replace("patient", "id", 1) + CLINICAL_ROW),
     CLINICAL + "line 1 (header): required column 'patient' is missing"),
    (with_config(shardsize=5),
     "oncoweave: error: config: unknown key 'shardsize' (allowed: samples, images, clinical, maf, "
     "copy_number, inputs, reference, toy_cohort, reads, calling, drivers, tmb, imaging, fusion, "
     "identity, sharding)"),
    (write_sheet("images.tsv",
                 IMAGE_HEADER + "P1\tL1\treads/ct.nii.gz\treads/ct_mask.nii.gz\tCT\t1\n"),
     IMAGES + ROW1 + "column 'image': file not found: reads/ct.nii.gz (relative paths are read "
     "from the working directory {workdir})"),
    (write_sheet("images.tsv", IMAGE_HEADER + "P1\tL1\treads\treads\tXR\t1\n"),
     IMAGES + ROW1 + "column 'modality': 'XR' is not one of ['CT', 'MR', 'PT']"),
    (write_sheet("images.tsv", IMAGE_HEADER + "P1\tL1\treads\treads\tCT\t1\n" * 2),
     IMAGES + "row 2 (line 3): column 'lesion': patient 'P1' lesion 'L1' repeats row 1 (line 2); "
     "give each lesion of a patient its own id in the 'lesion' column"),
    (with_config(maf="config/absent.maf"),
     "oncoweave: error: config/absent.maf: cannot read the MAF ([Errno 2] No such file or "
     "directory: 'config/absent.maf')"),
    (with_maf(MAF_HEADER + "TP53\tchr17\t7675088\tC\tT\tMissense_Mutation\n"),
     "oncoweave: error: config/cohort.maf: line 1: missing required MAF column "
     "Tumor_Sample_Barcode"),
], ids=["no-type-column", "purity-above-1", "type-tumor", "no-input", "fastq-and-vcf",
        "one-mate", "folder-as-fastq", "empty-fastq", "same-file-both-mates", "fastq-as-vcf",
        "clinical-repeat", "negative-age", "clinical-no-patient-column", "config-typo",
        "image-missing", "image-modality", "image-lesion-repeat", "maf-missing",
        "maf-no-barcode-column"])
def test_bad_input_stops_planning_with_one_line(workdir, change, expected):
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    (workdir / "config/clinical.tsv").write_text(CLINICAL_HEADER + CLINICAL_ROW)
    change(workdir)
    result = run_snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert error_line(result, "oncoweave: error") == expected.format(workdir=workdir)
    assert not (workdir / "results").exists() and not (workdir / "logs").exists()


def test_grch37_maf_without_its_build_column_stops_the_split(workdir):
    """TP53 R175H, R248Q and R273H at their GRCh37 positions and no NCBI_Build: without the check
    they would lie outside the regions and count toward TMB unscored."""
    rows = [("TP53", "17", pos, "C", "T", f"S{k}", "Missense_Mutation")
            for k, pos in enumerate((7578406, 7577538, 7577120), start=1)]
    make_workdir(workdir, HEADER)
    with_maf(MAF_HEADER.replace("\n", "\tTumor_Sample_Barcode\n") + "".join(
        "\t".join(map(str, (*row[:5], row[6], row[5]))) + "\n" for row in rows))(workdir)
    from oncoweave.core.shards import shard_map, shard_of_patients

    shard = shard_of_patients(shard_map({"S1", "S2", "S3"}))["S1"]  # the MAF's barcodes
    result = run_snakemake(workdir, "--cores", "1", f"results/maf/{shard}.parquet", check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/cohort.maf: line 2: TP53 at 17:7,578,406 lies in the gene's "
        "GRCh37/hg19 span, not its GRCh38 one, and so do 3 of the MAF's 3 TP53/BRCA1/BRCA2/EGFR "
        "rows: the MAF is on GRCh37/hg19 although it has no NCBI_Build; lift it over to GRCh38 "
        "before use (e.g. CrossMap or Picard LiftoverVcf with the UCSC hg19ToHg38.over.chain.gz "
        "chain) and set NCBI_Build to GRCh38 (rule split_maf; log logs/split_maf.log)")
    assert not (workdir / "results/maf").exists() or not list((workdir / "results/maf").iterdir())


def test_bam_whose_header_claims_coordinate_order_is_read_for_it(workdir):
    import pysam

    from helpers import indexed_bundled_reference

    with pysam.FastaFile(str(indexed_bundled_reference(workdir))) as fasta:
        header = {"HD": {"VN": "1.6", "SO": "coordinate"},
                  "SQ": [{"SN": name, "LN": length}
                         for name, length in zip(fasta.references, fasta.lengths, strict=True)]}
    with pysam.AlignmentFile(str(workdir / "reads/merged.bam"), "wb", header=header) as bam:
        for number, start in enumerate((500, 100)):
            read = pysam.AlignedSegment(bam.header)
            read.query_name, read.query_sequence, read.cigarstring = f"r{number}", "A" * 20, "20M"
            read.reference_id, read.reference_start, read.mapping_quality = 0, start, 60
            read.query_qualities = pysam.qualitystring_to_array("I" * 20)
            bam.write(read)
    make_workdir(workdir, HEADER + "P1\tP1-T\ttumour\t\t\treads/merged.bam\t\t\n")
    result = run_snakemake(workdir, "--cores", "1", "results/checks/P1-T.bam.ok", check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): reads/merged.bam: is not "
        "coordinate-sorted (although its header says SO:coordinate; its record 2 is out of "
        "coordinate order): sort it with `samtools sort -o sorted.bam reads/merged.bam` (rule "
        "check_bam; log logs/check_bam/P1-T.log)")
    assert not (workdir / "results/checks/P1-T.bam.ok").exists()


def test_image_whose_mask_is_empty_is_named_and_leaves_nothing(workdir):
    import numpy as np
    import SimpleITK as sitk

    from oncoweave.toy.images import lesion_phantom

    image, mask = lesion_phantom(0.6, np.random.default_rng(3))
    empty = sitk.GetImageFromArray(np.zeros_like(sitk.GetArrayFromImage(mask), dtype=np.uint8))
    empty.CopyInformation(mask)
    sitk.WriteImage(image, str(workdir / "ct.nii.gz"))
    sitk.WriteImage(empty, str(workdir / "mask.nii.gz"))
    make_workdir(workdir, HEADER + fastq_row("P1", "P1-T", "tumour"))
    (workdir / "config/images.tsv").write_text(
        IMAGE_HEADER + "P1\tL1\tct.nii.gz\tmask.nii.gz\tCT\t1\n")
    imaging = f"results/shards/{shard_of(workdir, 'P1')}/imaging"
    result = run_snakemake(workdir, "--cores", "1", imaging, check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[-1] == (
        "oncoweave: error: config/images.tsv, row 1 (line 2): patient P1, lesion L1 (image "
        "ct.nii.gz, mask mask.nii.gz): the mask is empty (no voxel is non-zero) (rule "
        f"ingest_images; log logs/ingest_images/{shard_of(workdir, 'P1')}.log)")
    assert not (workdir / imaging).exists()
