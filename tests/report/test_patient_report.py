"""The per-patient HTML report: sections from fabricated tables, the coverage summary, and the toy
cohort's reports rendered in headless Chromium (not blank, planted drivers shown, no PHI)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import report_index, run_snakemake, shard_of
from oncoweave.cli.main import main as cli
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA, copy_number_drivers
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.fusion.retrieval import SIMILAR_PATIENTS_SCHEMA
from oncoweave.report.patient import FUSION_COLUMNS, ShardTables, render_patient_report
from oncoweave.report.patient_copy_number import NO_COPY_NUMBER_PATIENT, NO_COPY_NUMBER_RUN
from oncoweave.report.patient_imaging import Lesion, lesion_figure
from oncoweave.report.patient_sections import feature_reasons
from oncoweave.therapy.icb_tables import ICB_SCHEMA
from oncoweave.therapy.matching import THERAPIES_SCHEMA
from oncoweave.therapy.tmb import TMB_SCHEMA
from oncoweave.toy.images import PLANTED_PHI
from oncoweave.toy.planting import DRIVERS, GERMLINE_PATHOGENIC
from oncoweave.variants.copy_number import copy_number_rows
from oncoweave.variants.coverage import COVERAGE_SCHEMA, summarize_coverage

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium', which "
                             "setup.sh installs): the report cannot be rendered here")
TOY_PATIENTS = [f"P{n:02d}" for n in range(1, 9)]


# ---------------------------------------------------------------------------------------------
# Fabricated stage tables.

TOP_FEATURES = json.dumps([
    {"feature": "hotspot_change_count", "value": 386.0, "contribution": 4.55,
     "reason": "recurrent hotspot residue"},
    {"feature": "in_domain", "value": 1.0, "contribution": 0.89,
     "reason": "inside the DNA-binding domain"},
    {"feature": "size_change", "value": -19.0, "contribution": -0.53,
     "reason": "side-chain size change -19 Da"}])


def driver_row(**values):
    row = {"patient": "X1", "sample": "X1-T", "normal_sample": "X1-N", "chrom": "chr17",
           "pos": 7675088, "ref": "C", "alt": "T", "contig": "chr17", "contig_pos": 7675088,
           "variant_type": "SNV", "gene": "TP53", "transcript": "ENST00000269305",
           "consequence": "missense", "hgvs_p": "p.R175H", "hgvs_c": "c.524G>A", "t_depth": 200,
           "t_alt": 66, "t_vaf": 0.33, "n_depth": 100, "n_alt": 0, "n_vaf": 0.0,
           "status": "somatic", "filter": "PASS", "quality": 200.0, "fisher_p": 1e-20,
           "pair_identity": "pass", "purity": 0.7, "driver_score": 0.99,
           "top_features": TOP_FEATURES, "driver_reasons": "recurrent hotspot residue (+)",
           "cancer_cell_fraction": 0.94, "clonality": "clonal"}
    row.update(values)
    return row


def therapy_row(**values):
    row = {"patient": "X1", "biomarker": "TP53 p.R175H", "gene": "TP53", "hgvs_p": "p.R175H",
           "hgvs_c": "c.524G>A", "variant_status": "somatic", "drug": "Doxorubicin",
           "evidence_level": "C", "amp_tier": "IID", "direction": "sensitivity",
           "disease": "Breast Cancer", "disease_match": "exact", "source_ids": "CIViC:EID1",
           "match_reason": "exact protein change"}
    row.update(values)
    return row


@pytest.fixture
def tables(tmp_path):
    """A tumour-only patient X1 (no normal, no image, no fusion): the stage tables as Parquet."""
    paths = {name: tmp_path / f"{name}.parquet" for name in ("drivers", "therapies", "tmb", "icb")}
    drivers = pd.DataFrame([
        driver_row(normal_sample=None, n_depth=None, n_alt=None, n_vaf=None,
                   status="tumour_only", pair_identity="no_normal"),
        driver_row(gene="EGFR", hgvs_p="p.T790M", status="tumour_only", filter="low_vaf",
                   t_vaf=0.04, normal_sample=None, n_depth=None, n_alt=None, n_vaf=None,
                   pair_identity="no_normal"),
        driver_row(gene="BRCA2", hgvs_p="p.<b>K3326*</b>", driver_score=0.01,
                   status="tumour_only", normal_sample=None, n_depth=None, n_alt=None,
                   n_vaf=None, pair_identity="no_normal"),
        driver_row(patient="X2", gene="EGFR", hgvs_p="p.L858R")])
    write_parquet(drivers, paths["drivers"], DRIVERS_SCHEMA, {"config_hash": "abc123",
                                                              "bcftoolsVersion": "1.16"})
    write_parquet(pd.DataFrame([
        therapy_row(), therapy_row(source_ids="PMID:1"),
        therapy_row(drug="<script>alert(1)</script>", amp_tier="IA", evidence_level="A"),
        therapy_row(drug=None, amp_tier=None, evidence_level=None,
                    direction="no_approved_therapy")]),
        paths["therapies"], THERAPIES_SCHEMA, {"cancer_type": "Breast Cancer"})
    write_parquet(pd.DataFrame([{
        "patient": "X1", "callable_mb": 0.024, "somatic_coding_mutations": 3, "tmb": None,
        "tmb_source": "computed", "reportable": False,
        "reason": "callable territory 0.024 Mb < 1.0 Mb"}]), paths["tmb"], TMB_SCHEMA)
    write_parquet(pd.DataFrame([{
        "patient": "X1", "response_probability": 0.31, "low": 0.22, "high": 0.41,
        "model": "oncoweave-icb-loris_logistic", "missing_features": "", "imputed_features": "",
        "cancer_type_used": "Breast", "cancer_type_flag": None, "reason": None}]),
        paths["icb"], ICB_SCHEMA, {"icb_model": "oncoweave-icb-loris_logistic"})
    return paths


class _Text(HTMLParser):
    """The visible text of an HTML page (no tags, no style)."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def page_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def section_text(html: str, key: str) -> str:
    match = re.search(rf'<section id="{key}">(.*?)</section>', html, re.DOTALL)
    assert match, f"no section {key}"
    return page_text(match.group(1))


