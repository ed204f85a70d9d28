"""The patient feature table: genomic, imaging, clinical blocks, outcomes, schema, CLI, bad input.

The small cohort below is built by hand with the real Parquet schemas (drivers, TMB, radiomics,
deep features) and a clinical TSV read by the real sheet loader. test_retrieval.py reuses it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import TEST_DATA
from oncoweave.cli import main as cli
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.fusion.feature_table import (
    modality_map,
    patient_features_schema,
    read_patient_features,
    write_patient_features,
)
from oncoweave.fusion.patient_features import build_patient_features, parse_stage
from oncoweave.imaging.deep_features import deep_features_schema
from oncoweave.imaging.lesion_classifier import PREDICTIONS_SCHEMA as CNN_PREDICTIONS_SCHEMA
from oncoweave.imaging.radiomics import radiomics_schema
from oncoweave.therapy.matching import THERAPIES_SCHEMA
from oncoweave.therapy.tmb import TMB_SCHEMA

TOY_VARIANTS = TEST_DATA / "drivers" / "toy_variants.parquet"
RADIOMIC_NAMES = ["original_shape_VoxelVolume", "original_firstorder_Mean",
                  "original_glcm_Contrast", "original_glszm_ZoneEntropy"]
COMMANDS = ("oncoweave.cli.fusion",)

# P1 and P2 are near-duplicates (TP53 p.R175H, olaparib, large CT lesions, breast IIIA women);
# P3 has an EGFR driver and a BRCA2 LOH; P4 has no normal and no image; P5 has no clinical row,
# a sub-threshold and a filtered TP53 call; P6 has no variant at all.
SAMPLES_TSV = "patient\tsample\ttype\n" + "".join(
    f"{p}\t{p}-T\ttumour\n" + (f"{p}\t{p}-N\tnormal\n" if p != "P4" else "")
    for p in ("P1", "P2", "P3", "P4", "P5", "P6"))
CLINICAL_TSV = (
    "patient\tage\tsex\tstage\tcancer_type\ttreatment\tos_months\tos_event\tresponse\tecog\tsite\n"
    "P1\t50\tF\tIIIA\tBreast Cancer\tolaparib\t30.5\t1\tPR\t1\tleft\n"
    "P2\t52\tfemale\tStage III\tBreast Cancer\tolaparib\t28.0\t0\tCR\t1\tright\n"
    "P3\t70\tM\tIV\tLung Adenocarcinoma\tosimertinib\t12.0\t1\tPD\t2\tleft\n"
    "P4\t64\tM\tIVB\tLung Adenocarcinoma\t\t\t\t\t0\t\n"
    "P6\t\t\t\t\t\t5.5\t0\tSD\t\t\n")


def call(patient: str, gene: str, hgvs_p: str | None, status: str = "somatic",
         score: float | None = 0.9, filter: str = "PASS", pos: int = 1000) -> dict:
    """One DRIVERS_SCHEMA row."""
    paired = status != "tumour_only"
    return {
        "patient": patient, "sample": f"{patient}-T", "normal_sample": f"{patient}-N" if paired
        else None, "chrom": "chr17", "pos": pos, "ref": "C", "alt": "T", "contig": "chr17_TP53",
        "contig_pos": pos, "variant_type": "SNV", "gene": gene, "transcript": "ENST00000269305",
        "consequence": "missense", "hgvs_p": hgvs_p, "hgvs_c": f"c.{pos}C>T", "t_depth": 100,
        "t_alt": 40, "t_vaf": 0.4, "n_depth": 80 if paired else None,
        "n_alt": (40 if status in ("germline", "loh") else 0) if paired else None,
        "n_vaf": (0.5 if status in ("germline", "loh") else 0.0) if paired else None,
        "status": status, "filter": filter, "quality": 60.0, "fisher_p": 1e-6,
        "pair_identity": "pass" if paired else "no_normal", "purity": 0.8, "driver_score": score,
        "top_features": None, "driver_reasons": None, "cancer_cell_fraction": None,
        "clonality": None,
    }


def drivers_table() -> pd.DataFrame:
    return pd.DataFrame([
        call("P1", "TP53", "p.R175H", score=0.95),
        call("P1", "BRCA1", "p.E23Vfs*17", status="germline", score=0.9, pos=2000),
        call("P1", "EGFR", "p.T572=", status="germline", score=0.02, pos=3000),
        call("P2", "TP53", "p.R175H", score=0.93),
        call("P2", "BRCA1", "p.E23Vfs*17", status="germline", score=0.9, pos=2000),
        call("P3", "EGFR", "p.L858R", score=0.9, pos=4000),
        call("P3", "BRCA2", "p.N1778S", status="loh", score=0.2, pos=5000),
        call("P4", "TP53", "p.R273H", status="tumour_only", score=0.8, pos=6000),
        call("P5", "TP53", "p.P72R", score=0.3, pos=7000),
        call("P5", "TP53", "p.R248Q", score=0.99, filter="low_vaf", pos=8000),
        call("P5", "BRCA2", None, score=None, pos=9000),  # intronic: not scored
    ], columns=DRIVERS_SCHEMA.names)


def tmb_row(patient: str, tmb: float | None, reportable: bool) -> dict:
    return {"patient": patient, "callable_mb": 1.2, "somatic_coding_mutations": 10, "tmb": tmb,
            "tmb_source": "computed", "reportable": reportable,
            "reason": None if reportable else "tumour-only"}


def lesion(patient: str, name: str, modality: str, volume: float, mean: float,
           contrast: float, entropy: float) -> dict:
    # P3's mask is the segmenter's proposal: mask_source describes the row, it is no feature.
    return {"patient": patient, "lesion": name, "modality": modality,
            "mask_source": "proposed" if patient == "P3" else "given",
            **dict(zip(RADIOMIC_NAMES, (volume, mean, contrast, entropy)))}


def radiomics_table() -> pd.DataFrame:
    return pd.DataFrame([
        lesion("P1", "L1", "CT", 5000.0, 40.0, 12.0, 5.0),
        lesion("P1", "L2", "CT", 100.0, 10.0, 2.0, 3.0),
        lesion("P2", "L1", "CT", 4800.0, 41.0, 12.5, 5.1),
        lesion("P3", "L1", "CT", 300.0, -20.0, 40.0, 7.5),
        lesion("P5", "L1", "CT", 900.0, 5.0, 25.0, 6.0),
        lesion("P6", "L1", "CT", 200.0, 60.0, 30.0, 4.0),
    ])


def deep_table() -> pd.DataFrame:
    rows = [("P1", "L1", 0.5, -0.2), ("P1", "L2", -1.0, 1.0), ("P2", "L1", 0.52, -0.21),
            ("P3", "L1", -0.8, 0.9), ("P5", "L1", 0.1, 0.3), ("P6", "L1", 0.0, -0.9)]
    return pd.DataFrame([{"patient": p, "lesion": le, "modality": "CT", "deep_000": a,
                          "deep_001": b} for p, le, a, b in rows])


def therapy(patient: str, gene: str, hgvs_p: str, drug: str, tier: str,
            direction: str = "sensitivity", status: str = "somatic") -> dict:
    return {"patient": patient, "biomarker": f"{gene} {hgvs_p}", "gene": gene, "hgvs_p": hgvs_p,
            "hgvs_c": None, "variant_status": status, "drug": drug, "evidence_level": "A",
            "amp_tier": tier, "direction": direction, "disease": "Breast Cancer",
            "disease_match": "exact", "source_ids": "FDA: label", "match_reason": "test"}


def therapies_tables() -> dict[str, pd.DataFrame]:
    rows = {
        "P1": [therapy("P1", "BRCA1", "p.E23Vfs*17", "Olaparib", "IA", status="germline"),
               therapy("P1", "BRCA1", "p.E23Vfs*17", "Talazoparib", "IA", status="germline")],
        "P2": [therapy("P2", "BRCA1", "p.E23Vfs*17", "Olaparib", "IA", status="germline")],
        "P3": [therapy("P3", "EGFR", "p.L858R", "Osimertinib", "IA")],
        "P4": [], "P5": [], "P6": [],
    }
    return {p: pd.DataFrame(r, columns=THERAPIES_SCHEMA.names) for p, r in rows.items()}


def write_cohort(directory: Path) -> dict[str, Path | list[Path]]:
    """The hand-built cohort as the workflow's files; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"samples": directory / "samples.tsv", "clinical": directory / "clinical.tsv",
             "drivers": directory / "drivers.parquet", "radiomics": directory / "radiomics.parquet",
             "deep": directory / "deep_features.parquet"}
    paths["samples"].write_text(SAMPLES_TSV)
    paths["clinical"].write_text(CLINICAL_TSV)
    write_parquet(drivers_table(), paths["drivers"], DRIVERS_SCHEMA)
    write_parquet(radiomics_table(), paths["radiomics"], radiomics_schema(RADIOMIC_NAMES),
                  {"radiomics_params_sha256": "abc123"})
    write_parquet(deep_table(), paths["deep"], deep_features_schema(2))
    tmb = {"P1": tmb_row("P1", 12.0, True), "P3": tmb_row("P3", None, False),
           "P4": tmb_row("P4", None, False), "P2": tmb_row("P2", 11.0, True)}
    paths["tmb"] = []
    for patient, row in tmb.items():
        path = directory / f"tmb_{patient}.parquet"
        write_parquet(pd.DataFrame([row]), path, TMB_SCHEMA)
        paths["tmb"].append(path)
    paths["therapies"] = []
    for patient, table in therapies_tables().items():
        path = directory / f"therapies_{patient}.parquet"
        write_parquet(table, path, THERAPIES_SCHEMA)
        paths["therapies"].append(path)
    return paths


