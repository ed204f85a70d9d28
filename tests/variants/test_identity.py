"""Tumour/normal identity QC on synthetic joint VCFs (and real 1000 Genomes genotypes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from helpers import CALL_FORMATS, SHARED_DATA, write_vcf_gz
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.variants.identity import check_pair_identity

IARC_VCF = SHARED_DATA / "iarc_data_test_tp53_hg19/VCF/1000G_CEU_TP53_needlestack.vcf.gz"

GT_BY_DOSAGE = {0: (0, 0), 1: (0, 1), 2: (1, 1)}


def write_vcf(path: Path, sites: list[dict], samples=("TUMOUR", "NORMAL"),
              with_depth: bool = True) -> Path:
    """Joint VCF like bcftools call -m -A after norm: one biallelic record per site.

    Each site: {"TUMOUR": (gt, (ref_reads, alt_reads)), "NORMAL": (...)}; DP = sum of AD.
    """
    def calls(gt, ad) -> dict:
        return {"GT": gt, "AD": ad, **({"DP": sum(ad)} if with_depth else {})}

    records = [{"contig": "chr17", "pos": 1001 + 100 * index, "alleles": ("A", "G"),
                "samples": {sample: calls(*site[sample]) for sample in samples}}
               for index, site in enumerate(sites)]
    return write_vcf_gz(path, records, contigs={"chr17": 10_000_000}, samples=samples,
                        formats=CALL_FORMATS if with_depth else CALL_FORMATS[:2])


def germline_dosages(seed: int, n_sites: int) -> np.ndarray:
    """Genotypes (0/1/2 alt copies) of one person at common SNPs (allele frequency 0.5)."""
    return np.random.default_rng(seed).binomial(2, 0.5, size=n_sites)


def reads(rng, depth: int, alt_fraction: float) -> tuple[int, int]:
    alt = int(rng.binomial(depth, min(max(alt_fraction, 0.005), 0.995)))  # 0.5% sequencing error
    return depth - alt, alt


def simulate_pair(path: Path, tumour_person: np.ndarray, normal_person: np.ndarray, *,
                  purity: float = 0.7, loh_sites: int = 0, depth: int = 100,
                  seed: int = 7) -> Path:
    """Tumour + normal; copy-neutral LOH to ALT at the tumour's first ``loh_sites`` het sites."""
    rng = np.random.default_rng(seed)
    het_sites = np.flatnonzero(tumour_person == 1)[:loh_sites]
    sites = []
    for index, (tumour_dosage, normal_dosage) in enumerate(zip(tumour_person, normal_person)):
        germline_fraction = tumour_dosage / 2
        if index in het_sites:  # tumour cells carry two alt copies, normal cells one
            tumour_fraction = purity * 1.0 + (1 - purity) * 0.5
            tumour_gt = (1, 1)  # what a diploid caller reports at this allelic imbalance
        else:
            tumour_fraction, tumour_gt = germline_fraction, GT_BY_DOSAGE[tumour_dosage]
        sites.append({
            "TUMOUR": (tumour_gt, reads(rng, 2 * depth, tumour_fraction)),
            "NORMAL": (GT_BY_DOSAGE[normal_dosage], reads(rng, depth, normal_dosage / 2)),
        })
    return write_vcf(path, sites)


def test_true_pair_passes_despite_loh_and_impure_tumour(tmp_path):
    person = germline_dosages(seed=1, n_sites=60)
    vcf = simulate_pair(tmp_path / "pair.vcf.gz", person, person, loh_sites=8)
    result = check_pair_identity(vcf, "TUMOUR", "NORMAL")
    assert result.status == "pass"
    assert result.n_sites == int(np.sum(person > 0))  # every non-ref normal site is deep enough
    assert result.concordance >= 0.9


def test_high_purity_loh_passes_with_the_purity_and_a_swap_still_fails(tmp_path):
    """At purity 0.95 an LOH het leaves the lost allele at 2.5 %: the fixed bounds call it
    homozygous (a large LOH region fails its own normal); with the purity it stays het."""
    person = germline_dosages(seed=1, n_sites=60)
    vcf = simulate_pair(tmp_path / "pair.vcf.gz", person, person, purity=0.95, loh_sites=12)
    assert check_pair_identity(vcf, "TUMOUR", "NORMAL").status == "fail"
    assert check_pair_identity(vcf, "TUMOUR", "NORMAL", purity=0.95).status == "pass"
    other = simulate_pair(tmp_path / "swap.vcf.gz", person, germline_dosages(seed=2, n_sites=60),
                          purity=0.95)
    assert check_pair_identity(other, "TUMOUR", "NORMAL", purity=0.95).status == "fail"


def test_normal_from_another_individual_fails(tmp_path):
    tumour_person = germline_dosages(seed=1, n_sites=60)
    other_person = germline_dosages(seed=2, n_sites=60)
    vcf = simulate_pair(tmp_path / "swap.vcf.gz", tumour_person, other_person)
    result = check_pair_identity(vcf, "TUMOUR", "NORMAL")
    assert result.status == "fail"
    assert result.n_sites == int(np.sum(other_person > 0))
    assert result.concordance < 0.7
    # Classes agree exactly where the two people share a genotype (no LOH, clean depth).
    shared = np.mean((tumour_person == other_person)[other_person > 0])
    assert result.concordance == pytest.approx(shared, abs=0.05)


