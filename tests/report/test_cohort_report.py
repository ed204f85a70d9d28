"""The cohort report: its figures and tables (unit tests), and `snakemake --report` after the toy
run, as a zip and as one self-contained HTML file (workflow tests)."""

from __future__ import annotations

import base64
import json
import re
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import REPO, SHARED_DATA, run_snakemake
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.genome.protein import Domain
from oncoweave.report.cohort_figures import (
    MULTI_HIT,
    germline_pathogenic,
    lollipop_sites,
    oncoprint_copy_number,
    oncoprint_layout,
    oncoprint_matrix,
    oncoprint_order,
    plot_lollipop,
    plot_oncoprint,
    plot_vaf_distribution,
    protein_lengths,
    tumour_alterations,
)
from oncoweave.cli.main import main as cli
from oncoweave.report.cohort_copy_number import copy_number_page, copy_number_summary
from oncoweave.report.cohort_tables import (
    THERAPY_TIERS_SCHEMA,
    check_maf,
    cohort_tables_page,
    html_page,
    patient_tier_summary,
    radiomics_summary,
    read_maf,
    therapy_tiers,
    therapy_tiers_page,
    validated_maf,
    write_html,
)
from oncoweave.therapy.matching import THERAPIES_SCHEMA
from oncoweave.toy.images import PLANTED_PHI
from oncoweave.variants.copy_number import copy_number_rows
from oncoweave.variants.maf import variants_to_maf, write_maf
from oncoweave.variants.schema import VARIANTS_SCHEMA

GENES = ("TP53", "BRCA1", "BRCA2", "EGFR")
PNG = b"\x89PNG\r\n\x1a\n"


def call(patient="P1", gene="TP53", pos=7675088, ref="C", alt="T", consequence="missense",
         hgvs_p="p.R175H", status="somatic", filter="PASS", t_vaf=0.3, driver_score=0.99,
         purity=0.6) -> dict:
    row = {name: None for name in VARIANTS_SCHEMA.names}
    row.update(patient=patient, sample=f"{patient}-T", normal_sample=f"{patient}-N",
               chrom="chr17", pos=pos, ref=ref, alt=alt, contig="chr17_TP53", contig_pos=pos,
               variant_type="SNV", pair_identity="pass", gene=gene, consequence=consequence,
               hgvs_p=hgvs_p, transcript="T", hgvs_c="c.1A>G", t_depth=200,
               t_alt=int(200 * t_vaf), t_vaf=t_vaf, n_depth=100, n_alt=0, n_vaf=0.0,
               status=status, filter=filter, purity=purity, driver_score=driver_score)
    return row


@pytest.fixture
def drivers() -> pd.DataFrame:
    return pd.DataFrame([
        call(),                                                              # P1 TP53 R175H
        call(pos=7675200, hgvs_p="p.R248Q", driver_score=0.98),              # P1 TP53 again
        call(gene="EGFR", pos=100, ref="CAAGGAATTAAGAGAAGCAA", alt="C",
             consequence="inframe_deletion", hgvs_p="p.E746_A750del", patient="P2"),
        call(gene="BRCA2", pos=200, ref="A", alt="AT", consequence="frameshift",
             hgvs_p="p.V3365Afs*19", status="tumour_only", patient="P2", driver_score=0.9),
        call(gene="BRCA1", pos=300, ref="G", alt="A", consequence="synonymous",
             hgvs_p="p.I1275=", patient="P2", driver_score=0.0),                # silent
        call(gene="BRCA1", pos=400, ref="GT", alt="G", consequence="frameshift",
             hgvs_p="p.Q1756Pfs*74", status="germline", patient="P2"),          # germline
        call(gene="TP53", pos=500, hgvs_p="p.R273H", filter="low_vaf", patient="P3"),  # FAIL
        call(gene="BRCA2", pos=600, consequence="splice_acceptor&intron", hgvs_p=None,
             patient="P3", driver_score=0.95),                                  # no residue
        call(gene="EGFR", pos=700, hgvs_p="p.V843L", driver_score=0.2, patient="P3", t_vaf=0.1),
    ])


# ---------------------------------------------------------------------------------------------
# Unit tests.

