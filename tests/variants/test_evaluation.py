"""Recall/precision arithmetic on hand-built tables, and the caller comparison on a tiny run."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pysam
import pytest

from helpers import write_vcf_gz
from oncoweave.cli.main import build_parser, main
from oncoweave.core.errors import InputError
from oncoweave.variants.caller_evaluation import (
    KEY,
    caller_scores,
    classified_calls,
    next_to_indel,
    paired_patients,
    recall_precision_table,
    run_inputs,
    totals_from,
    truth_table,
    variant_kind,
)
from oncoweave.variants.pileup import call_patients


def table(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def truth_rows(rows: list[tuple]) -> pd.DataFrame:
    """(patient, pos, ref, alt, status, vaf) on contig c1 -> a truth_table-like frame."""
    frame = table([(p, "c1", pos, r, a, s, v) for p, pos, r, a, s, v in rows],
                  KEY + ["truth_status", "truth_vaf"])
    frame["kind"] = [variant_kind(r, a) for r, a in zip(frame.ref, frame.alt)]
    return frame


def call_rows(rows: list[tuple]) -> pd.DataFrame:
    """(patient, pos, ref, alt, status, filter, t_vaf) on contig c1 -> a variants-table frame."""
    return table([(p, "c1", pos, r, a, s, f, v) for p, pos, r, a, s, f, v in rows],
                 KEY + ["status", "filter", "t_vaf"])


# A and B have a normal, C is tumour-only.
PAIRED = {"A", "B"}
TRUTH = truth_rows([
    ("A", 100, "C", "T", "somatic", 0.15),   # found at 0.14
    ("A", 200, "G", "A", "somatic", 0.30),   # called but not PASS: missed
    ("A", 300, "AT", "A", "somatic", 0.50),  # indel found at 0.45
    ("A", 400, "T", "G", "somatic", 0.18),   # found, but called at 0.22 (another band)
    ("A", 500, "C", "G", "somatic", 0.25),   # called with another ALT: missed
    ("A", 600, "G", "T", "somatic", 0.35),   # called germline: missed
    ("B", 100, "C", "A", "somatic", 0.05),   # found at 0.06
    ("B", 200, "A", "G", "germline", 0.50),  # called somatic: a false somatic call
    ("C", 100, "G", "C", "somatic", 0.20),   # tumour-only patient: counts for recall only
])
CALLS = call_rows([
    ("A", 100, "C", "T", "somatic", "PASS", 0.14),
    ("A", 150, "C", "A", "somatic", "PASS", 0.12),  # not planted
    ("A", 200, "G", "A", "somatic", "low_vaf", 0.30),
    ("A", 300, "AT", "A", "somatic", "PASS", 0.45),
    ("A", 400, "T", "G", "somatic", "PASS", 0.22),
    ("A", 500, "C", "T", "somatic", "PASS", 0.25),  # wrong ALT: not planted
    ("A", 600, "G", "T", "germline", "PASS", 0.35),
    ("B", 100, "C", "A", "somatic", "PASS", 0.06),
    ("B", 200, "A", "G", "somatic", "PASS", 0.50),
    ("C", 100, "G", "C", "tumour_only", "PASS", 0.20),
    ("C", 900, "A", "T", "tumour_only", "PASS", 0.50),  # a germline SNP, maybe: not scored
])


def row(scores: pd.DataFrame, kind: str, band: str) -> dict:
    return scores[(scores.kind == kind) & (scores.vaf_band == band)].iloc[0].to_dict()


def test_recall_and_precision_per_kind_and_band():
    scores = recall_precision_table(CALLS, TRUTH, PAIRED)
    assert list(scores.vaf_band[:4]) == ["0.00-0.10", "0.10-0.20", "0.20-0.40", "0.40-1.00"]
    counts = ["truth", "found", "calls", "true_calls"]
    expected = {
        ("SNV", "0.00-0.10"): [1, 1, 1, 1],
        # truth at A:100, A:400; calls A:100 (true), A:150 (false)
        ("SNV", "0.10-0.20"): [2, 2, 2, 1],
        # truth A:200, A:500, A:600, C:100 (C found); calls A:400 (true), A:500 (wrong ALT)
        ("SNV", "0.20-0.40"): [4, 1, 2, 1],
        ("SNV", "0.40-1.00"): [0, 0, 1, 0],  # B:200 is germline in the truth
        ("indel", "0.40-1.00"): [1, 1, 1, 1],
        ("indel", "0.10-0.20"): [0, 0, 0, 0],
    }
    for (kind, band), values in expected.items():
        assert [row(scores, kind, band)[c] for c in counts] == values, (kind, band)
    assert row(scores, "SNV", "0.20-0.40")["recall"] == pytest.approx(0.25)
    assert row(scores, "SNV", "0.10-0.20")["precision"] == pytest.approx(0.5)
    assert row(scores, "SNV", "0.40-1.00")["precision"] == 0.0
    # Nothing planted, nothing called: undefined, not 0 or 1.
    assert pd.isna(row(scores, "indel", "0.10-0.20")["recall"])
    assert pd.isna(row(scores, "indel", "0.10-0.20")["precision"])


def test_totals_from_ten_percent_up_leave_the_lowest_band_out():
    totals = totals_from(recall_precision_table(CALLS, TRUTH, PAIRED)).set_index("kind")
    assert totals.loc["SNV", ["truth", "found", "calls", "true_calls"]].tolist() == [6, 3, 5, 2]
    assert totals.loc["SNV", "recall"] == pytest.approx(0.5)
    assert totals.loc["SNV", "precision"] == pytest.approx(0.4)
    assert totals.loc["indel", ["recall", "precision"]].tolist() == [1.0, 1.0]


def test_calls_next_to_an_indel_are_flagged_not_the_indel_itself():
    calls = call_rows([
        ("A", 100, "CTTT", "C", "somatic", "PASS", 0.3),  # deletion spans 100-103
        ("A", 110, "G", "A", "somatic", "PASS", 0.05),    # 7 bp after its end
        ("A", 95, "G", "GA", "somatic", "PASS", 0.05),    # an insertion 5 bp before it
        ("A", 130, "T", "C", "somatic", "PASS", 0.3),     # 27 bp away
        ("B", 105, "T", "C", "somatic", "PASS", 0.3),     # another patient
    ])
    assert next_to_indel(calls, window=10).tolist() == [True, True, True, False, False]
    assert next_to_indel(calls, window=5).tolist() == [True, False, True, False, False]


def test_caller_scores_count_the_false_calls_next_to_indels():
    truth = truth_rows([("A", 100, "CTTT", "C", "somatic", 0.3)])
    calls = call_rows([("A", 100, "CTTT", "C", "somatic", "PASS", 0.3),
                       ("A", 104, "G", "A", "somatic", "PASS", 0.06)])
    scores = caller_scores(calls, truth, {"A"}, window=10)
    snvs = row(scores, "SNV", "0.00-0.10")
    assert [snvs[c] for c in ("calls", "true_calls", "next_to_indel", "false_next_to_indel")] == [
        1, 0, 1, 1]
    indels = row(scores, "indel", "0.20-0.40")
    assert [indels[c] for c in ("true_calls", "next_to_indel", "false_next_to_indel")] == [1, 0, 0]


# ---------------------------------------------------------------------------------------------
# VCF readers.

def write_vcf(path: Path, samples: list[str], formats: list[tuple], infos: list[tuple],
              records: list[dict]) -> Path:
    records = [{"contig": "c1", "pos": fields["pos"], "alleles": (fields["ref"], fields["alt"]),
                "info": fields["info"], "samples": fields["samples"]} for fields in records]
    return write_vcf_gz(path, records, contigs={"c1": 1000}, samples=samples,
                        formats=[(key, number, kind, key) for key, number, kind in formats],
                        infos=[(key, number, kind, key) for key, number, kind in infos])


def test_truth_table_has_one_row_per_carrier(tmp_path):
    het, absent = {"GT": (0, 1)}, {"GT": (0, 0), "VAF": 0.0}
    records = [{"pos": 10, "ref": "C", "alt": "T", "info": {"STATUS": "somatic", "HGVSP": "p.R1H"},
                "samples": {"P1": {**het, "VAF": 0.25}, "P2": absent}},
               {"pos": 20, "ref": "GA", "alt": "G", "info": {"STATUS": "germline"},
                "samples": {"P1": absent, "P2": {**het, "VAF": 0.5}}}]
    vcf = write_vcf(tmp_path / "truth.vcf.gz", ["P1", "P2"],
                    [("GT", 1, "String"), ("VAF", 1, "Float")],
                    [("STATUS", 1, "String"), ("HGVSP", 1, "String")], records)
    truth = truth_table(vcf)
    assert truth[KEY + ["truth_status", "kind"]].values.tolist() == [
        ["P1", "c1", 10, "C", "T", "somatic", "SNV"],
        ["P2", "c1", 20, "GA", "G", "germline", "indel"]]
    assert truth.hgvs_p_truth.iloc[0] == "p.R1H" and pd.isna(truth.hgvs_p_truth.iloc[1])
    assert truth.truth_vaf.tolist() == pytest.approx([0.25, 0.5])


def test_classified_calls_take_the_vaf_from_the_counts(tmp_path):
    vcf = write_vcf(tmp_path / "classified.vcf.gz", ["T"], [("DP", 1, "Integer")],
                    [("STATUS", 1, "String"), ("T_DP", 1, "Integer"), ("T_ALT", 1, "Integer")],
                    [{"pos": 10, "ref": "C", "alt": "T", "samples": {},
                      "info": {"STATUS": "somatic", "T_DP": 300, "T_ALT": 31}}])
    calls = classified_calls(vcf, "P1")
    assert calls[KEY + ["status", "filter"]].values.tolist() == [
        ["P1", "c1", 10, "C", "T", "somatic", "PASS"]]
    assert calls.t_vaf.iloc[0] == pytest.approx(31 / 300)


def test_paired_patients_of_a_sheet(tmp_path):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("patient\tsample\ttype\n"
                     "P1\tP1-T\ttumour\nP1\tP1-N\tnormal\nP2\tP2-T\ttumour\n"
                     "P3\tP3-T\ttumour\nP3\tP3-N\tnormal\n")
    assert [pair.patient for pair in paired_patients(sheet)] == ["P1", "P3"]
    (pair,) = paired_patients(sheet, ["P3"])
    assert (pair.tumour, pair.normal) == ("P3-T", "P3-N")
    with pytest.raises(InputError, match="P2"):
        paired_patients(sheet, ["P1", "P2"])


# ---------------------------------------------------------------------------------------------
# The comparison end to end, on a tiny run directory with simulated alignments.

READ_LENGTH, STEP = 60, 2
CONTIG_LENGTH = 700
# (pos, VAF the reads are drawn with, kind): a somatic variant of each kind and a germline het.
SOMATIC_SNV = (250, 0.3, "SNV")
SOMATIC_DELETION = (450, 0.4, "DEL")  # 2 bp deleted after the padding base
GERMLINE_SNV = (150, 0.5, "SNV")


def alt_base(base: str) -> str:
    return {"A": "C", "C": "G", "G": "T", "T": "A"}[base]


def write_bam(path: Path, reference: str, sm_tag: str, variants: list[tuple[int, float, str]],
              passes: int) -> None:
    """Reads tiled along the contig (both strands); a share of those over a variant carry it."""
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": "c1", "LN": len(reference)}], "RG": [{"ID": sm_tag, "SM": sm_tag}]}
    rng = random.Random(sm_tag)
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for start in range(0, len(reference) - READ_LENGTH - 2, STEP):
            for copy in range(passes):
                bam.write(simulated_read(bam, reference, start, variants, rng,
                                         f"{sm_tag}:{start}:{copy}", copy % 2 == 1, sm_tag))
    pysam.index(str(path))


def simulated_read(bam, reference: str, start: int, variants, rng, name: str, reverse: bool,
                   read_group: str) -> pysam.AlignedSegment:
    bases, cigar, matched, position = [], [], 0, start
    while len(bases) < READ_LENGTH:
        # Carry a variant only away from the read ends, where aligners would soft-clip it.
        kind = next((kind for pos, vaf, kind in variants
                     if pos - 1 == position and 5 < len(bases) < READ_LENGTH - 5
                     and rng.random() < vaf), None)
        bases.append(alt_base(reference[position]) if kind == "SNV" else reference[position])
        matched, position = matched + 1, position + 1
        if kind == "DEL":  # the padding base stays, the next two are deleted
            cigar += [(0, matched), (2, 2)]
            matched, position = 0, position + 2
    read = pysam.AlignedSegment(bam.header)
    read.query_name, read.reference_id, read.reference_start = name, 0, start
    read.query_sequence = "".join(bases)
    read.cigartuples = cigar + [(0, matched)]
    read.mapping_quality, read.is_reverse = 60, reverse
    read.query_qualities = pysam.qualitystring_to_array("I" * READ_LENGTH)
    read.set_tag("RG", read_group)
    return read


def write_truth(path: Path, reference: str) -> None:
    (germline, _, _), (snv, snv_vaf, _), (deletion, deletion_vaf, _) = (
        GERMLINE_SNV, SOMATIC_SNV, SOMATIC_DELETION)
    sites = [(germline, reference[germline - 1], "germline", 0.5),
             (snv, reference[snv - 1], "somatic", snv_vaf)]
    records = [{"pos": pos, "ref": ref, "alt": alt_base(ref), "info": {"STATUS": status},
                "samples": {"P1": {"GT": (0, 1), "VAF": vaf}}} for pos, ref, status, vaf in sites]
    records.append({"pos": deletion, "ref": reference[deletion - 1:deletion + 2],
                    "alt": reference[deletion - 1], "info": {"STATUS": "somatic"},
                    "samples": {"P1": {"GT": (0, 1), "VAF": deletion_vaf}}})
    write_vcf(path, ["P1"], [("GT", 1, "String"), ("VAF", 1, "Float")], [("STATUS", 1, "String")],
              records)


def workflow_candidates(run: Path) -> None:
    """The workflow's bcftools chain (workflow/rules/call.smk) on the tiny run."""
    fasta, mapped = run / "results/reference/genome.fa", run / "results/mapped"
    call_patients([{"patient": "P1", "samples": ["P1-T", "P1-N"],
                    "bams": [str(mapped / "P1-T.bam"), str(mapped / "P1-N.bam")]}],
                  run / "results/shards/s000/called", fasta=str(fasta),
                  targets=str(run / "targets.bed"), min_base_quality=20, min_mapping_quality=20)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A run directory as the workflow leaves it: one pair whose BAMs carry other SM tags."""
    if not (shutil.which("freebayes") and shutil.which("bcftools")):
        pytest.skip("freebayes and bcftools are needed")
    run = tmp_path_factory.mktemp("run")
    rng = random.Random(7)
    reference = "".join(rng.choice("ACGT") for _ in range(CONTIG_LENGTH))
    for folder in ("config", "results/reference", "results/mapped", "results/toy_cohort"):
        (run / folder).mkdir(parents=True)
    (run / "results/reference/genome.fa").write_text(f">c1\n{reference}\n")
    pysam.faidx(str(run / "results/reference/genome.fa"))
    (run / "targets.bed").write_text(f"c1\t100\t{CONTIG_LENGTH - 100}\n")
    (run / "config/config.yaml").write_text("samples: config/samples.tsv\n"
                                            "reference: {targets: targets.bed}\n")
    (run / "config/samples.tsv").write_text(
        "patient\tsample\ttype\nP1\tP1-T\ttumour\nP1\tP1-N\tnormal\nP2\tP2-T\ttumour\n")
    write_bam(run / "results/mapped/P1-T.bam", reference, "tumour_lib",
              [GERMLINE_SNV, SOMATIC_SNV, SOMATIC_DELETION], passes=8)
    write_bam(run / "results/mapped/P1-N.bam", reference, "normal_lib", [GERMLINE_SNV], passes=4)
    write_truth(run / "results/toy_cohort/truth.vcf.gz", reference)
    workflow_candidates(run)
    return run


def test_compare_callers_scores_both_callers_on_the_same_pair(tiny_run, tmp_path, capsys):
    output = tmp_path / "scores.tsv"
    assert main(["compare-callers", "--run-dir", str(tiny_run), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "totals at VAF >= 10%" in printed and "wall seconds" in printed
    scores = pd.read_csv(output, sep="\t")
    assert set(scores.caller) == {"bcftools", "freebayes"}
    counts = ["truth", "found", "calls", "true_calls"]
    for caller in ("bcftools", "freebayes"):
        totals = totals_from(scores[scores.caller == caller]).set_index("kind")
        # The somatic SNV and deletion are found, the germline het is not called somatic.
        assert totals.loc["SNV", counts].tolist() == [1, 1, 1, 1], caller
        assert totals.loc["indel", counts].tolist() == [1, 1, 1, 1], caller


def test_unpaired_patient_and_missing_outputs_are_input_errors(tiny_run, tmp_path):
    with pytest.raises(InputError, match="P2"):
        run_inputs(tiny_run, ["P2"])
    shutil.copytree(tiny_run / "config", tmp_path / "config")
    with pytest.raises(InputError, match="genome.fa.*run the workflow"):
        run_inputs(tmp_path)


def test_compare_callers_is_a_registered_command():
    args = build_parser().parse_args(
        ["compare-callers", "--run-dir", "x", "--patients", "P1", "P2"])
    assert (args.run_dir, args.patients, args.output) == ("x", ["P1", "P2"], None)


def test_workflow_candidates_keep_bcftools_versions_but_no_command_lines(tiny_run):
    """Command lines carry dates and paths that differ between runs; the Version lines stay (the
    variants table records them)."""
    called = tiny_run / "results/shards/s000/called"
    assert sorted(path.name for path in called.iterdir()) == ["P1.vcf.gz", "P1.vcf.gz.tbi"]
    header = subprocess.run(["bcftools", "view", "--no-version", "-h", str(called / "P1.vcf.gz")],
                            check=True, capture_output=True, text=True).stdout
    assert "##bcftools_callVersion=" in header and "##bcftoolsVersion=" in header
    assert "Command=" not in header and "Date=" not in header
    with pysam.TabixFile(str(called / "P1.vcf.gz")) as indexed:  # the index fits the file
        assert sum(1 for contig in indexed.contigs for _ in indexed.fetch(contig)) >= 2
