"""A published cohort given as one MAF, through the workflow: every barcode a patient with a
report, the calls inside the reference regions classified, scored and exported as the VCF patients'
are (and read back to the same calls), TMB counting the rows outside the regions by their class,
and a bad MAF row stopping the run with its line named and no shard written."""

from __future__ import annotations

import re

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
           "results/cohort/therapies.parquet", "results/cohort/copy_number.parquet",
           "results/cohort/patient_features.parquet", "results/report/oncoprint.png",
           "results/report/copy_number_summary.html")
# The published copy-number table (GISTIC values) plants: an EGFR amplification beside SIM-0002-T's
# L858R, a BRCA2 deep deletion, a BRCA1 one-copy loss without a second hit, and one in the sample
# sheet's named barcode; every other cell is 0 (one NA).
PLANTED_CN = {("SIM-0002-T", "EGFR"): "2", ("SIM-0003-T", "BRCA2"): "-2",
              ("SIM-0005-T", "BRCA1"): "-1", (NAMED_BARCODE, "TP53"): "-1",
              ("SIM-0006-T", "EGFR"): "NA"}


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


def write_copy_number_table(config_dir, barcodes: list[str], extra_sample: str = "") -> None:
    """config/data_cna.txt: genes x the MAF's barcodes (and ``extra_sample``), PLANTED_CN else 0."""
    samples = barcodes + ([extra_sample] if extra_sample else [])
    lines = ["Hugo_Symbol\tEntrez_Gene_Id\t" + "\t".join(samples)]
    for gene, entrez in (("TP53", 7157), ("BRCA1", 672), ("BRCA2", 675), ("EGFR", 1956),
                         ("MYC", 4609)):
        lines.append(f"{gene}\t{entrez}\t" + "\t".join(PLANTED_CN.get((sample, gene), "0")
                                                       for sample in samples))
    (config_dir / "data_cna.txt").write_text("\n".join(lines) + "\n")


def configure(workdir, **settings) -> None:
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["maf"] = "config/cohort.maf"
    config["copy_number"] = "config/data_cna.txt"
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
    write_copy_number_table(workdir / "config", barcodes)
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
    for sheet in ("samples.tsv", "images.tsv", "clinical.tsv", "config.yaml", "data_cna.txt"):
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


def test_published_copy_number_reaches_drivers_and_therapies(maf_run):
    workdir, _, patients = maf_run
    copy_number = pd.read_parquet(workdir / "results/cohort/copy_number.parquet")
    assert set(copy_number["gene"]) == {"TP53", "BRCA1", "BRCA2", "EGFR"}  # MYC is not kept
    # Every patient x gene but the one NA cell; the named barcode is its sheet patient.
    assert len(copy_number) == 4 * len(patients) - 1
    calls = copy_number.set_index(["patient", "gene"])["call"]
    assert calls[("SIM-0002-T", "EGFR")] == "amplification"
    assert calls[("SIM-0003-T", "BRCA2")] == "deep_deletion"
    assert calls[(NAMED_PATIENT, "TP53")] == "loss"
    assert (calls.drop([("SIM-0002-T", "EGFR"), ("SIM-0003-T", "BRCA2"), ("SIM-0005-T", "BRCA1"),
                        (NAMED_PATIENT, "TP53")]) == "neutral").all()
    cn_drivers = pd.concat(pd.read_parquet(path) for path in
                           (workdir / "results/shards").glob("*/copy_number_drivers.parquet"))
    drivers = cn_drivers[cn_drivers["driver"]].set_index(["patient", "gene"])
    assert set(drivers.index) == {("SIM-0002-T", "EGFR"), ("SIM-0003-T", "BRCA2")}
    assert drivers.loc[("SIM-0002-T", "EGFR"), "alteration"] == "amplification"
    assert bool(drivers.loc[("SIM-0003-T", "BRCA2"), "biallelic"])
    loss = cn_drivers.set_index(["patient", "gene"]).loc[("SIM-0005-T", "BRCA1")]
    assert not loss["driver"] and "no second hit" in loss["reason"]
    therapies = pd.read_parquet(workdir / "results/cohort/therapies.parquet")
    amplified = therapies[(therapies["patient"] == "SIM-0002-T")
                          & (therapies["biomarker"] == "EGFR amplification")]
    assert len(amplified) > 0 and amplified["hgvs_p"].isna().all()
    parp = therapies[(therapies["patient"] == "SIM-0003-T")
                     & (therapies["biomarker"] == "BRCA2 biallelic loss")]
    assert "Olaparib" in set(parp["drug"])
    # The fusion features carry the copy number.
    features = pd.read_parquet(workdir / "results/cohort/patient_features.parquet").set_index(
        "patient")
    assert features.at["SIM-0002-T", "gen_EGFR_cn"] == 2
    assert features.at["SIM-0003-T", "gen_BRCA2_biallelic"] == 1
    assert features.at["SIM-0005-T", "gen_BRCA1_loh"] == 1
    assert pd.isna(features.at["SIM-0006-T", "gen_EGFR_cn"])  # the NA cell
    # Copy number adds rows; the point-mutation matches are still there.
    assert therapies[(therapies["patient"] == "SIM-0002-T")
                     & (therapies["hgvs_p"] == "p.L858R")]["drug"].str.contains("Osimertinib").any()