def build_from(paths: dict, **options) -> pd.DataFrame:
    return build_patient_features(paths["samples"], drivers=paths["drivers"],
                                  tmb_tables=paths["tmb"], radiomics=paths["radiomics"],
                                  deep=paths["deep"], clinical=paths["clinical"], **options)


@pytest.fixture
def cohort(tmp_path) -> dict:
    return write_cohort(tmp_path / "cohort")


@pytest.fixture
def table(cohort) -> pd.DataFrame:
    return build_from(cohort).set_index("patient", drop=False)


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None whatever the dtype (Parquet strings come back as pandas str)."""
    return df.astype(object).where(df.notna(), None)


def run_cli(monkeypatch, argv: list[str]) -> int:
    """The real `oncoweave` entry point, with this stage's commands listed."""
    missing = tuple(name for name in COMMANDS if name not in cli.COMMAND_MODULES)
    monkeypatch.setattr(cli, "COMMAND_MODULES", cli.COMMAND_MODULES + missing)
    return cli.main(argv)


# ---------------------------------------------------------------------------------------------
# Genomic block.

def test_one_row_per_patient_in_sheet_order(table):
    assert list(table["patient"]) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert list(table.columns[:8]) == ["patient", "os_months", "os_event", "response",
                                       "cancer_type", "treatment", "image_lesion",
                                       "image_modality"]


