"""The toy cohort end to end: calls against the planted truth, drivers, tables and provenance."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from oncoweave.evaluation import KEY, recall_precision_table, truth_table

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
    from oncoweave.variants import VARIANTS_SCHEMA

    workdir, _, _, _ = cohort
    for path in [workdir / "results/cohort/variants.parquet",
                 *sorted((workdir / "results/variants").glob("*.parquet"))]:
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
    assert list((workdir / "benchmarks/map_reads").glob("*.tsv"))
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
             f"SAME\tSAME-T\ttumour\t\t\t{mapped / 'P03-T.bam'}\t\t\n"
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