def test_tumour_alterations_are_the_mafs_non_silent_tumour_calls(drivers):
    table = tumour_alterations(drivers)
    got = list(zip(table.patient, table.gene, table.variant_classification, table.protein_position))
    assert got == [("P1", "TP53", "Missense_Mutation", 175),
                   ("P1", "TP53", "Missense_Mutation", 248),
                   ("P2", "EGFR", "In_Frame_Del", 746), ("P2", "BRCA2", "Frame_Shift_Ins", 3365),
                   ("P3", "BRCA2", "Splice_Site", pd.NA), ("P3", "EGFR", "Missense_Mutation", 843)]
    # Germline, FILTER-failed and silent calls are not tumour alterations; germline BRCA1/2 with a
    # high score is shown apart.
    assert germline_pathogenic(drivers, 0.5).to_dict("records") == [
        {"patient": "P2", "gene": "BRCA1", "hgvs_p": "p.Q1756Pfs*74"}]
    assert germline_pathogenic(drivers, 0.999).empty


def test_oncoprint_matrix_has_every_patient_and_multi_hits(drivers):
    matrix = oncoprint_matrix(tumour_alterations(drivers), ["P1", "P2", "P3", "P4"])
    assert list(matrix.columns) == ["P1", "P2", "P3", "P4"]
    assert matrix.loc["TP53", "P1"] == MULTI_HIT
    assert matrix.loc["EGFR", "P2"] == "In_Frame_Del"
    assert matrix.loc["BRCA2", "P2"] == "Frame_Shift_Ins"
    assert matrix.loc["BRCA1"].eq("").all(), "silent and germline BRCA1 calls are not drawn"
    assert matrix["P4"].eq("").all()
    genes, patients = oncoprint_order(matrix)
    # EGFR and BRCA2 have 2 patients each (first in sheet order first), TP53 1, BRCA1 none;
    # patients altered in the top gene come first, the unaltered one last.
    assert genes == ["BRCA2", "EGFR", "TP53", "BRCA1"]
    assert patients == ["P2", "P3", "P1", "P4"]


def test_plot_oncoprint_draws_the_ordered_matrix(drivers, tmp_path):
    alterations = tumour_alterations(drivers)
    drawn = plot_oncoprint(alterations, germline_pathogenic(drivers, 0.5), ["P1", "P2", "P3"],
                           tmp_path / "oncoprint.png", threshold=0.5)
    assert (tmp_path / "oncoprint.png").read_bytes()[:8] == PNG
    assert list(drawn.index) == ["BRCA2", "EGFR", "TP53", "BRCA1"]
    assert list(drawn.columns) == ["P2", "P3", "P1"]
    with pytest.raises(InputError, match="no patients"):
        plot_oncoprint(alterations, germline_pathogenic(drivers, 0.5), [], tmp_path / "x.png",
                       threshold=0.5)


def test_oncoprint_marks_amplifications_and_deletions_beside_the_mutations(drivers, tmp_path):
    # P4 (no mutation) has an EGFR amplification and a BRCA1 deep deletion, P1 a BRCA1 one-copy
    # loss and an LOH of TP53 (copy-neutral: not drawn), P2 an EGFR gain under its mutation.
    copy_number = copy_number_rows(pd.DataFrame({
        "patient": ["P4", "P4", "P1", "P1", "P2", "P3"],
        "sample": ["P4", "P4", "P1", "P1", "P2", "P3"],
        "gene": ["EGFR", "BRCA1", "BRCA1", "TP53", "EGFR", "TP53"],
        "call": ["amplification", "deep_deletion", "loss", "loh", "gain", "neutral"]}), "gistic")
    alterations = tumour_alterations(drivers)
    patients = ["P1", "P2", "P3", "P4"]
    cn = oncoprint_copy_number(copy_number, patients)
    assert cn.loc["EGFR", "P4"] == "amplification" and cn.loc["BRCA1", "P4"] == "deep_deletion"
    assert cn.loc["BRCA1", "P1"] == "loss" and cn.loc["EGFR", "P2"] == "gain"
    assert cn.loc["TP53", "P1"] == "" and cn.loc["TP53", "P3"] == ""  # LOH, neutral
    assert (cn != "").to_numpy().sum() == 4
    matrix, ordered = oncoprint_layout(alterations, copy_number, patients)
    # EGFR: P2, P3 mutated + P4 amplified (3); BRCA2 2; TP53 1; BRCA1: P4's deep deletion only
    # (a one-copy loss is drawn, not counted).
    assert list(matrix.index) == ["EGFR", "BRCA2", "TP53", "BRCA1"]
    assert list(matrix.columns) == ["P2", "P3", "P4", "P1"]
    assert ordered.loc["EGFR", "P4"] == "amplification" and matrix.loc["EGFR", "P4"] == ""
    assert ordered.loc["EGFR", "P2"] == "gain" and matrix.loc["EGFR", "P2"] == "In_Frame_Del"
    drawn = plot_oncoprint(alterations, germline_pathogenic(drivers, 0.5), patients,
                           tmp_path / "oncoprint.png", threshold=0.5, copy_number=copy_number)
    assert (tmp_path / "oncoprint.png").read_bytes()[:8] == PNG
    assert drawn.equals(matrix)
    # Without a copy-number table the oncoprint is the mutations' alone, as before.
    plain = plot_oncoprint(alterations, germline_pathogenic(drivers, 0.5), patients,
                           tmp_path / "plain.png", threshold=0.5)
    assert list(plain.index) == ["BRCA2", "EGFR", "TP53", "BRCA1"]
    assert oncoprint_copy_number(None, patients).eq("").all().all()