def test_driver_flags_and_scores_per_gene(table):
    assert table.at["P1", "gen_TP53_driver"] == 1.0
    assert table.at["P1", "gen_TP53_max_driver_score"] == pytest.approx(0.95)
    assert table.at["P3", "gen_EGFR_driver"] == 1.0 and table.at["P3", "gen_TP53_driver"] == 0.0
    # Below the threshold: no driver, but the score is kept; the filtered 0.99 call is ignored.
    assert table.at["P5", "gen_TP53_driver"] == 0.0
    assert table.at["P5", "gen_TP53_max_driver_score"] == pytest.approx(0.3)
    # An unscored (intronic) call and a gene without a call are true zeros, not missing.
    assert table.at["P5", "gen_BRCA2_max_driver_score"] == 0.0
    assert table.loc["P6", [c for c in table.columns if c.startswith("gen_") and
                            c != "gen_tmb"]].eq(0.0).all()


def test_threshold_is_a_parameter(cohort):
    strict = build_from(cohort, driver_threshold=0.94).set_index("patient")
    assert strict.at["P1", "gen_TP53_driver"] == 1.0 and strict.at["P2", "gen_TP53_driver"] == 0.0
    assert strict.at["P1", "gen_BRCA1_germline_pathogenic"] == 0.0  # 0.9 < 0.94


def test_germline_brca_is_flagged_not_counted_as_tumour_driver(table):
    assert table.at["P1", "gen_BRCA1_germline_pathogenic"] == 1.0
    assert table.at["P1", "gen_BRCA1_driver"] == 0.0
    assert table.at["P1", "gen_BRCA1_max_driver_score"] == 0.0  # germline calls are not in it
    assert table.at["P3", "gen_BRCA2_germline_pathogenic"] == 0.0  # LOH call, score 0.2
    assert "gen_TP53_germline_pathogenic" not in table.columns  # BRCA1/2 only


def test_loh(table):
    assert table.at["P3", "gen_BRCA2_loh"] == 1.0
    assert table.at["P3", "gen_EGFR_loh"] == 0.0 and table.at["P1", "gen_BRCA1_loh"] == 0.0