def assert_self_contained(html: str) -> None:
    """Nothing to fetch at view time: every src is a data: URI, every href a page anchor."""
    sources = re.findall(r'\ssrc="([^"]*)"', html)
    assert all(s.startswith("data:image/png;base64,") for s in sources), sources
    assert all(h.startswith("#") for h in re.findall(r'\shref="([^"]*)"', html))
    assert "<link" not in html and "@import" not in html and "url(" not in html


# ---------------------------------------------------------------------------------------------
# Unit tests.

def test_feature_contributions_read_as_words():
    words = feature_reasons(TOP_FEATURES)
    assert words.startswith("recurrent hotspot residue (raises the score, +4.55 log-odds)")
    assert "inside the DNA-binding domain (raises the score" in words
    assert "side-chain size change -19 Da (lowers the score, -0.53 log-odds)" in words
    assert feature_reasons(None) == "—"


def test_tumour_only_patient_without_image_or_fusion_says_why(tables, tmp_path):
    output = tmp_path / "report" / "X1.html"
    sections = render_patient_report("X1", output, **tables, imaging_run=True,
                                     config_hash="cafe01")
    html = output.read_text()
    assert_self_contained(html)
    drivers = section_text(html, "drivers")
    assert "TP53" in drivers and "p.R175H" in drivers and "33.0 %" in drivers
    assert "recurrent hotspot residue (raises the score" in drivers
    assert "inside the DNA-binding domain" in drivers
    # the low-VAF call is named as filtered, the low-scoring BRCA2 call is not a driver
    assert "EGFR p.T790M (low_vaf" in drivers and "K3326" not in drivers
    assert "L858R" not in html, "another patient's row leaked into the report"
    empty = {s.key: s.empty for s in sections if s.empty}
    assert set(empty) == {"germline", "copy_number", "imaging", "fusion", "similar"}
    assert section_text(html, "copy_number").strip() == (
        "Copy number " + NO_COPY_NUMBER_RUN)
    assert "No normal sample" in section_text(html, "germline")
    assert "No image" in section_text(html, "imaging")
    assert "Stage not run" in section_text(html, "fusion")
    therapies = section_text(html, "therapies")
    assert "Doxorubicin" in therapies and "IID" in therapies and "this tumour type" in therapies
    # the two Doxorubicin rows (one match, two sources) fold into one row with both items
    assert "2 evidence items" in therapies and re.search(r"CIViC:EID1 .*PMID:1 ", therapies), \
        "evidence rows for one match are folded"
    assert therapies.index("IA") < therapies.index("IID"), "tiers are ordered"
    assert "<script>" not in html and "&lt;script&gt;" in html, "table text is escaped"
    tmb = section_text(html, "tmb")
    assert "not reportable: callable territory 0.024 Mb" in tmb
    assert "31 % (90 % bootstrap interval 22 % – 41 %)" in tmb
    qc = section_text(html, "qc")
    assert "cafe01" in qc and "abc123" in qc and "bcftoolsVersion" in qc
    assert "not checked" in qc and "Coverage: no reads" in qc


def test_a_shard_read_once_makes_the_same_reports(tables, tmp_path):
    # The shard's rule reads each table once (ShardTables) for all its reports: the pages are
    # the same bytes as when each report reads the tables itself, patients without rows included.
    identity = tmp_path / "identity.tsv"
    identity.write_text("patient\tstatus\tn_sites\tconcordance\n"
                        "X2\tpass\t40\t0.99\nX1\tno_normal\t0\t\nX2\tfail\t3\t0.1\n")
    shared = ShardTables()
    for patient in ("X1", "X2"):  # X2: no therapy, TMB or ICB row; two identity rows
        alone, together = tmp_path / "alone" / f"{patient}.html", tmp_path / f"{patient}.html"
        render_patient_report(patient, alone, **tables, identity=identity, config_hash="c1")
        render_patient_report(patient, together, **tables, identity=identity, config_hash="c1",
                              tables=shared)
        assert together.read_bytes() == alone.read_bytes(), patient
    for reader in (None, shared):
        with pytest.raises(InputError, match="no row for X3"):
            render_patient_report("X3", tmp_path / "X3.html", **tables, identity=identity,
                                  tables=reader)
    assert "pass: tumour and normal" in section_text((tmp_path / "X2.html").read_text(), "qc")