def test_copy_number_summary_counts_patients_per_gene_and_call():
    table = copy_number_rows(pd.DataFrame({
        "patient": list("ABCDABC"), "sample": list("ABCDABC"),
        "gene": ["ERBB2", "ERBB2", "ERBB2", "ERBB2", "CDKN2A", "CDKN2A", "CDKN2A"],
        "call": ["amplification", "amplification", "gain", "neutral", "deep_deletion", "loss",
                 "loh"]}), "gistic")
    summary = copy_number_summary(table).set_index("gene")
    assert list(summary.index) == ["ERBB2", "CDKN2A"]  # 2 altered before 1
    assert summary.loc["ERBB2"].to_dict() == {
        "patients_measured": 4, "amplification": 2, "gain": 1, "loss": 0, "deep_deletion": 0,
        "loh": 0, "altered": 2, "altered_percent": 50.0}
    assert summary.loc["CDKN2A", ["deep_deletion", "loss", "loh", "altered"]].tolist() == \
        [1, 1, 1, 1]
    page = copy_number_page(table, "data_cna.txt")
    assert "4 patients × 2 genes from data_cna.txt" in page and "<td>ERBB2</td>" in page


MCAT_TABLES = {"ucec": SHARED_DATA / "tcga_ucec_mcat" / "tcga_ucec_all_clean_full.csv.gz",
               "blca": SHARED_DATA / "tcga_blca_mcat" / "tcga_blca_all_clean_sig.csv.gz"}


@pytest.mark.parametrize("cancer, patients, genes, gene, call, count", [
    ("ucec", 480, 935, "ERBB2", "amplification", 33),
    ("blca", 373, 248, "CDKN2A", "deep_deletion", 123)])
def test_copy_number_summary_of_the_published_tcga_tables(cancer, patients, genes, gene, call,
                                                          count, tmp_path, capsys):
    # The TCGA tables of MCAT (GPL-3.0 repository, TCGA-derived): read from the shared data, not
    # bundled. Their <GENE>_cnv columns through the CLI, every gene.
    path = MCAT_TABLES[cancer]
    if not path.is_file():
        pytest.skip(f"{path} is absent (TCGA MCAT table, GPL-3.0 repo: not bundled)")
    assert cli(["copy-number", "summary", "--table", str(path), "--all-genes", "--top", "3",
                "--out", str(tmp_path / "cn.html"), "--tsv", str(tmp_path / "cn.tsv")]) == 0
    printed = capsys.readouterr().out
    assert f"{patients} patients x {genes} genes" in printed
    summary = pd.read_csv(tmp_path / "cn.tsv", sep="\t").set_index("gene")
    assert len(summary) == genes and (summary["patients_measured"] == patients).all()
    assert summary.at[gene, call] == count
    if cancer == "blca":  # CDKN2A (9p21) is the most altered gene of bladder cancer here
        assert summary.index[0] == "CDKN2A" and "CDKN2A: " in printed.splitlines()[1]
    assert f"<td>{gene}</td>" in (tmp_path / "cn.html").read_text()