def test_patient_without_normal_has_unknown_germline_and_loh(table):
    germline = [c for c in table.columns if c.endswith(("_germline_pathogenic", "_loh"))]
    assert len(germline) == 6
    assert table.loc["P4", germline].isna().all()
    assert table.loc["P3", germline].notna().all()
    assert table.at["P4", "gen_TP53_driver"] == 1.0  # tumour-only calls still count


def test_tmb_reportable_or_missing(table):
    assert table.at["P1", "gen_tmb"] == 12.0
    assert math.isnan(table.at["P3", "gen_tmb"])  # not reportable
    assert math.isnan(table.at["P6", "gen_tmb"])  # no TMB table


def test_toy_variants_with_scores(tmp_path):
    """The real toy table: planted somatic drivers scored high, the germline pool low."""
    variants, _ = read_parquet(TOY_VARIANTS)
    variants["driver_score"] = np.where(variants["status"] == "germline", 0.05, 0.9)
    for name in ("top_features", "driver_reasons", "cancer_cell_fraction", "clonality"):
        variants[name] = None
    samples = pd.DataFrame(
        [{"patient": f"P0{i}", "type": "tumour"} for i in range(1, 9)]
        + [{"patient": f"P0{i}", "type": "normal"} for i in range(1, 8)])
    table = build_patient_features(samples, drivers=variants[DRIVERS_SCHEMA.names])
    table = table.set_index("patient")
    drivers = {gene: set(table.index[table[f"gen_{gene}_driver"] == 1.0])
               for gene in ("TP53", "EGFR", "BRCA1", "BRCA2")}
    assert drivers == {"TP53": {"P01", "P03", "P05"}, "EGFR": {"P02", "P04", "P08"},
                       "BRCA1": {"P06"}, "BRCA2": {"P07"}}
    assert table.loc["P08", ["gen_BRCA1_germline_pathogenic", "gen_TP53_loh"]].isna().all()
    assert table["gen_BRCA1_germline_pathogenic"].drop("P08").eq(0.0).all()
    assert [c for c in table.columns if c.startswith(("rad_", "deep_", "clin_"))] == []


# ---------------------------------------------------------------------------------------------
# Imaging blocks.

def test_largest_lesion_feeds_radiomics_and_deep(table):
    assert table.at["P1", "image_lesion"] == "L1" and table.at["P1", "image_modality"] == "CT"
    assert table.at["P1", "rad_original_shape_VoxelVolume"] == 5000.0
    assert table.at["P1", "rad_original_glcm_Contrast"] == 12.0
    assert table.at["P1", "deep_000"] == 0.5  # the deep features of the same lesion


def test_mean_lesion_aggregation(cohort):
    table = build_from(cohort, lesion_aggregation="mean").set_index("patient")
    assert table.at["P1", "rad_original_shape_VoxelVolume"] == pytest.approx(2550.0)
    assert table.at["P1", "deep_001"] == pytest.approx(0.4)
    assert table.at["P1", "image_lesion"] == "L1;L2"


def test_patient_without_image_has_nan_imaging(table):
    imaging = [c for c in table.columns if c.startswith(("rad_", "deep_"))]
    assert len(imaging) == 6
    assert table.loc["P4", imaging].isna().all()
    assert table.at["P4", "image_lesion"] is None and table.at["P4", "image_modality"] is None
    assert table.loc["P2", imaging].notna().all()


def test_mean_over_modalities_is_refused(cohort, tmp_path):
    radiomics = radiomics_table()
    radiomics.loc[1, "modality"] = "MR"
    path = tmp_path / "mixed.parquet"
    write_parquet(radiomics, path, radiomics_schema(RADIOMIC_NAMES))
    with pytest.raises(InputError, match=r"mixed.parquet: patient P1: lesions L1, L2 are CT "
                                         r"and MR images"):
        build_patient_features(cohort["samples"], radiomics=path, lesion_aggregation="mean")
    largest = build_patient_features(cohort["samples"], radiomics=path).set_index("patient")
    assert largest.at["P1", "image_modality"] == "CT"


def test_deep_features_without_radiomics_average_the_lesions(cohort):
    table = build_patient_features(cohort["samples"], deep=cohort["deep"]).set_index("patient")
    assert table.at["P1", "deep_000"] == pytest.approx(-0.25)  # no volume to pick the largest
    assert table.at["P1", "image_lesion"] == "L1;L2" and table.at["P3", "image_lesion"] == "L1"
    assert table.loc["P4", ["deep_000", "deep_001"]].isna().all()
    assert list(modality_map(table.columns)) == ["deep"]