def test_allowed_empty_call_set_is_said_in_words_at_the_top(tables, tmp_path):
    # X3 has no row in any table: its VCF kept no record, and the user allowed that.
    note = ("no usable variant records in calls.vcf.gz: 4 records read, 0 kept (4 outside the "
            "reference regions, 0 without an ALT allele)")
    output = tmp_path / "X3.html"
    render_patient_report("X3", output, **tables, call_set_note=note)
    html = output.read_text()
    header = page_text(html[:html.index("<section")])
    assert note in header
    drivers = section_text(html, "drivers")
    assert drivers.strip() == f"Driver mutations Nothing to score: {note}"
    assert "0 tumour calls" not in page_text(html)
    assert "the call set is empty" in section_text(html, "therapies")
    # A patient with calls keeps its tables under the note (most records dropped, some kept).
    render_patient_report("X1", tmp_path / "X1.html", **tables, call_set_note="most ...")
    assert "p.R175H" in section_text((tmp_path / "X1.html").read_text(), "drivers")


def test_a_vcf_column_read_by_position_is_said_under_provenance(tables, tmp_path):
    render_patient_report("X1", tmp_path / "X1.html", **tables, tumour_column="TUMOR")
    qc = section_text((tmp_path / "X1.html").read_text(), "qc")
    assert "Calls: the VCF's one sample column 'TUMOR' was read as the tumour (the column is " \
           "not named as the sample sheet's sample)." in qc
    render_patient_report("X2", tmp_path / "X2.html", **tables)
    assert "sample column" not in section_text((tmp_path / "X2.html").read_text(), "qc")


def test_icb_fallbacks_are_named_beside_the_probability(tables, tmp_path):
    write_parquet(pd.DataFrame([{
        "patient": "X1", "response_probability": 0.27, "low": 0.2, "high": 0.35,
        "model": "oncoweave-icb-loris_logistic", "missing_features": "Albumin,NLR",
        "imputed_features": "Albumin,NLR", "cancer_type_used": "other",
        "cancer_type_flag": "cancer type 'Glioma' is not a training type: scored with the "
                            "pan-cancer 'other' level", "reason": None}]),
        tables["icb"], ICB_SCHEMA, {"icb_model": "oncoweave-icb-loris_logistic"})
    render_patient_report("X1", tmp_path / "X1.html", **tables)
    tmb = section_text((tmp_path / "X1.html").read_text(), "tmb")
    assert "27 % (90 % bootstrap interval 20 % – 35 %)" in tmb
    assert "cancer type 'Glioma' is not a training type: scored with the pan-cancer" in tmb
    assert "Albumin, NLR (not in the clinical sheet: the training cohort's median" in tmb


def test_germline_brca_is_flagged_for_counselling(tables, tmp_path):
    drivers = pd.DataFrame([driver_row(), driver_row(
        gene="BRCA1", hgvs_p="p.Q1756Pfs*74", status="germline", n_vaf=0.47, t_vaf=0.54,
        consequence="frameshift"), driver_row(
        gene="EGFR", hgvs_p="p.R776H", status="germline", n_vaf=0.5, driver_score=0.7)])
    write_parquet(drivers, tables["drivers"], DRIVERS_SCHEMA)
    output = tmp_path / "X1.html"
    sections = render_patient_report("X1", output, **tables)
    html = output.read_text()
    germline = section_text(html, "germline")
    assert "BRCA1" in germline and "p.Q1756Pfs*74" in germline and "47.0 %" in germline
    assert "genetic counselling" in germline
    alerts = next(s.alerts for s in sections if s.key == "germline")
    assert alerts == ["Germline BRCA1 p.Q1756Pfs*74: refer for genetic counselling."]
    egfr = germline[germline.index("p.R776H"):]
    assert "confirm in a certified germline test" in egfr and "counselling" not in egfr
    assert "p.Q1756Pfs*74" not in section_text(html, "drivers"), "germline is reported apart"


