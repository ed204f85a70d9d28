"""The toy cohort end to end: calls against the planted truth, drivers, tables and provenance."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import run_snakemake
from oncoweave.variants.caller_evaluation import KEY, recall_precision_table, truth_table

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def cohort(toy_run):
    workdir, _ = toy_run
    variants = pd.read_parquet(workdir / "results/cohort/variants.parquet")
    truth = truth_table(workdir / "results/toy_cohort/truth.vcf.gz")
    samples = pd.read_csv(workdir / "config/samples.tsv", sep="\t", dtype=str).fillna("")
    paired = set(samples.loc[samples.type == "normal", "patient"])
    return workdir, variants, truth, paired


def test_somatic_recall_and_precision_per_vaf_band(cohort):
    _, variants, truth, paired = cohort
    variants = variants[variants.patient.isin(set(truth.patient))]  # the read patients
    table = recall_precision_table(variants, truth, paired)
    print("\nsomatic calls against the toy truth\n" + table.to_string(index=False))
    for kind in ("SNV", "indel"):
        band = table[(table.kind == kind) & (table.vaf_band != "0.00-0.10")]
        assert band.truth.sum() > 0, f"no planted {kind} at VAF >= 10 %"
        recall = band.found.sum() / band.truth.sum()
        precision = band.true_calls.sum() / band.calls.sum()
        assert recall >= 0.95, f"{kind} recall at VAF >= 10 % is {recall:.3f}"
        assert precision >= 0.98, f"{kind} precision at VAF >= 10 % is {precision:.3f}"


def test_germline_and_loh_calls(cohort):
    _, variants, truth, paired = cohort
    called = {tuple(k): s for k, s in zip(variants[KEY].values, variants.status)}
    for status in ("germline", "loh"):
        planted = truth[(truth.truth_status == status) & truth.patient.isin(paired)]
        assert len(planted), f"the toy cohort plants no {status} variant"
        hits = sum(called.get(tuple(k)) == status for k in planted[KEY].values)
        assert hits / len(planted) >= 0.95, f"{status}: {hits} of {len(planted)} found"


def test_planted_drivers_have_their_protein_change(cohort):
    _, variants, truth, _ = cohort
    drivers = truth[truth.hgvs_p_truth.notna()]
    assert {"p.R175H", "p.L858R", "p.E746_A750del"} <= set(drivers.hgvs_p_truth)
    merged = drivers.merge(variants, on=KEY, how="left")
    missing = merged[merged.hgvs_p != merged.hgvs_p_truth]
    assert missing.empty, missing[KEY + ["hgvs_p_truth", "hgvs_p"]].to_string()
    assert (merged.chrom.isin(["chr7", "chr13", "chr17"])).all()


def test_genomic_coordinates_are_grch38(cohort):
    _, variants, _, _ = cohort
    r175h = variants[variants.hgvs_p == "p.R175H"].iloc[0]
    assert (r175h.chrom, r175h.pos, r175h.ref, r175h.alt) == ("chr17", 7675088, "C", "T")
    assert r175h.gene == "TP53" and r175h.hgvs_c == "c.524G>A"


def test_parquet_carries_schema_and_provenance(cohort):
    from oncoweave.variants.schema import VARIANTS_SCHEMA

    workdir, _, _, _ = cohort
    for path in [workdir / "results/cohort/variants.parquet",
                 *sorted((workdir / "results/shards").glob("*/variants.parquet"))]:
        schema = pq.read_schema(path)
        assert schema.remove_metadata().equals(VARIANTS_SCHEMA.remove_metadata()), path
        metadata = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        assert metadata.get("oncoweave_version")
        assert len(metadata.get("config_hash", "")) >= 8
        assert any("bcftools" in key for key in metadata), sorted(metadata)


def test_identity_and_tumour_only_patient(cohort):
    workdir, variants, _, paired = cohort
    identity = pd.read_csv(workdir / "results/qc/identity.tsv", sep="\t")
    assert set(identity.loc[identity.patient.isin(paired), "status"]) == {"pass"}
    unpaired = set(variants.patient) - paired
    assert unpaired, "the toy cohort must hold a patient without a normal"
    assert set(variants.loc[variants.patient.isin(unpaired), "status"]) == {"tumour_only"}
    assert set(identity.loc[identity.patient.isin(unpaired), "status"]) == {"no_normal"}


def test_maf_and_qc_reports_exist(cohort):
    workdir, variants, _, _ = cohort
    maf = pd.read_csv(workdir / "results/cohort/variants.maf", sep="\t", comment="#")
    assert {"Hugo_Symbol", "Variant_Classification", "HGVSp_Short", "Tumor_Sample_Barcode"} <= set(maf)
    assert "p.R175H" in set(maf.HGVSp_Short)
    assert "germline" not in set(maf.get("oncoweave_status", []))
    report = (workdir / "results/qc/multiqc.html").read_text(errors="replace")
    assert "fastp" in report and "mosdepth" in report.lower()
    # every rule wrote a benchmark and a log
    assert list((workdir / "benchmarks/align_reads").glob("*.tsv"))
    assert list((workdir / "logs/call_variants").glob("*.log"))


def test_bundled_sheets_are_what_the_generator_writes(toy_run):
    workdir, _ = toy_run
    for sheet in ("samples.tsv", "clinical.tsv"):
        generated = (workdir / "results/toy_cohort" / sheet).read_text()
        assert generated == (workdir / "config" / sheet).read_text(), sheet


def test_swapped_pair_is_flagged_and_not_analysed_as_a_pair(toy_run, tmp_path):
    """P01's tumour with P02's normal: the identity check fails and the calls are tumour-only."""
    from helpers import make_workdir, run_snakemake

    toy_dir, _ = toy_run
    mapped = toy_dir / "results/mapped"
    sheet = ("patient\tsample\ttype\tfastq1\tfastq2\tbam\tvcf\tpurity\n"
             f"SWAP\tSWAP-T\ttumour\t\t\t{mapped / 'P01-T.bam'}\t\t\n"
             f"SWAP\tSWAP-N\tnormal\t\t\t{mapped / 'P02-N.bam'}\t\t\n"
             # P03 carries a copy-neutral LOH of BRCA1 at purity 0.9: with the purity, the check
             # tells it from a swap (toy.planting.COPY_NUMBER_EVENTS).
             f"SAME\tSAME-T\ttumour\t\t\t{mapped / 'P03-T.bam'}\t\t0.9\n"
             f"SAME\tSAME-N\tnormal\t\t\t{mapped / 'P03-N.bam'}\t\t\n")
    workdir = make_workdir(tmp_path, sheet)
    run_snakemake(workdir, "--cores", "2", "results/cohort/variants.parquet", "results/qc/identity.tsv")
    identity = pd.read_csv(workdir / "results/qc/identity.tsv", sep="\t").set_index("patient")
    assert identity.loc["SWAP", "status"] == "fail"
    assert identity.loc["SAME", "status"] == "pass"
    variants = pd.read_parquet(workdir / "results/cohort/variants.parquet")
    swapped = variants[variants.patient == "SWAP"]
    assert len(swapped) and set(swapped.status) == {"tumour_only"}
    assert set(swapped.pair_identity) == {"fail"}
    assert swapped.n_depth.isna().all(), "a failed pair must not report the other person's counts"
    same = variants[variants.patient == "SAME"]
    assert {"somatic", "germline"} <= set(same.status)


def test_planted_drivers_score_above_germline_snps(toy_run):
    workdir, _ = toy_run
    drivers = pd.read_parquet(workdir / "results/cohort/drivers.parquet")
    read_patients = drivers.patient.str[1:].astype(int) <= 8
    planted = drivers[read_patients & drivers.hgvs_p.isin(["p.R175H", "p.R248Q", "p.R273H", "p.L858R", "p.T790M",
                                           "p.E746_A750del", "p.E23Vfs*17", "p.S1982Rfs*22"])]
    assert len(planted) == 8
    benign = drivers[(drivers.status == "germline") & drivers.driver_score.notna()
                     & drivers.consequence.isin(["missense", "synonymous", "intron"])]
    assert len(benign) >= 10
    assert planted.driver_score.min() > benign.driver_score.max()
    assert planted.driver_reasons.str.len().min() > 0


def test_therapies_tmb_and_icb_for_the_toy_patients(toy_run):
    workdir, _ = toy_run

    def therapies(patient):
        table = pd.read_parquet(workdir / "results/cohort/therapies.parquet")
        return table[table.patient == patient]

    # P02: EGFR L858R in a lung adenocarcinoma -> EGFR TKIs at tier I.
    p02 = therapies("P02")
    l858r = p02[(p02.hgvs_p == "p.L858R") & (p02.direction == "sensitivity")]
    assert {"Osimertinib", "Erlotinib"} <= set(l858r.loc[l858r.amp_tier.str.startswith("I") &
                                                         ~l858r.amp_tier.str.startswith("II"),
                                                         "drug"])
    # P08: T790M -> osimertinib, and resistance to first-generation TKIs.
    p08 = therapies("P08")
    t790m = p08[p08.hgvs_p == "p.T790M"]
    assert "Osimertinib" in set(t790m.loc[t790m.direction == "sensitivity", "drug"])
    assert "resistance" in set(t790m.direction)
    # P01's germline BRCA1 founder frameshift -> PARP inhibitor, flagged as germline.
    p01 = therapies("P01")
    germline = p01[p01.hgvs_p == "p.Q1756Pfs*74"]
    assert "Olaparib" in set(germline.drug) and set(germline.variant_status) == {"germline"}
    # A four-gene panel is far too small for TMB: never reported, and said why.
    tmb = pd.read_parquet(workdir / "results/cohort/tmb.parquet")
    patients = pd.read_csv(workdir / "config/samples.tsv", sep="\t")["patient"]
    assert sorted(tmb.patient) == sorted(patients.unique())
    assert not tmb.reportable.any() and tmb.reason.str.contains("callable territory").all()
    # The toy clinical sheet lacks the model's features: no prediction, and a reason for each.
    icb = pd.read_parquet(workdir / "results/icb/predictions.parquet")
    assert icb.response_probability.isna().all() and icb.reason.str.startswith("not available").all()


def test_saturation_table_covers_every_coding_snv(toy_run):
    workdir, _ = toy_run
    saturation = pd.read_parquet(workdir / "results/saturation.parquet")
    assert set(saturation.gene) == {"TP53", "BRCA1", "BRCA2", "EGFR"}
    # Three possible SNVs at each base of the four canonical CDS (393, 1863, 3418 and 1210 codons
    # plus a stop codon each), and more at the splice sites.
    coding_bases = 3 * (393 + 1863 + 3418 + 1210 + 4)
    assert len(saturation) >= 3 * coding_bases
    assert list((workdir / "results/drivers/plots").glob("*_lollipop.png"))


def test_benchmarks_of_every_job_are_gathered(cohort):
    workdir = cohort[0]
    jobs = pd.read_parquet(workdir / "results/benchmarks.parquet")
    files = sorted((workdir / "benchmarks").rglob("*.tsv"))
    # Every job but gather_benchmarks itself (whose benchmark is written after it ran).
    assert len(jobs) == len(files) - 1
    assert jobs.groupby("rule").size()["align_reads"] == 15
    assert jobs.wall_s.ge(0).all() and jobs.wall_s.sum() > 60  # fast jobs read 0.00 s
    assert (workdir / "results/benchmarks.png").stat().st_size > 1000


def test_vcf_patients_planted_drivers_are_scored_as_drivers(toy_run):
    """The tumour-only VCF patients: every hotspot planted in their VCF is a scored driver."""
    import pysam

    workdir, _ = toy_run
    # The read patients' truth names the same hotspots at the same reference-contig positions.
    with pysam.VariantFile(str(workdir / "results/toy_cohort/truth.vcf.gz")) as truth:
        named = {(r.chrom, r.pos, r.ref, r.alts[0]): r.info["HGVSP"] for r in truth
                 if "HGVSP" in r.info and r.info["STATUS"] == "somatic"}
    drivers = pd.read_parquet(workdir / "results/cohort/drivers.parquet")
    samples = pd.read_csv(workdir / "config/samples.tsv", sep="\t", dtype=str).fillna("")
    planted_count = 0
    for row in samples[samples.vcf != ""].itertuples():
        with pysam.VariantFile(str(workdir / row.vcf)) as vcf:
            planted = {named[key] for r in vcf
                       if (key := (r.chrom, r.pos, r.ref, r.alts[0])) in named}
        scored = drivers[(drivers.patient == row.patient) & (drivers.driver_score >= 0.9)]
        assert planted <= set(scored.hgvs_p), (row.patient, planted)
        planted_count += len(planted)
    assert planted_count >= 10


def test_a_finished_run_has_nothing_left_to_do_whatever_the_hash_seed(toy_run):
    """Params are built in a stable order: a set's order, which changes with PYTHONHASHSEED
    between runs, would make Snakemake rerun jobs whose params 'changed'."""
    workdir, _ = toy_run
    for seed in ("1", "2"):
        result = run_snakemake(workdir, "-n", env={"PYTHONHASHSEED": seed})
        assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]