def test_cnn_probability_is_the_radiomics_lesion_s_and_absent_when_not_fitted(cohort, tmp_path):
    rows = [("P1", "L1", 0.9), ("P1", "L2", 0.1), ("P2", "L1", 0.4), ("P3", "L1", 0.2)]
    predictions = pd.DataFrame([{"patient": p, "lesion": le, "modality": "CT", "label": 1,
                                 "fold": 0, "probability": q} for p, le, q in rows])
    path = tmp_path / "lesion_classifier_predictions.parquet"
    write_parquet(predictions, path, CNN_PREDICTIONS_SCHEMA)
    table = build_patient_features(cohort["samples"], radiomics=cohort["radiomics"],
                                   cnn=path).set_index("patient")
    assert table.at["P1", "img_cnn_prob"] == 0.9  # L1, the larger lesion radiomics chose
    assert table.at["P2", "img_cnn_prob"] == 0.4 and np.isnan(table.at["P5", "img_cnn_prob"])
    assert modality_map(table.columns)["cnn"] == ["img_cnn_prob"]
    write_parquet(predictions.iloc[0:0], path, CNN_PREDICTIONS_SCHEMA, {"not_fitted": "one class"})
    empty = build_patient_features(cohort["samples"], radiomics=cohort["radiomics"], cnn=path)
    assert "cnn" not in modality_map(empty.columns)


def test_copy_number_columns_and_loh_from_either_source(cohort):
    from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA

    def call(patient, gene, kind, biallelic=False):
        return {**dict.fromkeys(CN_DRIVERS_SCHEMA.names), "patient": patient, "sample": patient,
                "gene": gene, "call": kind, "source": "gistic", "biallelic": biallelic,
                "driver": biallelic, "origin": "somatic", "reason": "test"}

    calls = pd.DataFrame([call("P1", "EGFR", "amplification"),
                          call("P2", "BRCA2", "deep_deletion", True),
                          call("P3", "TP53", "loss"), call("P1", "TP53", "neutral")])
    plain = build_from(cohort).set_index("patient")
    table = build_from(cohort, copy_number=calls).set_index("patient")
    assert table.at["P1", "gen_EGFR_cn"] == 2 and table.at["P2", "gen_BRCA2_cn"] == -2
    assert table.at["P2", "gen_BRCA2_biallelic"] == 1 and table.at["P3", "gen_TP53_biallelic"] == 0
    assert np.isnan(table.at["P4", "gen_EGFR_cn"])  # no copy number for the patient
    # A copy-number loss is LOH whatever the point calls say; else the point calls' value stays.
    assert table.at["P3", "gen_TP53_loh"] == 1 and table.at["P2", "gen_BRCA2_loh"] == 1
    assert table.at["P1", "gen_TP53_loh"] == plain.at["P1", "gen_TP53_loh"]
    assert list(table.columns).count("gen_TP53_loh") == 1
    assert set(modality_map(table.columns)["genomic"]) >= {"gen_EGFR_cn", "gen_BRCA1_biallelic"}
    with pytest.raises(InputError, match="P9"):
        build_from(cohort, copy_number=pd.DataFrame([call("P9", "EGFR", "gain")]))


def test_radiomic_subset(cohort):
    table = build_from(cohort, radiomic_features=["original_shape_VoxelVolume"])
    assert modality_map(table.columns)["radiomics"] == ["rad_original_shape_VoxelVolume"]


# ---------------------------------------------------------------------------------------------
# Clinical block and outcomes.

def test_clinical_encodings(table):
    assert table.at["P1", "clin_age"] == 50.0 and table.at["P3", "clin_age"] == 70.0
    assert list(table["clin_sex_female"].iloc[:4]) == [1.0, 1.0, 0.0, 0.0]
    assert list(table["clin_stage"].iloc[:4]) == [3.0, 3.0, 4.0, 4.0]  # IIIA, Stage III, IV, IVB
    assert table.at["P1", "clin_cancer_type_breast_cancer"] == 1.0
    assert table.at["P1", "clin_cancer_type_lung_adenocarcinoma"] == 0.0
    assert table.at["P3", "cancer_type"] == "Lung Adenocarcinoma"
    assert table.at["P1", "treatment"] == "olaparib"
    assert table.at["P3", "clin_ecog"] == 2.0  # an extra numeric column
    assert "clin_site" not in table.columns  # an extra text column is left out
    clinical = [c for c in table.columns if c.startswith("clin_")]
    assert table.loc["P5", clinical].isna().all()  # no clinical row: unknown, not 0
    assert table.loc["P6", clinical].isna().all()  # empty cells
    assert table.at["P5", "cancer_type"] is None