def test_therapies_fold_to_one_row_per_alteration_and_drug_with_the_items_beneath(
        tables, tmp_path):
    brca1 = {"biomarker": "BRCA1 p.Q1756Pfs*74", "gene": "BRCA1", "hgvs_p": "p.Q1756Pfs*74",
             "hgvs_c": "c.5266dup", "variant_status": "germline"}
    matches = [
        therapy_row(),  # TP53 Doxorubicin IID, breast
        therapy_row(drug="Alemtuzumab", amp_tier="IIC", evidence_level="B",
                    disease="Chronic Lymphocytic Leukemia", disease_match="other",
                    source_ids="CIViC:EID1481"),
        therapy_row(**brca1, drug="Olaparib", amp_tier="IIC", evidence_level="A",
                    disease="Ovarian Cancer", disease_match="other", source_ids="FDA:ovarian"),
        therapy_row(**brca1, drug="Olaparib", amp_tier="IA", evidence_level="A",
                    disease="Her2-receptor Negative Breast Cancer", source_ids="FDA:breast"),
        therapy_row(**brca1, drug="Olaparib", amp_tier="IB", evidence_level="B",
                    direction="resistance", disease="Triple-receptor Negative Breast Cancer",
                    source_ids="CIViC:EID2000"),
        therapy_row(**brca1, drug="Cisplatin, Carboplatin", amp_tier="IID", evidence_level="D",
                    source_ids="CIViC:EID1684"),
        therapy_row(**brca1, drug="Carboplatin, Cisplatin", amp_tier="IIC", evidence_level="B",
                    disease="Ovarian Cancer", disease_match="other", source_ids="CIViC:EID99"),
        therapy_row(drug="Tamoxifen", amp_tier="IB", evidence_level="B", direction="resistance",
                    source_ids="CIViC:EID2784"),  # tier I of TP53 before tier II of BRCA1
        therapy_row(drug=None, amp_tier=None, evidence_level=None,
                    direction="no_approved_therapy", source_ids="FDA:none")]
    write_parquet(pd.DataFrame(matches), tables["therapies"], THERAPIES_SCHEMA,
                  {"cancer_type": "Breast Cancer"})
    output = tmp_path / "X1.html"
    render_patient_report("X1", output, **tables)
    html = output.read_text()
    assert_self_contained(html)
    part = re.search(r'<section id="therapies">(.*?)</section>', html, re.DOTALL).group(1)
    # (alteration, drug, tier, direction) of each row, and the details beneath it
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>[^<]*</td>"
                      r"<td>(.*?)</td>.*?<details>(.*?)</details>", part, re.DOTALL)
    assert part.count("<details>") == part.count("<summary>") == len(rows) == 5
    assert [row[:4] for row in rows] == [
        ("BRCA1 p.Q1756Pfs*74 (germline)", "Olaparib", "IA", "sensitivity; resistance"),
        ("TP53 p.R175H", "Tamoxifen", "IB", "resistance"),
        ("BRCA1 p.Q1756Pfs*74 (germline)", "Carboplatin, Cisplatin", "IIC", "sensitivity"),
        ("TP53 p.R175H", "Alemtuzumab", "IIC", "sensitivity"),
        ("TP53 p.R175H", "Doxorubicin", "IID", "sensitivity")]
    details = {(row[0], row[1]): page_text(row[4]) for row in rows}
    olaparib = details[("BRCA1 p.Q1756Pfs*74 (germline)", "Olaparib")]
    assert olaparib.startswith("3 evidence items for BRCA1 p.Q1756Pfs*74 and Olaparib ")
    # every item of the row is inside its details, best first
    assert olaparib.index("FDA:breast") < olaparib.index("CIViC:EID2000") \
        < olaparib.index("FDA:ovarian")
    assert "Cisplatin, Carboplatin" in details[("BRCA1 p.Q1756Pfs*74 (germline)",
                                                "Carboplatin, Cisplatin")]
    for item in matches:
        if item["drug"] is not None:
            source = re.compile(rf"{re.escape(item['source_ids'])}(?!\d)")
            assert sum(bool(source.search(inside)) for inside in details.values()) == 1, item
    assert "TP53 p.R175H (no approved therapy)" in section_text(html, "therapies")


def test_fused_prediction_section_follows_the_evaluate_fusion_contract(tables, tmp_path):
    fusion = tmp_path / "patient_predictions.parquet"
    pd.DataFrame([{
        "patient": "X1", "risk": 81.0, "risk_lower": 62.0, "risk_upper": 95.5,
        "risk_percentile": 87.5, "risk_group": "high", "response_probability": 0.22,
        "response_lower": 0.1, "response_upper": 0.4, "modalities_used": "clinical, genomic",
        "modalities_missing": "imaging", "model": "xgboost early fusion"}],
        columns=FUSION_COLUMNS).to_parquet(fusion)
    output = tmp_path / "X1.html"
    render_patient_report("X1", output, **tables, fusion=fusion)
    text = section_text(output.read_text(), "fusion")
    assert ("higher than 81 % of the cohort's patients the model was trained on; "
            "high-risk group") in text
    assert "62nd – 96th percentile (median 88th)" in text
    assert "22 % (95 % interval 10 % – 40 %)" in text
    assert "clinical, genomic" in text and "imaging" in text and "xgboost early fusion" in text
    # a table that breaks the contract is refused, naming the file and the missing column
    pd.DataFrame({"patient": ["X1"], "risk": [1.0]}).to_parquet(fusion)
    with pytest.raises(InputError, match=r"patient_predictions.parquet: missing column\(s\) "
                                         r"risk_lower"):
        render_patient_report("X1", tmp_path / "bad.html", **tables, fusion=fusion)
    assert not (tmp_path / "bad.html").exists()


def test_similar_patients_show_outcomes(tables, tmp_path):
    similar = tmp_path / "similar.parquet"
    write_parquet(pd.DataFrame([
        {"patient": "X1", "rank": 1, "neighbour": "X7", "distance": 0.3,
         "shared_drivers": "TP53 (p.R175H)", "shared_therapies": None, "imaging_traits": None,
         "clinical_match": "same stage (IV)", "neighbour_os_months": 12.5,
         "neighbour_os_event": 1, "neighbour_response": 0, "modalities_used": "genomic"},
        {"patient": "X1", "rank": 2, "neighbour": "X9", "distance": 0.6,
         "shared_drivers": None, "shared_therapies": None, "imaging_traits": None,
         "clinical_match": None, "neighbour_os_months": 40.0, "neighbour_os_event": 0,
         "neighbour_response": 1, "modalities_used": "genomic"}]),
        similar, SIMILAR_PATIENTS_SCHEMA)
    output = tmp_path / "X1.html"
    render_patient_report("X1", output, **tables, similar=similar)
    text = section_text(output.read_text(), "similar")
    assert "X7" in text and "died at 12.5 months; did not respond (SD/PD)" in text
    assert "alive at 40.0 months (censored); responded (CR/PR)" in text
    assert text.index("X7") < text.index("X9")


