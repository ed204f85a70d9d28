"""Somatic / germline / LOH / tumour-only classification from read counts, and over a VCF."""

from __future__ import annotations

from math import comb
from pathlib import Path

import pysam
import pytest

from helpers import CALL_FORMATS, write_vcf_gz
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.variants.classify import (
    CallingThresholds,
    StrandCounts,
    above_reporting_floor,
    classify_counts,
    classify_vcf,
)

DEFAULTS = CallingThresholds()


def one_sided_fisher(t_depth: int, t_alt: int, n_depth: int, n_alt: int) -> float:
    """P(tumour holds >= t_alt of all ALT reads) under the hypergeometric null, by hand."""
    alts, total = t_alt + n_alt, t_depth + n_depth
    return sum(comb(t_depth, k) * comb(n_depth, alts - k)
               for k in range(t_alt, min(alts, t_depth) + 1)) / comb(total, alts)


# --- classify_counts -------------------------------------------------------------------------

def test_clear_somatic_passes_with_the_hand_computed_fisher_p():
    result = classify_counts(200, 40, 100, 0, DEFAULTS)
    assert (result.status, result.filters) == ("somatic", ())
    # No normal ALT read: p = C(200, 40) / C(300, 40).
    assert result.fisher_p == pytest.approx(comb(200, 40) / comb(300, 40), rel=1e-9)
    assert result.filter_value == "PASS"


def test_fisher_threshold_decides_a_borderline_somatic_call():
    p = one_sided_fisher(141, 12, 61, 0)  # a 10 % indel at low indel depth, seen in simulation
    assert 0.01 < p < 0.05
    assert classify_counts(141, 12, 61, 0, DEFAULTS).passed
    strict = classify_counts(141, 12, 61, 0, CallingThresholds(somatic_pvalue=0.01))
    assert strict.filters == ("not_significant",)
    assert strict.fisher_p == pytest.approx(p, rel=1e-9)


def test_germline_heterozygote():
    result = classify_counts(200, 96, 100, 52, DEFAULTS)
    assert (result.status, result.filters) == ("germline", ())
    assert result.fisher_p > 0.05


def test_loh_towards_the_alt_allele_and_towards_the_ref_allele():
    kept_alt = classify_counts(200, 165, 100, 48, DEFAULTS)
    assert (kept_alt.status, kept_alt.filters) == ("loh", ())
    assert kept_alt.fisher_p == pytest.approx(one_sided_fisher(200, 165, 100, 48), rel=1e-9)
    kept_ref = classify_counts(200, 30, 100, 50, DEFAULTS)
    assert (kept_ref.status, kept_ref.filters) == ("loh", ())


def test_imbalance_short_of_homozygous_stays_germline():
    # 2:1 single-copy gain at full purity: VAF 0.67 < loh_min_vaf, however significant.
    result = classify_counts(600, 400, 100, 50, DEFAULTS)
    assert result.fisher_p < DEFAULTS.loh_pvalue
    assert result.status == "germline"


def test_homozygous_normal_is_germline_not_loh():
    assert classify_counts(200, 199, 100, 100, DEFAULTS).status == "germline"


def test_sequencing_noise_fails_every_tumour_filter_and_is_below_the_floor():
    result = classify_counts(200, 3, 100, 0, DEFAULTS)
    assert result.status == "somatic"
    assert result.filters == ("low_alt_reads", "low_vaf", "not_significant")
    assert not above_reporting_floor(200, 1, 100, 0, DEFAULTS)
    assert not above_reporting_floor(200, 3, 100, 0, DEFAULTS)  # 1.5 % < report_min_vaf
    assert above_reporting_floor(100, 2, 100, 0, DEFAULTS)
    assert above_reporting_floor(200, 0, 100, 45, DEFAULTS)  # germline allele lost in tumour


def test_normal_contamination_and_low_normal_depth_are_flagged():
    assert classify_counts(200, 60, 100, 10, DEFAULTS).filters == ("high_normal_vaf",)
    # Five normal reads cannot show the normal is reference: the test has no power either.
    assert classify_counts(200, 60, 5, 0, DEFAULTS).filters == ("low_normal_depth",
                                                                 "not_significant")