def test_outcomes_parsed_with_empty_cells_null(table):
    assert str(table["os_event"].dtype) == "Int64" and str(table["response"].dtype) == "Int64"
    assert table["os_months"].tolist()[:3] == [30.5, 28.0, 12.0]
    assert table["os_event"].tolist() == [1, 0, 1, pd.NA, pd.NA, 0]
    assert table["response"].tolist() == [1, 1, 0, pd.NA, pd.NA, 0]  # PR, CR, PD, -, -, SD
    assert math.isnan(table.at["P4", "os_months"])


@pytest.mark.parametrize("cell, expected", [("IIIA", 3.0), ("stage IV", 4.0), ("ii", 2.0),
                                            ("0", 0.0), ("2", 2.0), ("IC2", 1.0),
                                            ("V", None), ("limited", None)])
def test_parse_stage(cell, expected):
    assert parse_stage(cell) == expected


@pytest.mark.parametrize("column, cell, message", [
    ("stage", "early", r"row 2 \(line 3\): column 'stage': 'early' is not a stage"),
    ("response", "better", r"row 2 \(line 3\): column 'response': 'better' is not one of 1, 0, "
                           r"CR, PR"),
    ("sex", "X", r"row 2 \(line 3\): column 'sex': 'X' is not one of F/female"),
])
def test_bad_clinical_cell_names_file_row_column(cohort, column, cell, message):
    sheet = pd.read_csv(cohort["clinical"], sep="\t", dtype=str, keep_default_na=False)
    sheet.loc[1, column] = cell
    sheet.to_csv(cohort["clinical"], sep="\t", index=False)
    with pytest.raises(InputError, match=r"clinical.tsv: " + message):
        build_patient_features(cohort["samples"], clinical=cohort["clinical"])


# ---------------------------------------------------------------------------------------------
# Modalities, schema, file.

def test_modality_map_by_prefix(table):
    groups = modality_map(table.columns)
    assert list(groups) == ["genomic", "radiomics", "deep", "clinical"]
    assert len(groups["genomic"]) == 15 and groups["genomic"][-1] == "gen_tmb"
    assert groups["radiomics"][0] == "rad_original_shape_VoxelVolume"
    assert groups["deep"] == ["deep_000", "deep_001"]
    assert groups["clinical"][:3] == ["clin_age", "clin_sex_female", "clin_stage"]


def test_absent_input_gives_no_columns(cohort):
    table = build_patient_features(cohort["samples"], drivers=cohort["drivers"])
    assert list(modality_map(table.columns)) == ["genomic"]
    assert "gen_tmb" not in table.columns  # no TMB tables given
    assert table["os_months"].isna().all() and table["response"].isna().all()


def test_schema_and_metadata_round_trip(table, tmp_path):
    table = table.reset_index(drop=True)
    path = tmp_path / "features.parquet"
    write_patient_features(table, path, {"driver_threshold": "0.5"})
    schema = pq.read_schema(path)
    assert str(schema.field("os_event").type) == "int64" and schema.field("os_event").nullable
    assert not schema.field("patient").nullable
    assert str(schema.field("gen_TP53_driver").type) == "double"
    description = schema.field("gen_BRCA1_germline_pathogenic").metadata[b"description"].decode()
    assert "null without a matched normal" in description
    back, groups, metadata = read_patient_features(path)
    assert groups == modality_map(table.columns)
    assert json.loads(metadata["modality_map"]) == groups
    assert metadata["driver_threshold"] == "0.5"
    pd.testing.assert_frame_equal(comparable(back), comparable(table))
    assert back["os_event"].tolist() == table["os_event"].tolist()


def test_schema_refuses_unknown_columns():
    with pytest.raises(InputError, match="column 'score' is neither"):
        patient_features_schema(["patient", "os_months", "os_event", "response", "score"])
    with pytest.raises(InputError, match="lacks column"):
        patient_features_schema(["patient", "gen_tmb"])


