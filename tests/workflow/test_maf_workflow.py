"""A published cohort given as one MAF, through the workflow: every barcode a patient with a
report, the calls inside the reference regions classified, scored and exported as the VCF patients'
are (and read back to the same calls), TMB counting the rows outside the regions by their class,
and a bad MAF row stopping the run with its line named and no shard written."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from helpers import make_workdir, run_snakemake
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.therapy.tmb import CODING_TERMS
from oncoweave.toy.maf_cohort import MAF_COHORT_COLUMNS, simulate_maf_cohort, simulated_clinical
from oncoweave.variants.maf_import import maf_tmb_counts, read_maf, split_maf

pytestmark = pytest.mark.workflow

CONTIG_MAP = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")
FASTA = BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa"
N_PATIENTS = 40
TERRITORY_MB = 38.0
# The sample sheet names one barcode: its own patient id and purity.
NAMED_BARCODE, NAMED_PATIENT = "SIM-0007-T", "PX-07"
TARGETS = ("results/report/index.html", "results/cohort/tmb.parquet",
           "results/cohort/variants.maf", "results/cohort/drivers.parquet",
           "results/cohort/therapies.parquet")


def snv_row(gene, chrom, pos, ref, alt, barcode, status, hgvs_p, depth, alt_count) -> dict:
    """A MAF row of one missense SNV with its read counts."""
    return {**dict.fromkeys(MAF_COHORT_COLUMNS, ""), "Hugo_Symbol": gene, "Chromosome": chrom,
            "Start_Position": pos, "End_Position": pos, "Variant_Classification": "Missense_Mutation",
            "Variant_Type": "SNP", "Reference_Allele": ref, "Tumor_Seq_Allele1": ref,
            "Tumor_Seq_Allele2": alt, "Tumor_Sample_Barcode": barcode, "Mutation_Status": status,
            "HGVSp_Short": hgvs_p, "t_depth": depth, "t_ref_count": depth - alt_count,
            "t_alt_count": alt_count}


def planted_rows() -> pd.DataFrame:
    """EGFR L858R in SIM-0002-T (a driver with matched therapies) and a germline TP53 R248Q in
    SIM-0004-T (kept as germline: out of TMB and of the somatic MAF)."""
    rows = [snv_row("EGFR", "chr7", 55191822, "T", "G", "SIM-0002-T", "Somatic", "p.L858R", 200, 60),
            snv_row("TP53", "chr17", 7674220, "C", "T", "SIM-0004-T", "Germline", "p.R248Q", 120, 60)]
    return pd.DataFrame(rows, columns=MAF_COHORT_COLUMNS)


def write_maf_cohort(config_dir) -> pd.DataFrame:
    """The simulated MAF plus the planted rows as config/cohort.maf; returns its barcodes."""
    simulated = config_dir / "simulated.maf"
    simulate_maf_cohort(N_PATIENTS, simulated, seed=5, median_mutations=40)
    comments = [line for line in simulated.read_text().splitlines() if line.startswith("#")]
    table = pd.read_csv(simulated, sep="\t", comment="#", dtype=str, keep_default_na=False)
    table = pd.concat([table, planted_rows().astype(str)], ignore_index=True)
    with open(config_dir / "cohort.maf", "w") as handle:
        handle.write("\n".join(comments) + "\n")
        table.to_csv(handle, sep="\t", index=False)
    simulated.unlink()
    return table


def write_sheets(config_dir, barcodes: list[str]) -> list[str]:
    """Header-only image sheet, a sample sheet naming one barcode, clinical rows with outcomes;
    returns the patient ids."""
    header = (config_dir / "samples.tsv").read_text().splitlines()[0]
    (config_dir / "samples.tsv").write_text(
        f"{header}\n{NAMED_PATIENT}\t{NAMED_BARCODE}\ttumour\t\t\t\t\t0.6\n")
    images = config_dir / "images.tsv"
    images.write_text(images.read_text().splitlines()[0] + "\n")
    patients = [NAMED_PATIENT if barcode == NAMED_BARCODE else barcode for barcode in barcodes]
    clinical = simulated_clinical(patients, seed=5)
    clinical.to_csv(config_dir / "clinical.tsv", sep="\t", index=False)
    return patients


def configure(workdir, **settings) -> None:
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["maf"] = "config/cohort.maf"
    config["tmb"]["maf_territory_mb"] = TERRITORY_MB
    config["sharding"]["shard_size"] = 16  # a few shards, so the MAF is cut across them
    config.update(settings)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def maf_run(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("maf_run"))
    table = write_maf_cohort(workdir / "config")
    barcodes = list(dict.fromkeys(table["Tumor_Sample_Barcode"]))
    patients = write_sheets(workdir / "config", barcodes)
    configure(workdir)
    run_snakemake(workdir, "--cores", "2", *TARGETS)
    rows = read_maf(workdir / "config" / "cohort.maf", FASTA, CONTIG_MAP,
                    patients={b: p for b, p in zip(barcodes, patients, strict=True)})
    return workdir, rows, patients


def call_keys(frame: pd.DataFrame) -> set[tuple]:
    return set(zip(frame["patient"], frame["Chromosome"], frame["Start_Position"].astype(int),
                   frame["Reference_Allele"], frame["Tumor_Seq_Allele2"], strict=True))


def test_every_barcode_is_a_patient_with_a_report(maf_run):
    workdir, _, patients = maf_run
    index = pd.read_csv(workdir / "results/report/index.tsv", sep="\t")
    assert sorted(index["patient"]) == sorted(patients)
    assert NAMED_PATIENT in set(index["patient"]) and NAMED_BARCODE not in set(index["patient"])
    assert index["shard"].nunique() > 1
    for report in index["report"]:
        assert (workdir / report).stat().st_size > 0, report


def test_calls_inside_the_regions_are_the_maf_rows(maf_run):
    workdir, rows, _ = maf_run
    inside, _ = split_maf(rows)
    variants = pd.read_parquet(workdir / "results/cohort/variants.parquet")
    assert len(variants) == len(inside.drop_duplicates(
        ["patient", "Chromosome", "Start_Position", "Reference_Allele", "Tumor_Seq_Allele2"]))
    named = variants[variants["patient"] == NAMED_PATIENT]
    assert (named["sample"] == NAMED_BARCODE).all()
    germline = variants[(variants["patient"] == "SIM-0004-T") & (variants["pos"] == 7674220)]
    assert list(germline["status"]) == ["germline"]
    assert set(variants["status"]) <= {"somatic", "germline"}
    drivers = pd.read_parquet(workdir / "results/cohort/drivers.parquet")
    l858r = drivers[(drivers["patient"] == "SIM-0002-T") & (drivers["hgvs_p"] == "p.L858R")]
    assert len(l858r) == 1
    therapies = pd.read_parquet(workdir / "results/cohort/therapies.parquet")
    egfr = therapies[(therapies["patient"] == "SIM-0002-T") & (therapies["gene"] == "EGFR")]
    assert egfr["drug"].str.contains("Osimertinib|Erlotinib|Gefitinib|Afatinib").any()


def test_the_written_maf_reads_back_to_the_same_calls(maf_run):
    workdir, rows, patients = maf_run
    inside, _ = split_maf(rows)
    somatic = inside[inside["Mutation_Status"].str.lower() != "germline"]
    written = read_maf(workdir / "results/cohort/variants.maf", FASTA, CONTIG_MAP,
                       patients={NAMED_BARCODE: NAMED_PATIENT} | {
                           p: p for p in patients if p != NAMED_PATIENT})
    assert call_keys(written) == call_keys(somatic)
    assert split_maf(written)[1].empty  # every exported call lies in the regions


def test_tmb_counts_the_outside_rows_by_class_plus_the_coding_calls(maf_run):
    workdir, rows, patients = maf_run
    _, outside = split_maf(rows)
    outside_counts = maf_tmb_counts(outside)["total"]
    variants = pd.read_parquet(workdir / "results/cohort/variants.parquet")
    coding = variants[(variants["status"] == "somatic") & (variants["filter"] == "PASS")
                      & variants["consequence"].fillna("").map(
                          lambda c: bool({t.lstrip("*") for t in c.split("&")} & CODING_TERMS))]
    inside_counts = coding.groupby("patient").size()
    tmb = pd.read_parquet(workdir / "results/cohort/tmb.parquet").set_index("patient")
    assert sorted(tmb.index) == sorted(patients)
    assert tmb["reportable"].all() and (tmb["callable_mb"] == TERRITORY_MB).all()
    for patient in patients:
        expected = outside_counts.get(patient, 0) + inside_counts.get(patient, 0)
        assert tmb.loc[patient, "somatic_coding_mutations"] == expected, patient
        assert tmb.loc[patient, "tmb"] == pytest.approx(expected / TERRITORY_MB)
    assert tmb["somatic_coding_mutations"].max() > 3 * tmb["somatic_coding_mutations"].median()


def test_a_bad_maf_row_stops_the_run_naming_its_line(tmp_path, maf_run):
    source, _, _ = maf_run
    workdir = make_workdir(tmp_path / "bad_maf")
    for sheet in ("samples.tsv", "images.tsv", "clinical.tsv", "config.yaml"):
        (workdir / "config" / sheet).write_text((source / "config" / sheet).read_text())
    lines = (source / "config" / "cohort.maf").read_text().splitlines()
    header = next(n for n, line in enumerate(lines) if not line.startswith("#"))
    columns = lines[header].split("\t")
    ref, pos = columns.index("Reference_Allele"), columns.index("Start_Position")
    bad = next(n for n, line in enumerate(lines) if line.split("\t")[0] == "EGFR"
               and line.split("\t")[pos] == "55191822")
    fields = lines[bad].split("\t")
    fields[ref] = "A"  # the reference has T at chr7:55191822
    lines[bad] = "\t".join(fields)
    (workdir / "config" / "cohort.maf").write_text("\n".join(lines) + "\n")
    result = run_snakemake(workdir, "--cores", "2", "results/cohort/tmb.parquet", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"config/cohort.maf: line {bad + 1}" in output
    assert "Reference_Allele 'A' at chr7:55191822" in output
    assert not list((workdir / "results").glob("maf/*.parquet"))