def test_tumour_only_has_no_fisher_test():
    result = classify_counts(200, 40, None, None, DEFAULTS)
    assert (result.status, result.filters, result.fisher_p) == ("tumour_only", (), None)
    low = classify_counts(8, 1, None, None, DEFAULTS)
    assert low.filters == ("low_tumour_depth", "low_alt_reads")


def test_strand_bias_needs_one_sided_alt_reads():
    one_strand = StrandCounts(ref_forward=80, ref_reverse=80, alt_forward=40, alt_reverse=0)
    balanced = StrandCounts(ref_forward=80, ref_reverse=80, alt_forward=22, alt_reverse=18)
    assert classify_counts(200, 40, 100, 0, DEFAULTS, strands=one_strand).filters == (
        "strand_bias",)
    assert classify_counts(200, 40, 100, 0, DEFAULTS, strands=balanced).passed


def test_thresholds_from_config_reject_unknown_keys_and_bad_values():
    assert CallingThresholds.from_mapping({}) == CallingThresholds()
    assert CallingThresholds.from_mapping({"min_vaf": 0.1}).min_vaf == 0.1
    with pytest.raises(InputError, match=r"unknown threshold\(s\) min_vafx; valid: .*min_vaf"):
        CallingThresholds.from_mapping({"min_vafx": 0.1})
    with pytest.raises(InputError, match="min_alt_reads must be int"):
        CallingThresholds(min_alt_reads=2.5)
    with pytest.raises(InputError, match="somatic_pvalue out of range"):
        CallingThresholds(somatic_pvalue=5.0)


# --- classify_vcf ----------------------------------------------------------------------------

# (ref, alt, tumour AD, normal AD); positions 1000, 1100, ...
SITES = [
    ("C", "T", (160, 40), (100, 0)),   # somatic
    ("G", "A", (104, 96), (48, 52)),   # germline het
    ("A", "G", (35, 165), (52, 48)),   # LOH
    ("T", "C", (199, 1), (100, 0)),    # noise: dropped
    ("G", "T", (100, 4), (100, 0)),    # 4 % in tumour: kept, fails low_vaf / not_significant
]


def write_candidates(path: Path, sites=SITES, samples=("TUM", "NOR")) -> Path:
    """A joint VCF like bcftools mpileup -a AD,DP | call -m -A | norm -m -any."""
    records = [{"contig": "chr17_TP53", "pos": 1000 + 100 * index,
                "alleles": (ref,) + ((alt,) if isinstance(alt, str) else alt), "qual": 30.0,
                "samples": {sample: {"GT": (0, 1), "AD": ad, "DP": sum(ad)}
                            for sample, ad in zip(samples, depths)}}
               for index, (ref, alt, *depths) in enumerate(sites)]
    return write_vcf_gz(path, records, contigs={"chr17_TP53": 70000}, samples=samples,
                        formats=CALL_FORMATS, meta=[("bcftools_callVersion", "1.16+htslib-1.16")])


def read_calls(path: Path) -> dict[int, pysam.VariantRecord]:
    with pysam.VariantFile(str(path)) as vcf:
        return {record.pos: record for record in vcf}


