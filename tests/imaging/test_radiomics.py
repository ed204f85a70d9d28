"""Radiomics: pyradiomics' own baselines, the IBSI digital phantom, tables, CLIs, outcome model."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from helpers import SHARED_DATA, TEST_DATA
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.imaging.defaults import (
    DEFAULT_PARAMS,
    IBSI_FEATURE_MAP,
    IBSI_PARAMS,
    IBSI_PHANTOM_DIR,
    IMAGING_RESOURCES,
    TESTCASE_DIR,
)
from oncoweave.imaging.radiomics import (
    extract_features,
    feature_columns,
    merge_radiomics,
    radiomics_schema,
    radiomics_table,
    read_case_sheet,
    read_radiomics,
    write_radiomics,
)
from oncoweave.imaging.radiomics_checks import (
    benchmark_radiomics,
    bundled_testcases,
    ibsi_agrees,
    ibsi_check,
)
from oncoweave.imaging.radiomics_model import (
    bootstrap_aurocs,
    cross_validated_auroc,
    read_outcome_labels,
)

BASELINE_DIR = TEST_DATA / "pyradiomics_baseline"
FEATURE_CLASSES = ("firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape")
PHANTOM = IBSI_PHANTOM_DIR / "phantom.nii.gz"
PHANTOM_MASK = IBSI_PHANTOM_DIR / "mask.nii.gz"
STS_DIR = SHARED_DATA / "sts_pet_lung_metastasis"
PET_PARAMS = DEFAULT_PARAMS.with_name("radiomics_pet.yaml")

# Measured with pyradiomics 3.0.1 and config/radiomics_ibsi.yaml (resources/imaging/IBSI.md).
IBSI_MAPPED = 108
IBSI_AGREEING = 105
IBSI_DISAGREEING = {"morph_pca_min_axis", "morph_pca_least_axis", "stat_kurt"}


def image(case: str) -> Path:
    return TESTCASE_DIR / f"{case}_image.nrrd"


def mask(case: str) -> Path:
    return TESTCASE_DIR / f"{case}_label.nrrd"


@pytest.fixture(scope="module")
def baselines() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(BASELINE_DIR / f"baseline_{name}.csv", index_col=0)
            for name in FEATURE_CLASSES}


def baseline_params(baselines, case: str, path: Path) -> Path:
    """A params file with the settings and image types the baseline column was made with."""
    settings, image_types = ([ast.literal_eval(table.at[f"diagnostics_Configuration_{row}", case])
                              for table in baselines.values()]
                             for row in ("Settings", "EnabledImageTypes"))
    assert all(each == settings[0] for each in settings)  # one configuration per case
    assert all(each == image_types[0] for each in image_types)
    params = {"setting": settings[0], "imageType": image_types[0],
              "featureClass": {name: None for name in FEATURE_CLASSES}}
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize("case", ["brain1", "breast1", "lung1"])
def test_pyradiomics_baselines_are_reproduced(baselines, case, tmp_path):
    params = baseline_params(baselines, case, tmp_path / "params.yaml")
    features = extract_features(image(case), mask(case), params)
    expected = {name: float(value) for table in baselines.values()
                for name, value in table[case].items() if name.startswith("original_")}
    assert len(expected) == 107  # all 7 classes' features
    mismatches = {name: (features.get(name), value) for name, value in expected.items()
                  if not math.isclose(features.get(name, math.nan), value, rel_tol=1e-3,
                                      abs_tol=1e-12)}
    assert mismatches == {}


def test_features_are_named_as_pyradiomics_names_them():
    features = extract_features(image("breast1"), mask("breast1"), DEFAULT_PARAMS)
    assert len(features) == 14 + 3 * 93  # shape, then 93 per image type (original, LoG 1, LoG 3)
    assert {"original_shape_VoxelVolume", "original_firstorder_Mean",
            "log-sigma-1-0-mm-3D_glcm_Contrast", "log-sigma-3-0-mm-3D_ngtdm_Busyness"} <= set(
        features)
    assert not any(name.startswith("diagnostics_") for name in features)
    assert all(type(value) is float for value in features.values())


def write_like(reference: Path, array: np.ndarray, path: Path, spacing=None) -> Path:
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(sitk.ReadImage(str(reference)))
    if spacing is not None:
        out.SetSpacing(spacing)
    sitk.WriteImage(out, str(path))
    return path


def test_bad_inputs_name_the_files(tmp_path):
    phantom_mask = sitk.GetArrayFromImage(sitk.ReadImage(str(PHANTOM_MASK)))
    with pytest.raises(InputError, match=r"missing\.nii\.gz: image file not found"):
        extract_features(tmp_path / "missing.nii.gz", PHANTOM_MASK, IBSI_PARAMS)
    text = tmp_path / "notes.nii.gz"
    text.write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.nii\.gz: cannot read the mask"):
        extract_features(PHANTOM, text, IBSI_PARAMS)
    with pytest.raises(InputError, match=r"is a folder \(a DICOM series\?\)"):
        extract_features(tmp_path, PHANTOM_MASK, IBSI_PARAMS)
    empty = write_like(PHANTOM_MASK, np.zeros_like(phantom_mask), tmp_path / "empty.nii.gz")
    with pytest.raises(InputError, match=r"empty\.nii\.gz: the mask is empty"):
        extract_features(PHANTOM, empty, IBSI_PARAMS)
    with pytest.raises(InputError, match=r"mask\.nii\.gz: label 2 is absent from the mask "
                                         r"\(labels present: 1\)"):
        extract_features(PHANTOM, PHANTOM_MASK, IBSI_PARAMS, label=2)
    shifted = write_like(PHANTOM_MASK, phantom_mask, tmp_path / "other_grid.nii.gz",
                         spacing=(1.0, 1.0, 1.0))
    with pytest.raises(InputError, match=r"pyradiomics refused image .*phantom\.nii\.gz with mask "
                                         r".*other_grid\.nii\.gz: Image/Mask geometry mismatch"):
        extract_features(PHANTOM, shifted, IBSI_PARAMS)
    bad_params = tmp_path / "bad.yaml"
    bad_params.write_text("setting:\n  binWidht: 25\n")
    with pytest.raises(InputError, match=r"bad\.yaml: not a valid pyradiomics params file "
                                         r"\(Key 'binWidht' was not defined"):
        extract_features(PHANTOM, PHANTOM_MASK, bad_params)


def phantom_cases(*patients: str) -> list[dict]:
    return [{"patient": patient, "lesion": "L1", "modality": "CT", "image": str(PHANTOM),
             "mask": str(PHANTOM_MASK)} for patient in patients]


def test_table_schema_provenance_and_merge(tmp_path):
    table = radiomics_table(phantom_cases("P1", "P2"), IBSI_PARAMS)
    features = feature_columns(table)
    assert list(table.columns[:4]) == ["patient", "lesion", "modality", "mask_source"]
    assert len(features) == 107 and list(table["mask_source"]) == ["given", "given"]
    schema = radiomics_schema(features)
    assert schema.names == list(table.columns)
    assert schema.field("original_glcm_Contrast").metadata[b"description"] == (
        b"glcm Contrast: grey-level co-occurrence matrix (GLCM) texture, on the unfiltered image")

    write_radiomics(table.iloc[:1], tmp_path / "P1.parquet", IBSI_PARAMS)
    write_radiomics(table.iloc[1:], tmp_path / "P2.parquet", IBSI_PARAMS)
    _, metadata = read_radiomics(tmp_path / "P1.parquet")
    sha256 = hashlib.sha256(IBSI_PARAMS.read_bytes()).hexdigest()
    assert metadata["radiomics_params_sha256"] == sha256
    assert metadata["radiomics_params_yaml"] == IBSI_PARAMS.read_text()
    assert metadata["pyradiomics_version"] == "v3.0.1"
    assert {"simpleitk_version", "numpy_version"} <= set(metadata)

    merged = merge_radiomics([tmp_path / "P1.parquet", tmp_path / "P2.parquet"],
                             tmp_path / "cohort.parquet")
    assert list(merged["patient"]) == ["P1", "P2"]
    cohort, _ = read_parquet(tmp_path / "cohort.parquet", expected_schema=schema)
    pd.testing.assert_frame_equal(cohort, table)

    with pytest.raises(InputError, match=r"patient P1 lesion L1 is in more than one table"):
        merge_radiomics([tmp_path / "P1.parquet", tmp_path / "P1.parquet"], tmp_path / "x.parquet")
    firstorder_only = tmp_path / "firstorder.yaml"
    firstorder_only.write_text(IBSI_PARAMS.read_text().split("featureClass:")[0]
                               + "featureClass:\n  firstorder:\n")
    write_radiomics(radiomics_table(phantom_cases("P3"), firstorder_only),
                    tmp_path / "P3.parquet", firstorder_only)
    with pytest.raises(InputError, match=r"P3\.parquet: feature columns differ from .*P1\.parquet"
                                         r"'s \(lacks 89"):
        merge_radiomics([tmp_path / "P1.parquet", tmp_path / "P3.parquet"], tmp_path / "x.parquet")
    commented = tmp_path / "commented.yaml"
    commented.write_text("# binWidth changed by hand\n" + IBSI_PARAMS.read_text())
    write_radiomics(radiomics_table(phantom_cases("P4"), commented), tmp_path / "P4.parquet",
                    commented)
    with pytest.raises(InputError, match=r"P4\.parquet: extracted with other pyradiomics params"):
        merge_radiomics([tmp_path / "P1.parquet", tmp_path / "P4.parquet"], tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_radiomics_cli_on_breast1(baselines, tmp_path, capsys):
    out = tmp_path / "breast1.parquet"
    assert main(["radiomics", "--image", str(image("breast1")), "--mask", str(mask("breast1")),
                 "--output", str(out), "--patient", "B1", "--modality", "MR"]) == 0
    df, metadata = read_radiomics(out)
    assert len(df) == 1 and df.loc[0, "patient"] == "B1" and df.loc[0, "lesion"] == "L1"
    assert metadata["radiomics_params_file"] == "radiomics.yaml"  # the bundled default
    read_parquet(out, expected_schema=radiomics_schema(list(df.columns[4:])))
    assert "293 features of patient B1 lesion L1" in capsys.readouterr().out
    # With the baseline's settings (no resampling) the volume is the baseline's exactly.
    params = baseline_params(baselines, "breast1", tmp_path / "params.yaml")
    assert main(["radiomics", "--image", str(image("breast1")), "--mask", str(mask("breast1")),
                 "--output", str(out), "--params", str(params)]) == 0
    df, _ = read_radiomics(out)
    assert df.loc[0, "original_shape_VoxelVolume"] == pytest.approx(
        float(baselines["shape"].at["original_shape_VoxelVolume", "breast1"]), rel=1e-9)
    assert main(["radiomics", "--image", str(image("breast1")), "--mask", str(mask("breast1")),
                 "--output", str(out), "--label", "3"]) == 2
    assert "label 3 is absent from the mask" in capsys.readouterr().err


def test_ibsi_digital_phantom():
    table = ibsi_check().set_index("tag")
    assert len(table) == IBSI_MAPPED
    assert table["agrees"].sum() >= IBSI_AGREEING
    for tag in ("morph_volume", "morph_area_mesh", "stat_mean", "stat_energy", "ih_entropy",
                "cm_joint_max_3D_avg", "rlm_sre_3D_avg", "szm_sze_3D", "ngt_coarseness_3D",
                "ngl_lde_3D"):
        assert table.at[tag, "agrees"], tag
    assert set(table.index[~table["agrees"]]) == IBSI_DISAGREEING
    # The reasons IBSI.md gives: population vs sample covariance, kurtosis vs excess kurtosis.
    voxels = int(sitk.GetArrayFromImage(sitk.ReadImage(str(PHANTOM_MASK))).sum())
    for tag in ("morph_pca_min_axis", "morph_pca_least_axis"):
        corrected = table.at[tag, "value"] * math.sqrt(voxels / (voxels - 1))
        assert ibsi_agrees(corrected, table.at[tag, "reference"], table.at[tag, "tolerance"])
    assert ibsi_agrees(table.at["stat_kurt", "value"] - 3, table.at["stat_kurt", "reference"], 0)
    documented = (IMAGING_RESOURCES / "IBSI.md").read_text()
    for tag in IBSI_DISAGREEING:
        assert f"`{tag}`" in documented
    assert f"{IBSI_AGREEING} of {IBSI_MAPPED}" in documented


def test_ibsi_merged_aggregation_agrees_too(tmp_path):
    # IBSI.md: with weightingNorm no_weighting pyradiomics merges the 13 directions' matrices
    # first, which is IBSI's "3D, merged" for GLCM and GLRLM.
    params = tmp_path / "merged.yaml"
    text = IBSI_PARAMS.read_text()
    assert "  weightingNorm:\n" in text
    params.write_text(text.replace("  weightingNorm:\n", "  weightingNorm: no_weighting\n"))
    mapping = pd.read_csv(IBSI_FEATURE_MAP, sep="\t", comment="#")
    averaged = mapping[mapping["ibsi_tag"].str.endswith("_3D_avg")]
    merged_map = tmp_path / "map.tsv"
    averaged.assign(ibsi_tag=averaged["ibsi_tag"].str.replace("_3D_avg", "_3D_comb")).to_csv(
        merged_map, sep="\t", index=False)
    table = ibsi_check(params=params, feature_map=merged_map)
    assert len(table) == 41 and table["agrees"].all()
    assert "**41 of 41**" in (IMAGING_RESOURCES / "IBSI.md").read_text()


def test_ibsi_agreement_rule():
    assert ibsi_agrees(559.9, 556, 4) and not ibsi_agrees(560.1, 556, 4)
    assert ibsi_agrees(2.1486, 2.15, 0) and not ibsi_agrees(2.144, 2.15, 0)
    assert ibsi_agrees(102.45, 102, 0) and not ibsi_agrees(float("nan"), 1.0, 0)


def test_ibsi_check_cli(capsys):
    assert main(["ibsi-check"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"morph_volume\s+original_shape_MeshVolume\s+556.3\s+556\s+4\s+True", out)
    assert f"{IBSI_AGREEING} of {IBSI_MAPPED} mapped IBSI features agree" in out


def synthetic_cohort(n: int = 60, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    features = pd.DataFrame(rng.normal(size=(n, 15)), columns=[f"noise_{i}" for i in range(15)],
                            index=[f"P{i:02d}" for i in range(n)])
    features["signal"] = y * 1.5 + rng.normal(size=n)
    features["original_firstorder_Maximum"] = rng.normal(size=n)  # an uninformative baseline
    return features, pd.Series(y, index=features.index)


def test_cross_validated_auroc_is_out_of_fold_and_seeded():
    features, labels = synthetic_cohort()
    result = cross_validated_auroc(features, labels, repeats=3, k_best=3, n_bootstrap=200)
    assert result["n_patients"] == 60 and result["n_positive"] == 30
    assert result["model"]["auroc"] > 0.75 and "signal" in result["model"][
        "most_selected_features"]
    low, high = result["model"]["auroc_ci95"]
    assert low < result["model"]["auroc"] < high
    assert abs(result["baseline"]["auroc"] - 0.5) < 0.2
    assert result == cross_validated_auroc(features, labels, repeats=3, k_best=3,
                                           n_bootstrap=200)
    # Pure noise: no selection leak, so the out-of-fold AUROC stays near chance.
    noise = cross_validated_auroc(features.drop(columns="signal"), labels, repeats=3, k_best=3,
                                  n_bootstrap=50)
    assert abs(noise["model"]["auroc"] - 0.5) < 0.15


def test_bootstrap_aurocs_equal_roc_auc_score():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    scores = np.round(rng.normal(size=40), 1)  # with ties
    samples = np.array([rng.integers(0, 40, 40) for _ in range(20)])
    samples = samples[[0 < y[s].sum() < 40 for s in samples]]
    assert bootstrap_aurocs(y, scores, samples) == pytest.approx(
        [roc_auc_score(y[s], scores[s]) for s in samples])


def test_bad_labels_and_sheets(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("patient_id,met\nP1,0\nP2,yes\n")
    with pytest.raises(InputError, match=r"labels\.csv, row 2, column 'met': label 'yes' is not "
                                         r"0 or 1"):
        read_outcome_labels(labels, "patient_id", "met")
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text("patient\timage\tmask\n")
    with pytest.raises(InputError, match=r"sheet\.tsv: missing column\(s\) modality"):
        read_case_sheet(sheet)
    sheet.write_text(f"patient\timage\tmask\tmodality\nP1\t{PHANTOM}\tnowhere.nii.gz\tCT\n")
    with pytest.raises(InputError, match=r"row 1 \(line 2\): column 'mask': file not found"):
        read_case_sheet(sheet)


def test_benchmark_gives_seconds_per_case():
    result = benchmark_radiomics(bundled_testcases(["breast1"]), DEFAULT_PARAMS, repeats=1)
    [row] = result["cases"]
    assert row["case"] == "breast1" and row["n_features"] == 293
    assert row["ours_s"] > 0 and row["direct_s"] > 0 and result["ours_s_per_case"] > 0


@pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"{STS_DIR} (STS FDG-PET cohort) is not here")
def test_sts_pet_lung_metastasis(tmp_path, capsys):
    rows = [f"{d.name}\t{d}/PET_image.nii.gz\t{d}/PET_mask.nii.gz\tPT"
            for d in sorted(STS_DIR.glob("STS_*"))]
    sheet = tmp_path / "sts.tsv"
    sheet.write_text("patient\timage\tmask\tmodality\n" + "\n".join(rows) + "\n")
    features = tmp_path / "sts.parquet"
    assert main(["radiomics-batch", "--sheet", str(sheet), "--output", str(features),
                 "--params", str(PET_PARAMS)]) == 0
    assert main(["radiomics-cv", "--features", str(features), "--labels",
                 str(STS_DIR / "outcome_lung_metastasis.csv"), "--label-column",
                 "lung_metastasis", "--output", str(tmp_path / "cv.json")]) == 0
    assert "51 patients (19 positive), 107 features" in capsys.readouterr().out
    df, _ = read_radiomics(features)
    result = cross_validated_auroc(df.set_index("patient")[feature_columns(df)],
                                   read_outcome_labels(STS_DIR / "outcome_lung_metastasis.csv",
                                                       "patient_id", "lung_metastasis"))
    # SUVmax on the native grid reproduces the cohort's SOURCE.md figure (0.811).
    assert result["baseline"]["apparent_auroc"] == pytest.approx(0.811, abs=0.01)
    assert result["model"]["auroc"] > 0.65
    written = json.loads((tmp_path / "cv.json").read_text())
    assert written["model"]["auroc"] == pytest.approx(result["model"]["auroc"])


def test_proposed_masks_are_marked_and_a_refused_one_is_left_out(tmp_path, caplog):
    """mask_source follows the case; pyradiomics refusing a proposed mask (one voxel) leaves that
    lesion out with a warning naming it, where a given one stays an error."""
    one_voxel = sitk.Image(sitk.ReadImage(str(PHANTOM_MASK)))
    one_voxel = sitk.GetArrayFromImage(one_voxel) * 0
    one_voxel[2, 2, 2] = 1
    written = sitk.GetImageFromArray(one_voxel.astype("uint8"))
    written.CopyInformation(sitk.ReadImage(str(PHANTOM_MASK)))
    sitk.WriteImage(written, str(tmp_path / "one.nii.gz"))
    cases = phantom_cases("P1", "P2", "P3")
    cases[1]["mask_source"] = "proposed"
    cases[2].update(mask_source="proposed", mask=str(tmp_path / "one.nii.gz"))
    with caplog.at_level(logging.WARNING):
        table = radiomics_table(cases, IBSI_PARAMS)
    assert list(zip(table["patient"], table["mask_source"])) == [("P1", "given"),
                                                                 ("P2", "proposed")]
    assert "patient P3 lesion L1: no radiomics on its proposed mask" in caplog.text
    write_radiomics(table, tmp_path / "t.parquet", IBSI_PARAMS)
    empty = radiomics_table([], IBSI_PARAMS)  # a shard whose lesions all lack a mask
    write_radiomics(empty, tmp_path / "empty.parquet", IBSI_PARAMS)
    merged = merge_radiomics([tmp_path / "empty.parquet", tmp_path / "t.parquet"],
                             tmp_path / "cohort.parquet")
    assert list(merged["mask_source"]) == ["given", "proposed"]
    with pytest.raises(InputError, match="pyradiomics refused"):
        radiomics_table([{**cases[2], "mask_source": "given"}], IBSI_PARAMS)