def test_bad_table_is_one_error_naming_the_file_and_no_report(tables, tmp_path):
    pd.DataFrame({"patient": ["X1"], "gene": ["TP53"]}).to_parquet(tables["drivers"])
    output = tmp_path / "X1.html"
    with pytest.raises(InputError, match=r"drivers.parquet: columns/types differ"):
        render_patient_report("X1", output, **tables)
    assert not output.exists() and not list(tmp_path.glob(".tmp*"))


def test_copy_number_section_shows_the_calls_their_plot_and_driver_reasons(tables, tmp_path):
    # X1: EGFR amplified, BRCA1 one copy lost (no BRCA1 point call), TP53 neutral (GISTIC
    # values, as a published table gives them); X2 is in no column of the copy-number table.
    calls = copy_number_rows(pd.DataFrame({
        "patient": "X1", "sample": "X1-T", "gene": ["EGFR", "BRCA1", "TP53"],
        "call": ["amplification", "loss", "neutral"]}), "gistic")
    drivers, _ = read_parquet(tables["drivers"], DRIVERS_SCHEMA)
    cn_drivers = tmp_path / "copy_number_drivers.parquet"
    write_parquet(copy_number_drivers(calls, drivers), cn_drivers, CN_DRIVERS_SCHEMA)
    output = tmp_path / "X1.html"
    sections = render_patient_report("X1", output, **tables, copy_number=cn_drivers)
    html = output.read_text()
    assert_self_contained(html)
    part = next(section for section in sections if section.key == "copy_number")
    assert part.empty is None and len(part.images) == 1
    assert part.images[0]["src"].startswith("data:image/png;base64,")
    rows = {row[0]: row for row in part.tables[0].rows}
    assert list(rows) == ["TP53", "BRCA1", "EGFR"]  # the panel's order
    assert rows["EGFR"][1] == "amplification" and rows["EGFR"][6] == "yes: amplification"
    assert rows["EGFR"][7] == "EGFR amplified (GISTIC 2)"
    assert rows["BRCA1"][1] == "loss" and rows["BRCA1"][6] == "no"
    assert "no second hit found" in rows["BRCA1"][7]
    assert rows["EGFR"][3] == "—" and rows["EGFR"][5].startswith("GISTIC 2")
    text = section_text(html, "copy_number")
    assert "EGFR amplified (GISTIC 2)" in text and "copy-number drivers EGFR amplification" in text
    # A patient the table has no sample of gets one line, not a crash.
    render_patient_report("X2", tmp_path / "X2.html", **tables, copy_number=cn_drivers)
    assert section_text((tmp_path / "X2.html").read_text(), "copy_number").strip() == (
        "Copy number " + NO_COPY_NUMBER_PATIENT)