def test_classify_vcf_writes_indexed_annotated_calls(tmp_path):
    candidates = write_candidates(tmp_path / "candidates.vcf.gz")
    output = tmp_path / "out" / "classified.vcf.gz"
    summary = classify_vcf(candidates, output, "TUM", "NOR", DEFAULTS)
    assert summary["records_in"] == 5 and summary["records_out"] == 4
    assert summary["dropped_noise"] == 1
    assert (summary["somatic"], summary["somatic_pass"]) == (2, 1)
    assert (summary["germline_pass"], summary["loh_pass"]) == (1, 1)
    assert Path(f"{output}.tbi").exists()
    calls = read_calls(output)
    assert sorted(calls) == [1000, 1100, 1200, 1400]
    somatic = calls[1000]
    assert list(somatic.filter) == ["PASS"]
    assert somatic.info["STATUS"] == "somatic"
    assert (somatic.info["T_DP"], somatic.info["T_ALT"], somatic.info["N_ALT"]) == (200, 40, 0)
    assert somatic.info["T_VAF"] == pytest.approx(0.2)
    assert somatic.info["FISHER_P"] == pytest.approx(comb(200, 40) / comb(300, 40), rel=1e-3)
    assert calls[1100].info["STATUS"] == "germline"
    assert calls[1200].info["STATUS"] == "loh"
    assert list(calls[1400].filter) == ["low_vaf", "not_significant"]
    with pysam.VariantFile(str(output)) as vcf:
        assert list(vcf.header.samples) == ["TUM", "NOR"]
        assert "not_significant" in vcf.header.filters
        assert vcf.header.info["N_VAF"].type == "Float"
        assert any(r.key == "oncoweave_classifyVersion" for r in vcf.header.records)
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "classified.vcf.gz", "classified.vcf.gz.tbi"]  # no temporary file left


def test_failed_pair_is_analysed_as_tumour_only(tmp_path):
    candidates = write_candidates(tmp_path / "candidates.vcf.gz")
    output = tmp_path / "classified.vcf.gz"
    summary = classify_vcf(candidates, output, "TUM", "NOR", DEFAULTS, pair_ok=False)
    calls = read_calls(output)
    assert {record.info["STATUS"] for record in calls.values()} == {"tumour_only"}
    assert summary["tumour_only"] == len(calls) == 4  # the LOH site has 165 tumour ALT reads
    assert all("N_DP" not in record.info and "FISHER_P" not in record.info
               for record in calls.values())
    # Without the normal, the germline het is an ordinary tumour-only PASS call.
    assert list(calls[1100].filter) == ["PASS"]


def test_no_normal_is_tumour_only(tmp_path):
    candidates = write_candidates(tmp_path / "candidates.vcf.gz")
    summary = classify_vcf(candidates, tmp_path / "c.vcf.gz", "TUM", None, DEFAULTS)
    assert summary["tumour_only"] == summary["records_out"] == 4


def test_unknown_sample_is_an_input_error_and_leaves_nothing(tmp_path):
    candidates = write_candidates(tmp_path / "candidates.vcf.gz")
    output = tmp_path / "out" / "classified.vcf.gz"
    with pytest.raises(InputError, match=r"candidates\.vcf\.gz: sample 'TUMOUR' not in the VCF "
                                         r"\(samples: TUM, NOR\)"):
        classify_vcf(candidates, output, "TUMOUR", "NOR", DEFAULTS)
    assert not output.exists()


def test_multiallelic_record_is_an_input_error_and_leaves_nothing(tmp_path):
    sites = SITES[:2] + [("C", ("T", "G"), (100, 30, 10), (100, 0, 0))]
    candidates = write_candidates(tmp_path / "candidates.vcf.gz", sites)
    with pytest.raises(InputError, match=r"chr17_TP53:1200 has 2 ALT alleles; split them first"):
        classify_vcf(candidates, tmp_path / "out.vcf.gz", "TUM", "NOR", DEFAULTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["candidates.vcf.gz"]


def test_cli_classify_variants(tmp_path, capsys):
    candidates = write_candidates(tmp_path / "candidates.vcf.gz")
    output = tmp_path / "classified.vcf.gz"
    code = main(["classify-variants", "--input", str(candidates), "--output", str(output),
                 "--tumour", "TUM", "--normal", "NOR", "--threshold", "min_vaf=0.3"])
    assert code == 0
    assert "somatic_pass=0" in capsys.readouterr().out  # the 20 % somatic call now fails low_vaf
    code = main(["classify-variants", "--input", str(candidates), "--output", str(output),
                 "--tumour", "TUM", "--threshold", "min_vaf"])
    assert code == 2
    assert "--threshold expects KEY=VALUE, got 'min_vaf'" in capsys.readouterr().err