def test_lollipop_counts_tumours_per_residue(drivers, tmp_path):
    extra = pd.DataFrame([call(patient="P5"), call(patient="P6", alt="A", hgvs_p="p.R175L")])
    alterations = tumour_alterations(pd.concat([drivers, extra], ignore_index=True))
    sites = lollipop_sites(alterations, "TP53")
    r175 = sites.set_index("protein_position").loc[175]
    assert r175.tumours == 3 and r175.changes == "R175H/R175L"
    assert r175.variant_classification == "Missense_Mutation"
    assert list(sites.protein_position) == [175, 248]
    drawn = plot_lollipop(alterations, "TP53", 393, [Domain("TP53", 109, 288, "DNA-binding")],
                          tmp_path / "TP53.png", threshold=0.5, n_patients=6)
    assert drawn.tumours.sum() == 4 and (tmp_path / "TP53.png").read_bytes()[:8] == PNG
    # A splice-site call has no residue: counted, not drawn. A gene without mutations still plots.
    assert lollipop_sites(alterations, "BRCA2").protein_position.tolist() == [3365]
    assert plot_lollipop(alterations, "BRCA1", 1863, [], tmp_path / "BRCA1.png",
                         threshold=0.5, n_patients=6).empty
    assert (tmp_path / "BRCA1.png").stat().st_size > 1000


def test_protein_lengths_of_the_bundled_canonical_proteins():
    lengths = protein_lengths(REPO / "resources/reference/canonical_proteins.fa")
    assert lengths == {"TP53": 393, "BRCA1": 1863, "BRCA2": 3418, "EGFR": 1210}


def test_vaf_distribution_draws_pass_calls_only(drivers, tmp_path):
    calls = plot_vaf_distribution(drivers, tmp_path / "vaf.png")
    assert len(calls) == len(drivers) - 1 and "P3" in set(calls.patient)
    assert set(calls.status) == {"somatic", "tumour_only", "germline"}
    assert (tmp_path / "vaf.png").read_bytes()[:8] == PNG