# ---------------------------------------------------------------------------------------------
# Bad input.

def test_unknown_patient_in_a_table_names_the_file(cohort, tmp_path):
    drivers = pd.concat([drivers_table(), pd.DataFrame([call("P9", "TP53", "p.R175H")])])
    path = tmp_path / "stray_drivers.parquet"
    write_parquet(drivers, path, DRIVERS_SCHEMA)
    with pytest.raises(InputError, match=r"stray_drivers.parquet: patient P9 is not in the "
                                         "sample sheet"):
        build_patient_features(cohort["samples"], drivers=path)
    clinical = tmp_path / "clinical.tsv"
    clinical.write_text(CLINICAL_TSV + "P7\t40\tF\tI\tBreast Cancer\t\t\t\t\t\t\n")
    with pytest.raises(InputError, match=r"clinical.tsv: patient P7 is not in the sample sheet"):
        build_patient_features(cohort["samples"], clinical=clinical)


def test_duplicate_patient_rows_are_refused(cohort, tmp_path):
    extra = tmp_path / "tmb_again.parquet"
    write_parquet(pd.DataFrame([tmb_row("P1", 3.0, True)]), extra, TMB_SCHEMA)
    with pytest.raises(InputError, match=r"tmb_again.parquet: patient P1 has a TMB in more than "
                                         r"one file \(.*tmb_P1.parquet"):
        build_patient_features(cohort["samples"], tmb_tables=[*cohort["tmb"], extra])
    repeated = pd.concat([radiomics_table(), radiomics_table().iloc[[0]]])
    with pytest.raises(InputError, match=r"the radiomics table: patient P1 lesion L1 has more "
                                         "than one row"):
        build_patient_features(cohort["samples"], radiomics=repeated)
    clinical = tmp_path / "clinical.tsv"
    clinical.write_text(CLINICAL_TSV + "P1\t40\tF\tI\tBreast Cancer\t\t\t\t\t\t\n")
    with pytest.raises(InputError, match=r"clinical.tsv: row 6 \(line 7\): column 'patient': "
                                         "'P1' repeats row 1"):
        build_patient_features(cohort["samples"], clinical=clinical)


def test_wrong_table_is_refused(cohort):
    with pytest.raises(InputError, match=r"radiomics.parquet: columns/types differ from the "
                                         "expected schema"):
        build_patient_features(cohort["samples"], drivers=cohort["radiomics"])
    with pytest.raises(InputError, match="lesion_aggregation must be one of largest, mean"):
        build_patient_features(cohort["samples"], lesion_aggregation="median")


# ---------------------------------------------------------------------------------------------
# Command line.

def test_cli_round_trip(cohort, tmp_path, monkeypatch, capsys):
    output = tmp_path / "out" / "patient_features.parquet"
    rc = run_cli(monkeypatch, [
        "build-patient-features", "--samples", str(cohort["samples"]),
        "--drivers", str(cohort["drivers"]), "--tmb", *map(str, cohort["tmb"]),
        "--radiomics", str(cohort["radiomics"]), "--deep", str(cohort["deep"]),
        "--clinical", str(cohort["clinical"]), "--output", str(output)])
    assert rc == 0
    assert "6 patients; genomic 15 columns, radiomics 4 columns, deep 2 columns" in \
        capsys.readouterr().out
    table, groups, metadata = read_patient_features(output)
    pd.testing.assert_frame_equal(comparable(table), comparable(build_from(cohort)))
    assert metadata["radiomics_params_sha256"] == "abc123"
    assert metadata["lesion_aggregation"] == "largest" and metadata["input_tmb_files"] == "4"
    assert set(groups) == {"genomic", "radiomics", "deep", "clinical"}


def test_cli_bad_input_is_one_line_and_no_output(cohort, tmp_path, monkeypatch, capsys):
    output = tmp_path / "patient_features.parquet"
    samples = tmp_path / "two.tsv"
    samples.write_text("patient\tsample\ttype\nP1\tP1-T\ttumour\nP2\tP2-T\ttumour\n")
    rc = run_cli(monkeypatch, ["build-patient-features", "--samples", str(samples),
                               "--drivers", str(cohort["drivers"]), "--output", str(output)])
    assert rc == 2 and not output.exists()
    error = capsys.readouterr().err.strip()
    assert error.startswith("oncoweave build-patient-features: error: ")
    assert "drivers.parquet: patient P3 is not in the sample sheet" in error