def test_concordance_counts_only_deep_non_reference_normal_sites(tmp_path):
    sites = [
        {"TUMOUR": ((0, 1), (30, 28)), "NORMAL": ((0, 1), (25, 24))},  # het/het: agree
        {"TUMOUR": ((1, 1), (1, 40)), "NORMAL": ((1, 1), (0, 30))},  # hom/hom: agree
        {"TUMOUR": ((1, 1), (12, 50)), "NORMAL": ((0, 1), (15, 14))},  # AF 0.81 is het: agree
        {"TUMOUR": ((0, 0), (60, 0)), "NORMAL": ((0, 1), (20, 20))},  # het lost: disagree
        {"TUMOUR": ((0, 1), (30, 30)), "NORMAL": ((0, 0), (40, 0))},  # normal ref: not counted
        {"TUMOUR": ((0, 1), (30, 30)), "NORMAL": ((0, 1), (9, 10))},  # normal DP 19: not counted
        {"TUMOUR": ((0, 1), (9, 9)), "NORMAL": ((0, 1), (20, 20))},  # tumour DP 18: not counted
    ]
    vcf = write_vcf(tmp_path / "hand.vcf.gz", sites)
    result = check_pair_identity(vcf, "TUMOUR", "NORMAL", min_depth=20, min_sites=4)
    assert (result.n_sites, result.concordance, result.status) == (4, 0.75, "fail")
    assert check_pair_identity(vcf, "TUMOUR", "NORMAL", min_sites=4,
                               min_concordance=0.7).status == "pass"
    # Without FORMAT/DP the depth is the sum of AD, as in the classification.
    no_dp = write_vcf(tmp_path / "no_dp.vcf.gz", sites, with_depth=False)
    assert check_pair_identity(no_dp, "TUMOUR", "NORMAL", min_sites=4) == result


def test_too_few_sites_is_insufficient_data(tmp_path):
    person = germline_dosages(seed=3, n_sites=12)
    vcf = simulate_pair(tmp_path / "few.vcf.gz", person, person)
    n_informative = int(np.sum(person > 0))
    assert n_informative < 10
    result = check_pair_identity(vcf, "TUMOUR", "NORMAL", min_sites=10)
    assert (result.status, result.n_sites) == ("insufficient_data", n_informative)


def test_tumour_only_patient_is_no_normal(tmp_path):
    result = check_pair_identity(tmp_path / "not-read.vcf.gz", "TUMOUR", None)
    assert (result.status, result.normal, result.n_sites, result.concordance) == (
        "no_normal", None, 0, None)


def test_sample_missing_from_vcf_names_the_file(tmp_path):
    vcf = write_vcf(tmp_path / "pair.vcf.gz", [])
    with pytest.raises(InputError, match=r"pair\.vcf\.gz.*'NORMAL2' not in the VCF"):
        check_pair_identity(vcf, "TUMOUR", "NORMAL2")


def test_vcf_without_allele_depths_is_refused(tmp_path):
    vcf = tmp_path / "no_ad.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr17>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOUR\tNORMAL\n"
                   "chr17\t100\t.\tA\tG\t50\t.\t.\tGT:DP\t0/1:40\t0/1:40\n")
    with pytest.raises(InputError, match=r"no_ad\.vcf: FORMAT field\(s\) AD missing"):
        check_pair_identity(vcf, "TUMOUR", "NORMAL")


def test_header_only_vcf_is_insufficient_data(tmp_path):
    vcf = write_vcf(tmp_path / "empty.vcf.gz", [])
    result = check_pair_identity(vcf, "TUMOUR", "NORMAL")
    assert (result.status, result.n_sites, result.concordance) == ("insufficient_data", 0, None)


def test_cli_writes_one_row_and_no_file_on_bad_input(tmp_path, capsys):
    person = germline_dosages(seed=1, n_sites=60)
    vcf = simulate_pair(tmp_path / "pair.vcf.gz", person, person)
    output = tmp_path / "qc" / "identity.tsv"
    argv = ["check-identity", "--vcf", str(vcf), "--patient", "P1", "--tumour", "TUMOUR",
            "--normal", "NORMAL", "--output", str(output)]
    assert main(argv) == 0
    table = pd.read_csv(output, sep="\t")
    assert list(table.columns) == ["patient", "tumour", "normal", "n_sites", "concordance",
                                   "status"]
    assert table.iloc[0][["patient", "tumour", "normal", "n_sites", "status"]].tolist() == [
        "P1", "TUMOUR", "NORMAL", int(np.sum(person > 0)), "pass"]

    bad_output = tmp_path / "bad.tsv"
    assert main(argv[:-4] + ["--normal", "NOPE", "--output", str(bad_output)]) == 2
    assert "'NOPE' not in the VCF" in capsys.readouterr().err
    assert not bad_output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair.vcf.gz", "qc"]


@pytest.mark.skipif(not IARC_VCF.exists(), reason="shared 1000 Genomes data absent")
def test_real_ceu_genotypes_are_too_sparse_to_decide(tmp_path):
    """11 TP53 sites, mostly rare: no CEU pair reaches 10 germline sites, so none is judged.

    needlestack writes RO/AO rather than AD; the test rewrites them as AD first.
    """
    with pysam.VariantFile(str(IARC_VCF)) as source:
        samples = list(source.header.samples)[:12]
        records = [{s: (r.samples[s]["GT"], (r.samples[s]["RO"], r.samples[s]["AO"]))
                    for s in samples} for r in source]
    vcf = write_vcf(tmp_path / "ceu.vcf.gz", records, samples=samples)

    def deep_non_ref_sites(tumour: str, normal: str) -> int:
        return sum(1 for site in records
                   if None not in site[normal][0] and any(site[normal][0])
                   and sum(site[normal][1]) >= 20 and sum(site[tumour][1]) >= 20)

    for tumour, normal in zip(samples, samples[1:] + samples[:1]):
        result = check_pair_identity(vcf, tumour, normal)
        assert result.n_sites == deep_non_ref_sites(tumour, normal)
        assert result.status == "insufficient_data"