def test_a_cohort_without_tumour_mutations_or_matches_still_gets_its_figures(tmp_path):
    quiet = pd.DataFrame([call(filter="low_vaf"), call(status="germline", gene="EGFR")])
    alterations = tumour_alterations(quiet)
    assert alterations.empty
    drawn = plot_oncoprint(alterations, germline_pathogenic(quiet, 0.5), ["P1", "P2"],
                           tmp_path / "oncoprint.png", threshold=0.5)
    assert drawn.eq("").all().all() and list(drawn.columns) == ["P1", "P2"]
    assert plot_lollipop(alterations, "TP53", 393, [], tmp_path / "TP53.png", threshold=0.5,
                         n_patients=2).empty
    assert len(plot_vaf_distribution(quiet.iloc[:1], tmp_path / "vaf.png")) == 0
    tiers = therapy_tiers(pd.DataFrame(columns=THERAPIES_SCHEMA.names))
    assert tiers.empty and list(tiers.columns) == THERAPY_TIERS_SCHEMA.names
    page = therapy_tiers_page(tiers, ["P1"])
    assert "<td>P1</td>" in page and "<em>none</em>" in page
    for name in ("oncoprint.png", "TP53.png", "vaf.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG


def therapy(patient, biomarker, drug, tier, level, direction="sensitivity", source="PMID:1",
            match="exact"):
    return {"patient": patient, "biomarker": biomarker, "gene": biomarker.split()[0],
            "hgvs_p": None, "hgvs_c": None, "variant_status": "somatic", "drug": drug,
            "evidence_level": level, "amp_tier": tier, "direction": direction,
            "disease": "NSCLC", "disease_match": match, "source_ids": source, "match_reason": ""}


def test_therapy_tiers_keep_the_best_tier_and_every_source(tmp_path):
    rows = pd.DataFrame([
        therapy("P2", "EGFR p.L858R", "Erlotinib", "IIC", "B", source="CIViC:EID1", match="other"),
        therapy("P2", "EGFR p.L858R", "Erlotinib", "IA", "A", source="FDA:label; PMID:2"),
        therapy("P2", "EGFR p.T790M", "Erlotinib", "IA", "A", direction="resistance"),
        therapy("P2", "EGFR p.L858R", "Osimertinib", "IB", "A"),
        therapy("P1", "TP53 p.R175H", None, None, None, direction="no_approved_therapy"),
        therapy("P1", "TP53 p.R175H", "Doxorubicin", "IID", "C"),
    ], columns=THERAPIES_SCHEMA.names)
    tiers = therapy_tiers(rows)
    assert list(zip(tiers.patient, tiers.biomarker, tiers.drug, tiers.amp_tier)) == [
        ("P1", "TP53 p.R175H", "Doxorubicin", "IID"),
        ("P2", "EGFR p.L858R", "Erlotinib", "IA"), ("P2", "EGFR p.T790M", "Erlotinib", "IA"),
        ("P2", "EGFR p.L858R", "Osimertinib", "IB")]
    erlotinib = tiers.iloc[1]
    assert erlotinib.evidence_levels == "A,B" and erlotinib.evidence_rows == 2
    assert erlotinib.source_ids == "FDA:label; PMID:2; CIViC:EID1"
    assert erlotinib.disease_match == "exact"
    write_parquet(tiers, tmp_path / "tiers.parquet", THERAPY_TIERS_SCHEMA)
    assert read_parquet(tmp_path / "tiers.parquet", THERAPY_TIERS_SCHEMA)[0].shape == (4, 10)
    summary = patient_tier_summary(tiers, ["P1", "P2", "P3"]).set_index("patient")
    assert summary.loc["P2", "best_tier"] == "IA" and summary.loc["P2", "drugs"] == "Erlotinib"
    assert summary.loc["P2", "tier_I_II_resistance"] == 1
    assert summary.loc["P2", "tier_I_II_sensitivity"] == 2
    assert summary.loc["P1", "best_tier"] == "IID"
    assert summary.loc["P3", "best_tier"] == "—" and summary.loc["P3", "drugs"] == "—"


def test_radiomics_summary_in_readable_units():
    radiomics = pd.DataFrame({
        "patient": ["P1", "P2", "P3"], "lesion": ["L1", "L1", "L2"], "modality": ["CT", "CT", "MR"],
        "mask_source": ["given", "proposed", "given"],
        "original_shape_MeshVolume": [1000.0, 3000.0, 500.0],
        "original_shape_Maximum3DDiameter": [12.0, 20.0, 9.0],
        "original_firstorder_Mean": [40.0, 60.0, 300.0],
        "original_glszm_ZoneEntropy": [1.0, 2.0, 3.0]})
    lesions, modalities = radiomics_summary(radiomics)
    assert lesions["volume (mL)"].tolist() == [1.0, 3.0, 0.5]
    assert lesions["mask"].tolist() == ["given", "proposed", "given"]  # not counted a feature
    assert "sphericity" not in lesions  # absent from the table: not invented
    ct = modalities.set_index("modality").loc["CT"]
    assert ct.lesions == 2 and ct.patients == 2 and ct["features extracted"] == 4
    assert ct["volume (mL)"] == "2 [1–3]"


@pytest.fixture
def maf_file(drivers, tmp_path) -> Path:
    variants = drivers[VARIANTS_SCHEMA.names]
    path = tmp_path / "variants.maf"
    write_maf(variants_to_maf(variants), path)
    return path


def test_the_mafs_oncoweave_writes_are_valid(maf_file):
    maf = validated_maf(maf_file)
    assert check_maf(maf) == [] and len(maf) == 7  # PASS somatic/tumour_only, synonymous too


@pytest.mark.parametrize("column, value, problem", [
    ("Variant_Classification", "Missense", "unknown Variant_Classification"),
    ("Variant_Type", "SNV", "unknown Variant_Type"),
    ("Tumor_Sample_Barcode", "", "empty Tumor_Sample_Barcode"),
    ("End_Position", "1", "bad Start/End_Position"),
    ("Reference_Allele", "CC", "substitution alleles"),
])
def test_check_maf_names_what_maftools_would_refuse(maf_file, column, value, problem):
    maf = read_maf(maf_file)
    maf.loc[0, column] = value
    problems = check_maf(maf)  # the first is the cause (a bad End also breaks the allele span)
    assert problems[0].startswith(problem) and "line(s) [2]" in problems[0]


def test_check_maf_indel_coordinates_and_missing_columns(maf_file, tmp_path):
    maf = read_maf(maf_file)
    insertion = maf.index[maf.Variant_Type == "INS"][0]
    maf.loc[insertion, "End_Position"] = str(int(maf.loc[insertion, "Start_Position"]) + 3)
    assert check_maf(maf)[0].startswith("insertion coordinates")
    assert check_maf(maf.drop(columns="Hugo_Symbol")) == [
        "missing required column(s) ['Hugo_Symbol']"]
    maf.to_csv(tmp_path / "bad.maf", sep="\t", index=False)
    with pytest.raises(InputError, match=r"bad\.maf.*invalid MAF: insertion"):
        validated_maf(tmp_path / "bad.maf")


LAML_MAF = SHARED_DATA / "tcga_laml_maftools/tcga_laml.maf.gz"


@pytest.mark.skipif(not LAML_MAF.exists(), reason="shared TCGA-LAML MAF (maftools) absent")
def test_check_maf_accepts_the_tcga_laml_maf_maftools_ships():
    laml = read_maf(LAML_MAF)
    assert len(laml) > 2000 and check_maf(laml) == []


def test_pages_escape_their_cells_and_are_self_contained(tmp_path, maf_file, drivers):
    page = html_page("T", [("S", "a <b> c", pd.DataFrame({"x": ["<script>alert(1)</script>"]}))])
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &lt;b&gt; c" in page
    write_parquet(drivers[VARIANTS_SCHEMA.names], tmp_path / "v.parquet", VARIANTS_SCHEMA)
    page = cohort_tables_page(read_maf(maf_file), {"variants": tmp_path / "v.parquet",
                                                   "maf": maf_file})
    write_html(page, tmp_path / "tables.html")
    text = (tmp_path / "tables.html").read_text()
    assert "<td>variants</td>" in text and f"<td>{len(drivers)}</td>" in text
    assert not re.search(r"(src|href)=\"https?:", text)


# ---------------------------------------------------------------------------------------------
# Workflow tests: both reports built from the toy run.

class _Tables(HTMLParser):
    """Cell texts of every <td> in a page (no lxml needed)."""

    def __init__(self):
        super().__init__()
        self.cells, self._open = [], False

    def handle_starttag(self, tag, attrs):
        self._open = tag == "td"
        if self._open:
            self.cells.append("")

    def handle_endtag(self, tag):
        self._open = False if tag == "td" else self._open

    def handle_data(self, data):
        if self._open:
            self.cells[-1] += data


def report_json(text: str, name: str) -> dict:
    """The `var <name> = {...};` object Snakemake's report page carries (categories, results)."""
    match = re.search(rf"var {name} = (\{{.*?\}});?\n", text)
    assert match, f"no '{name}' object in the report page"
    return json.loads(match.group(1))


EXPECTED = {  # result -> category of the stage it belongs to
    "results/qc/multiqc.html": "QC",
    "results/report/oncoprint.png": "Variants",
    "results/report/vaf_distribution.png": "Variants",
    **{f"results/report/lollipops/{gene}.png": "Variants" for gene in GENES},
    **{f"results/drivers/plots/{gene}_saturation_lollipop.png": "Driver scoring" for gene in GENES},
    "results/report/therapy_tiers.html": "Therapies",
    "results/report/radiomics_summary.html": "Imaging",
    "results/report/cohort_tables.html": "Cohort tables",
    "results/cohort/variants.maf": "Cohort tables",
    "results/benchmarks.png": "Runtime",
}


@pytest.fixture(scope="module")
def reports(toy_run, tmp_path_factory):
    workdir, _ = toy_run
    out = tmp_path_factory.mktemp("cohort_report")
    built = {}
    for suffix in ("zip", "html"):
        path = out / f"report.{suffix}"
        start = time.perf_counter()
        run_snakemake(workdir, "--report", str(path))
        built[suffix] = (path, time.perf_counter() - start)
        print(f"\nsnakemake --report {path.name}: {built[suffix][1]:.1f} s, "
              f"{path.stat().st_size / 1e6:.2f} MB")
    return workdir, built


@pytest.mark.workflow
def test_zip_report_holds_every_stage_with_captions(reports):
    _, built = reports
    with zipfile.ZipFile(built["zip"][0]) as archive:
        page = archive.read("report/report.html").decode()
        categories, results = report_json(page, "categories"), report_json(page, "results")
        for path, category in EXPECTED.items():
            assert path in results, f"{path} is not in the report"
            assert any(path in items for items in categories[category].values()), (path, category)
            entry = results[path]
            assert len(re.sub("<[^>]+>", "", entry["caption"]).strip()) > 80, f"{path}: caption"
            data = archive.read(f"report/{entry['data_uri']}")
            if path.endswith(".png"):
                assert data[:8] == PNG, path
        for gene in GENES:  # the lollipop caption names its gene, the label too
            entry = results[f"results/report/lollipops/{gene}.png"]
            assert entry["labels"]["gene"] == gene and gene in entry["caption"]
        tiers = _cells(archive.read(
            f"report/{results['results/report/therapy_tiers.html']['data_uri']}").decode())
        maf = archive.read(f"report/{results['results/cohort/variants.maf']['data_uri']}")
    # The planted EGFR L858R of P02 is tier IA for erlotinib in its lung cancer; the workflow
    # description says what each category is.
    assert "EGFR p.L858R" in tiers and "Osimertinib" in " ".join(tiers)
    assert maf.startswith(b"Hugo_Symbol\t") and b"p.L858R" in maf
    for category in ("QC", "Variants", "Therapies", "Imaging", "Cohort tables", "Runtime",
                     "Fusion"):
        assert f"<strong>{category}</strong>" in page, f"workflow.rst does not describe {category}"


def _cells(text: str) -> list[str]:
    parser = _Tables()
    parser.feed(text)
    return parser.cells


def _embedded(text: str) -> dict[str, bytes]:
    results = report_json(text, "results")
    return {path: base64.b64decode(entry["data_uri"].split("base64,", 1)[1])
            for path, entry in results.items()}


@pytest.mark.workflow
def test_html_report_is_self_contained_and_names_the_four_genes(reports):
    _, built = reports
    page = built["html"][0].read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(https?:)?//", page)
    results = report_json(page, "results")
    assert set(EXPECTED) <= set(results)
    assert all(entry["data_uri"].startswith("data:") for entry in results.values())
    files = _embedded(page)
    assert files["results/report/oncoprint.png"][:8] == PNG
    assert b"MultiQC" in files["results/qc/multiqc.html"]
    for gene in GENES:
        assert gene in results[f"results/report/lollipops/{gene}.png"]["caption"]
        assert gene in results["results/report/oncoprint.png"]["caption"]
    radiomics = _cells(files["results/report/radiomics_summary.html"].decode())
    assert {"CT", "MR"} <= set(radiomics) and "P07" not in radiomics  # P07 has no image


@pytest.mark.workflow
def test_no_planted_phi_in_either_report(reports):
    _, built = reports
    needles = [str(value).lower().encode() for value in PLANTED_PHI.values()]
    page = built["html"][0].read_bytes()
    contents = [page.lower(), *(data.lower() for data in _embedded(page.decode()).values())]
    with zipfile.ZipFile(built["zip"][0]) as archive:
        contents += [archive.read(name).lower() for name in archive.namelist()]
    hits = [needle.decode() for needle in needles for data in contents if needle in data]
    assert not hits, f"PHI in the report: {sorted(set(hits))}"


@pytest.mark.workflow
def test_cohort_tables_for_pandas_r_and_maftools(toy_run):
    workdir, _ = toy_run
    maf = validated_maf(workdir / "results/cohort/variants.maf")
    assert set(maf.Tumor_Sample_Barcode) == {f"P{n:02d}-T" for n in range(1, 65)}
    tiers = read_parquet(workdir / "results/cohort/therapy_tiers.parquet", THERAPY_TIERS_SCHEMA)[0]
    p02 = tiers[(tiers.patient == "P02") & (tiers.biomarker == "EGFR p.L858R")]
    assert p02.set_index("drug").loc["Osimertinib", "amp_tier"] == "IA"
    # The oncoprint's cells for the planted drivers.
    drivers = pd.read_parquet(workdir / "results/cohort/drivers.parquet")
    matrix = oncoprint_matrix(tumour_alterations(drivers), [f"P0{n}" for n in range(1, 9)])
    alterations = tumour_alterations(drivers).set_index(["patient", "hgvs_p"])
    assert alterations.loc[("P01", "p.R175H"), "variant_classification"] == "Missense_Mutation"
    assert alterations.loc[("P04", "p.E746_A750del"), "variant_classification"] == "In_Frame_Del"
    assert matrix.loc["EGFR", "P02"] != "" and matrix.loc["TP53", "P01"] != ""
    page = (workdir / "results/report/cohort_tables.html").read_text()
    for table in ("variants.parquet", "drivers.parquet", "therapy_tiers.parquet",
                  "radiomics.parquet", "variants.maf"):
        assert table in page
    assert np.isfinite(pd.read_parquet(workdir / "results/cohort/variants.parquet").t_vaf).all()