def _write_lesion(tmp_path: Path, spacing=(1.0, 1.0, 3.0)):
    import SimpleITK as sitk

    pixels = np.full((12, 40, 40), -800, dtype=np.int16)  # z, y, x
    mask = np.zeros(pixels.shape, dtype=np.uint8)
    yy, xx = np.ogrid[:40, :40]
    for z, radius in ((5, 4), (6, 8), (7, 5)):  # the lesion is widest on slice 6
        mask[z][(yy - 20) ** 2 + (xx - 15) ** 2 <= radius ** 2] = 1
    pixels[mask == 1] = 60
    paths = []
    for name, array in (("image.nii.gz", pixels), ("mask.nii.gz", mask)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(spacing)
        sitk.WriteImage(image, str(tmp_path / name))
        paths.append(tmp_path / name)
    return paths


def test_lesion_figure_shows_the_widest_slice_with_its_mask(tmp_path):
    import base64
    import io

    from PIL import Image

    image, mask = _write_lesion(tmp_path)
    uri, index = lesion_figure(image, mask, "CT")
    assert index == 6
    png = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")
    pixels = np.asarray(png).astype(int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 50, "the mask outline is drawn"
    with pytest.raises(InputError, match="mask.nii.gz: the mask is empty"):
        import SimpleITK as sitk

        empty = sitk.Image(sitk.ReadImage(str(mask)))
        sitk.WriteImage(empty * 0, str(mask))
        lesion_figure(image, mask, "CT")


def test_imaging_section_with_cohort_radiomics(tables, tmp_path):
    image, mask = _write_lesion(tmp_path)
    record = tmp_path / "ingest.parquet"
    pd.DataFrame([{"patient": "X1", "lesion": "L1", "modality": "CT", "label": 1,
                   "source_format": "nifti", "lesion_volume_ml": 0.6}]).to_parquet(record)
    radiomics = tmp_path / "radiomics.parquet"
    pd.DataFrame({"patient": ["X1", "X2", "X3", "X4"], "lesion": ["L1"] * 4,
                  "modality": ["CT", "CT", "CT", "MR"],
                  "original_shape_VoxelVolume": [600.0, 100.0, 200.0, 5000.0],
                  "original_firstorder_Mean": [60.0, 10.0, 20.0, 900.0]}).to_parquet(radiomics)
    output = tmp_path / "X1.html"
    render_patient_report("X1", output, **tables, radiomics=radiomics,
                          lesions=[Lesion(image, mask, record)])
    html = output.read_text()
    text = section_text(html, "imaging")
    assert "Lesion L1 (CT, 0.60 mL" in text
    volume = re.search(r"lesion volume \(mm³\) 600 (\S+) (\S+ – \S+) (\d+) (\d+ lesions)", text)
    assert volume and volume.groups() == ("400", "100 – 5000", "62", "4 lesions")
    mean = re.search(r"mean intensity 60 \S+ \S+ – \S+ (\d+) (\d+ CT lesions)", text)
    assert mean and mean.groups() == ("83", "3 CT lesions"), "intensity compared within CT"
    assert html.count('src="data:image/png;base64,') == 2
    assert_self_contained(html)


def _cnn_maps(tmp_path: Path, rows: list[dict], metadata: dict) -> Path:
    """A lesion CNN maps folder as train_lesion_classifier writes it: a 24x24 crop slice with a
    bright lesion at rows/columns 8..13, the map warm over it."""
    from oncoweave.imaging.lesion_map_files import write_lesion_maps

    image = np.full((24, 24), 0.2, dtype=np.float32)
    image[8:14, 8:14] = 0.8
    values = np.zeros((24, 24), dtype=np.float32)
    values[7:15, 7:15] = 0.3
    values[0:3, 20:24] = -0.05  # occluding here raised the probability a little
    arrays = {"image": image, "mask": (image > 0.5).astype(np.uint8), "map": values, "slice": 12}
    folder = tmp_path / "lesion_cnn_maps"
    write_lesion_maps(folder, [{**row, **arrays} for row in rows], metadata)
    return folder


def _warm_pixels(uri: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    png = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")
    pixels = np.asarray(png).astype(int)
    return (pixels[..., 0] > 150) & (pixels[..., 2] < 120) & (pixels[..., 0] - pixels[..., 1] > 60)


def test_imaging_section_shows_the_cnn_map_of_a_classified_lesion(tables, tmp_path):
    image, mask = _write_lesion(tmp_path)
    record = tmp_path / "ingest.parquet"
    pd.DataFrame([{"patient": "X1", "lesion": "L1", "modality": "CT", "label": 1,
                   "source_format": "nifti", "lesion_volume_ml": 0.6}]).to_parquet(record)
    maps = _cnn_maps(tmp_path, [{"patient": "X1", "lesion": "L1", "modality": "CT", "fold": 2,
                                 "probability": 0.8341}],
                     {"label": "response", "positive": "CR, PR", "monai_version": "1.6.1"})
    output = tmp_path / "X1.html"
    sections = render_patient_report("X1", output, **tables, lesions=[Lesion(image, mask, record)],
                                     cnn_maps=maps)
    html = output.read_text()
    text = section_text(html, "imaging")
    assert "Lesion L1: occlusion sensitivity (monai.visualize.OcclusionSensitivity), from the " \
           "fold model that held the lesion out (first repeat); axial slice 13 of the crop" in text
    assert "CNN out-of-fold probability of response in {CR, PR}: 0.83" in text
    assert "warm = regions whose occlusion lowers the predicted probability most" in text
    imaging = next(section for section in sections if section.key == "imaging")
    assert [image["alt"] for image in imaging.images] == [
        "lesion L1 with its mask", "lesion L1: CNN occlusion map over the crop slice"]
    warm = _warm_pixels(imaging.images[1]["src"])
    left, right = warm[:, :warm.shape[1] // 2], warm[:, warm.shape[1] // 2:]
    assert right.sum() > 100 and left.sum() == 0, "the map drawn warm beside the plain crop"
    assert html.count('src="data:image/png;base64,') == 2
    assert_self_contained(html)
    assert "lesion CNN maps monai_version 1.6.1" in section_text(html, "qc")
    # The command line takes the same folder.
    again = tmp_path / "X1_cli.html"
    assert cli(["patient-report", "--patient", "X1",
                *[f"--{name}={path}" for name, path in tables.items()],
                "--lesion", str(image), str(mask), str(record), "--cnn-maps", str(maps),
                "--output", str(again)]) == 0
    assert "CNN out-of-fold probability of response in {CR, PR}: 0.83" in \
        section_text(again.read_text(), "imaging")


def test_imaging_section_says_why_there_is_no_cnn_map(tables, tmp_path):
    image, mask = _write_lesion(tmp_path)
    record = tmp_path / "ingest.parquet"
    pd.DataFrame([{"patient": "X1", "lesion": "L1", "modality": "CT", "label": 1,
                   "source_format": "nifti", "lesion_volume_ml": 0.6}]).to_parquet(record)
    reason = "'response' (positive: CR, PR): class 1 has 1 patient(s), fewer than the 5 folds"
    not_fitted = _cnn_maps(tmp_path / "a", [], {"not_fitted": reason})
    output = tmp_path / "X1.html"
    render_patient_report("X1", output, **tables, lesions=[Lesion(image, mask, record)],
                          cnn_maps=not_fitted)
    html = output.read_text()
    text = section_text(html, "imaging")
    assert f"Lesion CNN maps: the lesion classifier is not fitted ({reason})." in text
    assert "occlusion" not in text and html.count('src="data:image/png;base64,') == 1
    # Fitted, but this patient's lesion was not classified (no label): said per lesion.
    others = _cnn_maps(tmp_path / "b", [{"patient": "X2", "lesion": "L1", "modality": "CT",
                                         "fold": 0, "probability": 0.4}], {})
    render_patient_report("X1", output, **tables, lesions=[Lesion(image, mask, record)],
                          cnn_maps=others)
    text = section_text(output.read_text(), "imaging")
    assert "Lesion L1: no CNN map (the lesion classifier did not classify it" in text


def _mosdepth_beds(tmp_path: Path, name: str, depths: tuple[float, float]):
    regions, thresholds = tmp_path / f"{name}.regions.bed.gz", tmp_path / f"{name}.thresholds.bed.gz"
    with gzip.open(regions, "wt") as handle:
        handle.write(f"chr17\t0\t100\tTP53\t{depths[0]}\nchr17\t200\t500\tTP53\t{depths[1]}\n"
                     "chr7\t0\t50\tEGFR\t30\nchr1\t0\t10\tOTHER\t5\n")
    with gzip.open(thresholds, "wt") as handle:
        handle.write("#chrom\tstart\tend\tregion\t20X\t100X\n"
                     "chr17\t0\t100\tTP53\t100\t100\nchr17\t200\t500\tTP53\t300\t60\n"
                     "chr7\t0\t50\tEGFR\t50\t0\nchr1\t0\t10\tOTHER\t0\t0\n")
    return regions, thresholds


def test_coverage_summary_per_driver_gene(tmp_path):
    output = tmp_path / "coverage" / "X1.parquet"
    assert cli(["summarize-coverage", "--patient", "X1",
                "--sample", "X1-T", "tumour", *map(str, _mosdepth_beds(tmp_path, "T", (200, 100))),
                "--sample", "X1-N", "normal", *map(str, _mosdepth_beds(tmp_path, "N", (50, 50))),
                "--output", str(output)]) == 0
    table, _ = read_parquet(output, COVERAGE_SCHEMA)
    tp53 = table[(table["sample"] == "X1-T") & (table["gene"] == "TP53")].set_index("min_depth")
    assert tp53["target_bp"].tolist() == [400, 400]
    assert tp53["mean_depth"].iloc[0] == pytest.approx((100 * 200 + 300 * 100) / 400)
    assert tp53.loc[20, "fraction_at_depth"] == 1.0
    assert tp53.loc[100, "fraction_at_depth"] == pytest.approx(160 / 400)
    assert set(table["gene"]) == {"TP53", "EGFR"}, "only driver genes are summarised"
    assert set(table["sample_type"]) == {"tumour", "normal"}


def test_coverage_summary_refuses_a_bed_without_names(tmp_path):
    regions, thresholds = _mosdepth_beds(tmp_path, "T", (1, 1))
    with gzip.open(regions, "wt") as handle:
        handle.write("chr17\t0\t100\t200\n")
    output = tmp_path / "X1.parquet"
    with pytest.raises(InputError, match=r"T.regions.bed.gz: mosdepth regions bed has 4 columns, not 5"):
        summarize_coverage("X1", output, [("X1-T", "tumour", regions, thresholds)])
    assert not output.exists()


# ---------------------------------------------------------------------------------------------
# The toy cohort's reports (the session's toy run) in headless Chromium.

def chromium(tmp_path: Path, html: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{time.monotonic_ns()}"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--hide-scrollbars", f"--user-data-dir={profile}", *args, html.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


def planted_drivers(patient: str) -> list[tuple[str, str]]:
    number = int(patient.lstrip("P"))
    planted = [(d.gene, d.hgvs_p) for k, d in enumerate(DRIVERS)
               if k % len(TOY_PATIENTS) == number - 1]
    return planted


@pytest.fixture(scope="module")
def reports(toy_run):
    workdir, _ = toy_run
    index = report_index(workdir)
    assert set(TOY_PATIENTS) <= set(index) and all(path.exists() for path in index.values())
    return workdir, {patient: index[patient] for patient in TOY_PATIENTS}


@pytest.mark.workflow
@needs_chromium
def test_toy_reports_render_with_the_planted_drivers(reports, tmp_path):
    workdir, paths = reports
    for patient, path in paths.items():
        html = path.read_text()
        assert_self_contained(html)
        dom = chromium(tmp_path, path, "--dump-dom").stdout
        drivers, germline = section_text(dom, "drivers"), section_text(dom, "germline")
        for gene, change in planted_drivers(patient):
            assert re.search(rf"{gene} {re.escape(change)} ", drivers), (patient, gene, change)
        assert f"Patient report: {patient}" in page_text(dom)
        if patient == "P01":  # the germline BRCA1 founder frameshift, for counselling
            assert GERMLINE_PATHOGENIC.hgvs_p in germline and "genetic counselling" in germline
        if patient == "P08":
            assert "No normal sample" in germline
        if patient == "P07":
            assert "No image" in section_text(dom, "imaging")
        fusion = section_text(dom, "fusion")  # evaluate_fusion's out-of-fold prediction
        assert re.search(r"higher than \d+ % of the cohort's patients .* (high|low)-risk group",
                         fusion), fusion
        assert re.search(r"response probability \d+ % \(95 % interval \d+ % – \d+ %\)", fusion)
        if patient == "P07":
            assert "modalities missing radiomics, deep, cnn" in fusion
        qc = section_text(dom, "qc")
        assert "sample identity" in qc and "mean depth" in qc and "config hash" in qc
    shard = shard_of(workdir, "P05")
    log = (workdir / f"logs/render_patient_report/{shard}.log").read_text()
    assert "P05: report with 9 sections" in log  # copy number: none in the toy run
    assert (workdir / f"benchmarks/render_patient_report/{shard}.tsv").exists()


@pytest.mark.workflow
@needs_chromium
def test_toy_report_screenshot_is_not_blank(reports, tmp_path):
    from PIL import Image

    _, paths = reports
    for patient, has_image in (("P05", True), ("P07", False)):
        png = tmp_path / f"{patient}.png"
        started = time.perf_counter()
        chromium(tmp_path, paths[patient], f"--screenshot={png}", "--window-size=1280,8000")
        seconds = time.perf_counter() - started
        pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
        assert pixels.shape[:2] == (8000, 1280)
        grey = pixels.mean(axis=2)
        non_white = (grey < 240).mean()
        print(f"{patient}: chromium screenshot {seconds:.2f} s, {non_white:.1%} non-white, "
              f"{paths[patient].stat().st_size / 1024:.0f} KB")
        assert non_white > 0.03 and grey.std() > 20, f"{patient}: the page looks blank"
        red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
        # the lesion's mask outline and overlay: the embedded PNG was decoded and drawn
        assert (red.sum() > 200) == has_image, (patient, int(red.sum()))


# ---------------------------------------------------------------------------------------------
# No PHI: the DICOM headers' planted PHI and values found only in the sheets.

def _sheet_only_values(workdir: Path) -> list[str]:
    """Values of the toy sheets that no report may show: the source files' paths."""
    samples = pd.read_csv(workdir / "config/samples.tsv", sep="\t", dtype=str).fillna("")
    images = pd.read_csv(workdir / "config/images.tsv", sep="\t", dtype=str).fillna("")
    values = [*samples["fastq1"], *samples["fastq2"], *images["image"], *images["mask"]]
    return sorted({v for v in values if v})


def _phi_in(paths, needles) -> list[str]:
    return [f"{path.name}: {needle}" for path in paths
            for needle in needles if needle.lower() in path.read_text().lower()]


@pytest.mark.workflow
def test_toy_reports_carry_no_planted_phi(reports):
    workdir, paths = reports
    dicom = workdir / "toy_cohort/images/P05/dicom"
    headers = b"".join(p.read_bytes() for p in dicom.iterdir())
    assert all(str(v).encode() in headers for v in PLANTED_PHI.values()), "control: PHI planted"
    needles = [str(v) for v in PLANTED_PHI.values()] + _sheet_only_values(workdir)
    assert len(needles) > len(PLANTED_PHI)
    assert not _phi_in(paths.values(), needles)


SHEET_PHI = {"patient_name": "ZZSHEET^Panza^Teresa", "mrn": "ZZSHEET-MRN-1605",
             "date_of_birth": "1547-09-29", "physician": "ZZSHEET Dr Sanson Carrasco"}


@pytest.mark.workflow
def test_phi_planted_in_the_clinical_sheet_reaches_no_report(toy_run, tmp_path):
    """A core's clinical sheet with identifying columns: the stages rerun on it, the reports
    stay free of them (the report reads no sheet; no stage carries such a column on)."""
    source, _ = toy_run
    workdir = tmp_path / "run"
    workdir.mkdir()
    for name in ("results", "toy_cohort"):  # hard links: snakemake replaces what it reruns
        shutil.copytree(source / name, workdir / name, copy_function=os.link, symlinks=True)
    for name in ("config", "logs", "benchmarks", ".snakemake"):
        shutil.copytree(source / name, workdir / name, symlinks=True,
                        ignore=shutil.ignore_patterns("locks", "incomplete"))
    clinical = pd.read_csv(workdir / "config/clinical.tsv", sep="\t", dtype=str)
    for column, value in SHEET_PHI.items():
        clinical[column] = [f"{value}-{patient}" for patient in clinical["patient"]]
    (workdir / "config/clinical.tsv").unlink()
    clinical.to_csv(workdir / "config/clinical.tsv", sep="\t", index=False)
    result = run_snakemake(workdir, "--cores", "2", "results/report/index.html")
    assert "render_patient_report" in result.stderr, "the reports were remade on the new sheet"
    paths = [report_index(workdir)[p] for p in TOY_PATIENTS]
    assert not _phi_in(paths, list(SHEET_PHI.values()))
    assert "P05" in paths[4].read_text()


def test_imaging_section_marks_proposed_masks_and_says_why_one_is_missing(tables, tmp_path):
    image, mask = _write_lesion(tmp_path)
    record = tmp_path / "ingest.parquet"
    pd.DataFrame([{"patient": "X1", "lesion": lesion, "modality": "CT", "label": 1,
                   "source_format": "nifti", "lesion_volume_ml": None}
                  for lesion in ("L1",)]).to_parquet(record)
    radiomics = tmp_path / "radiomics.parquet"
    pd.DataFrame({"patient": ["X1", "X2"], "lesion": ["L1"] * 2, "modality": ["CT"] * 2,
                  "mask_source": ["proposed", "given"],
                  "original_shape_VoxelVolume": [600.0, 100.0]}).to_parquet(radiomics)
    output = tmp_path / "X1.html"
    render_patient_report("X1", output, **tables, radiomics=radiomics, lesions=[
        Lesion(image, mask, record, "proposed"),
        Lesion(image, tmp_path / "not_proposed.nii.gz", record, "proposed")])
    text = section_text(output.read_text(), "imaging")
    assert "Lesion L1 (CT, nifti input, de-identified working copy; mask proposed by the " \
           "segmenter)" in text
    assert "key radiomic features (pyradiomics) on the mask proposed by the segmenter" in text
    assert "no mask was given and the segmenter proposed none" in text