def test_copy_number_reaches_the_patient_reports_and_the_cohort_report(maf_run):
    workdir, _, patients = maf_run
    index = pd.read_csv(workdir / "results/report/index.tsv", sep="\t").set_index("patient")

    def section(patient):
        html = (workdir / "results/report" / index.at[patient, "shard"] / f"{patient}.html") \
            .read_text()
        return re.search(r'<section id="copy_number">(.*?)</section>', html, re.DOTALL).group(1)

    amplified = section("SIM-0002-T")
    assert re.search(r"<td>EGFR</td><td>amplification</td>", amplified)
    assert "EGFR amplified (GISTIC 2)" in amplified and "data:image/png;base64," in amplified
    deleted = section("SIM-0003-T")
    assert re.search(r"<td>BRCA2</td><td>deep deletion</td>", deleted)
    assert "both copies lost, biallelic loss" in deleted
    assert "no second hit found" in section("SIM-0005-T")
    summary = (workdir / "results/report/copy_number_summary.html").read_text()
    assert f"{len(patients)} patients × 4 genes from data_cna.txt" in summary
    # EGFR: 39 measured (one NA), one amplified; BRCA2: one deep deletion.
    assert re.search(r"<td>EGFR</td>\s*<td>39</td>\s*<td>1</td>", summary)
    assert re.search(r"<td>BRCA2</td>\s*<td>40</td>\s*<td>0</td>\s*<td>0</td>\s*<td>0</td>"
                     r"\s*<td>1</td>", summary)
    assert (workdir / "results/report/oncoprint.png").read_bytes()[:4] == b"\x89PNG"


def test_a_copy_number_sample_of_no_patient_stops_the_run_naming_it(tmp_path, maf_run):
    source, _, _ = maf_run
    workdir = make_workdir(tmp_path / "bad_copy_number")
    for sheet in ("samples.tsv", "images.tsv", "clinical.tsv", "config.yaml", "cohort.maf"):
        (workdir / "config" / sheet).write_text((source / "config" / sheet).read_text())
    barcodes = (source / "config" / "data_cna.txt").read_text().splitlines()[0].split("\t")[2:]
    write_copy_number_table(workdir / "config", barcodes, extra_sample="SIM-9999-T")
    result = run_snakemake(workdir, "--cores", "2", "results/cohort/copy_number.parquet",
                           check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config/data_cna.txt" in output and "sample 'SIM-9999-T' matches no patient" in output
    assert not (workdir / "results/cohort/copy_number.parquet").exists()
