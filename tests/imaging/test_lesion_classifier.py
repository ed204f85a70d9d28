"""The supervised MONAI lesion classifier: crops, seeded fits, cross-validation, workflow step."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from helpers import SHARED_DATA

from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.core.model_status import NOT_FITTED_KEY
from oncoweave.core.tables import read_parquet
from oncoweave.imaging.lesion_classifier import (
    PREDICTIONS_SCHEMA,
    LesionCNN,
    auroc_with_ci,
    clinical_labels,
    cross_validate,
    outcome_labels,
    patient_splits,
    train_classifier_or_say_why,
)
from oncoweave.imaging.defaults import DEFAULT_PARAMS
from oncoweave.imaging.lesion_crops import ClassifierSettings, lesion_crop, lesion_crops
from oncoweave.imaging.radiomics import read_radiomics
from oncoweave.imaging.radiomics_model import (
    cross_validated_auroc,
    patient_features,
    read_outcome_labels,
)

# Tiny for a unit test: 16^3 crops of 2 mm voxels, two conv levels, a few epochs.
TINY = ClassifierSettings(crop_size=(16, 16, 16), spacing_mm=(2.0, 2.0, 2.0), channels=(4, 8),
                          epochs=6, batch_size=4, learning_rate=1e-2, folds=3, seed=3)
SHAPE = (20, 20, 18)
STS_DIR = SHARED_DATA / "sts_pet_lung_metastasis"


def write_lesion(directory: Path, name: str, lesion_hu: float, radius_mm: float = 7.0,
                 noise_seed: int = 0, empty_mask: bool = False) -> dict:
    """A CT sphere of ``lesion_hu`` in noisy soft tissue (40 HU), 2 mm voxels."""
    grid = np.indices(SHAPE).astype(float)
    centre = (np.array(SHAPE) - 1) / 2
    inside = np.sqrt((((grid.T - centre) * 2.0) ** 2).sum(axis=-1)).T <= radius_mm
    rng = np.random.default_rng(noise_seed)
    image = 40.0 + rng.normal(0.0, 20.0, SHAPE) + inside * (lesion_hu - 40.0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    image_path, mask_path = directory / f"{name}_image.nii.gz", directory / f"{name}_mask.nii.gz"
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), image_path)
    mask = np.zeros(SHAPE) if empty_mask else inside
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), mask_path)
    return {"patient": name, "lesion": "L1", "modality": "CT", "image": str(image_path),
            "mask": str(mask_path)}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """18 lesions: class 1 bright (400 HU), class 0 dark (-300 HU), each with its own noise."""
    directory = tmp_path_factory.mktemp("lesions")
    y = np.array([index % 2 for index in range(18)])
    cases = [write_lesion(directory, f"P{index:02d}", 400.0 if label else -300.0,
                          radius_mm=5.0 + index % 3, noise_seed=index)
             for index, label in enumerate(y)]
    cases, crops = lesion_crops(cases, TINY)
    return cases, crops, y


def test_crop_is_centred_two_channel_and_normalised(cohort):
    cases, crops, y = cohort
    assert crops.shape == (18, 2, 16, 16, 16) and crops.dtype == np.float32
    mask = crops[0, 1]
    assert set(np.unique(mask)) == {0.0, 1.0}
    centre = np.argwhere(mask).mean(axis=0)
    assert np.allclose(centre, 7.5, atol=1.0)  # the bounding-box centre is the crop's centre
    # CT window -1000..1000 HU -> 0..1: a 400 HU lesion reads ~0.7, a -300 HU one ~0.35.
    bright = crops[y == 1][:, 0][crops[y == 1][:, 1] > 0].mean()
    dark = crops[y == 0][:, 0][crops[y == 0][:, 1] > 0].mean()
    assert bright == pytest.approx(0.7, abs=0.03) and dark == pytest.approx(0.35, abs=0.03)


def test_visible_class_is_learnt_and_shuffled_labels_are_chance(cohort):
    cases, crops, y = cohort
    splits = patient_splits([case["patient"] for case in cases], y, 3, 1, seed=0)
    probabilities, folds = cross_validate(crops, y, splits, TINY)
    assert probabilities.shape == (1, 18) and sorted(np.unique(folds)) == [0, 1, 2]
    learnt = auroc_with_ci(y, probabilities, n_bootstrap=200, seed=0)
    assert learnt["auroc"] > 0.9 and learnt["auroc_ci95"][0] > 0.7
    shuffled = np.random.default_rng(1).permutation(y)
    splits = patient_splits([case["patient"] for case in cases], shuffled, 3, 1, seed=0)
    chance, _ = cross_validate(crops, shuffled, splits, TINY)
    summary = auroc_with_ci(shuffled, chance, n_bootstrap=200, seed=0)
    assert 0.2 < summary["auroc"] < 0.8 and summary["auroc_ci95"][0] < 0.5


def test_same_seed_same_probabilities_other_seed_others(cohort):
    _, crops, y = cohort
    first = LesionCNN(TINY, "cpu").fit(crops, y).predict_proba(crops)
    second = LesionCNN(TINY, "cpu").fit(crops, y).predict_proba(crops)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (18, 2) and np.allclose(first.sum(axis=1), 1.0)
    other = LesionCNN(ClassifierSettings(**{**TINY.to_dict(), "seed": 4}), "cpu")
    assert not np.array_equal(first, other.fit(crops, y).predict_proba(crops))


def test_splits_match_the_radiomics_models_for_one_lesion_per_patient():
    from sklearn.model_selection import RepeatedStratifiedKFold

    y = np.array([0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0])
    ours = patient_splits([f"P{index}" for index in range(12)], y, 3, 2, seed=5)
    theirs = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=5).split(y, y)
    for (train, test), (their_train, their_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(train, their_train)
        np.testing.assert_array_equal(test, their_test)


def test_two_lesions_of_a_patient_stay_in_one_fold():
    patients = ["A", "A", "B", "C", "C", "D", "E", "F"]
    y = [1, 1, 0, 1, 1, 0, 1, 0]
    for train, test in patient_splits(patients, y, 2, 1, seed=0):
        assert not {patients[i] for i in train} & {patients[i] for i in test}


def test_bad_inputs_give_one_line_errors(tmp_path, cohort):
    empty = write_lesion(tmp_path, "P99", 400.0, empty_mask=True)
    with pytest.raises(InputError, match=r"patient P99 lesion L1: the mask has no lesion voxel"):
        lesion_crop(empty, TINY)
    _, crops, _ = cohort
    with pytest.raises(InputError, match=r"both classes 0 and 1, got \[1\]"):
        LesionCNN(TINY).fit(crops[:4], [1, 1, 1, 1])
    with pytest.raises(InputError, match=r"one class \(class 0\)"):
        patient_splits(["A", "B", "C"], [0, 0, 0], 2, 1, seed=0)
    with pytest.raises(InputError, match=r"class 1 has 2 patient\(s\), fewer than the 3 folds"):
        patient_splits(list("ABCDEF"), [0, 0, 0, 0, 1, 1], 3, 1, seed=0)
    with pytest.raises(InputError, match="patient A has lesions with different labels"):
        patient_splits(["A", "A", "B"], [0, 1, 0], 2, 1, seed=0)
    with pytest.raises(InputError, match=r"crops must be an \(n, 2, 16, 16, 16\) array"):
        LesionCNN(TINY).fit(crops[:, :1], [0, 1] * 9)
    with pytest.raises(InputError, match="not fitted"):
        LesionCNN(TINY).predict_proba(crops)


def test_settings_from_config_refuse_unknown_and_bad_values():
    settings = ClassifierSettings.from_config({"label": "os_event", "positive": [1],
                                               "crop_size": 16, "channels": [4, 8]})
    assert settings.positive == ("1",) and settings.crop_size == (16, 16, 16)
    with pytest.raises(InputError, match="unknown classifier setting"):
        ClassifierSettings.from_config({"lable": "response"})
    with pytest.raises(InputError, match=r"crop_size must be 3 multiples of 2\^len\(channels\)"):
        ClassifierSettings.from_config({"crop_size": 20})
    with pytest.raises(InputError, match="positive: expected a list"):
        ClassifierSettings.from_config({"positive": {"CR": 1}})


@pytest.mark.parametrize("cells, reason", [
    (None, "no clinical sheet with a 'response' column to learn from"),
    ({"P00": "CR", "P01": "CR", "P02": "PR", "P03": ""}, "all 3 labelled patients are in one "
                                                        "class (class 1)"),
    ({"P00": "PD", "P01": "CR", "P02": "PD", "P03": "SD"}, "class 1 has 1 patient(s), fewer "
                                                          "than the 3 folds"),
    ({"P00": "CR"}, "1 lesion(s) have a 'response' label; the classifier learns from at least 2"),
])
def test_cohort_it_cannot_learn_from_gets_a_not_fitted_bundle(tmp_path, cohort, cells, reason):
    cases, _, _ = cohort
    labels = None if cells is None else outcome_labels(cells, TINY)
    metadata = train_classifier_or_say_why(cases[:4], labels, tmp_path / "bundle",
                                           tmp_path / "oof.parquet", TINY)
    assert metadata["fitted"] is False and reason in metadata[NOT_FITTED_KEY]
    written = json.loads((tmp_path / "bundle" / "configs" / "metadata.json").read_text())
    assert written == metadata and not (tmp_path / "bundle" / "models").exists()
    assert {"monai_version", "pytorch_version", "seed", "settings"} <= set(written)
    table, meta = read_parquet(tmp_path / "oof.parquet", PREDICTIONS_SCHEMA)
    assert len(table) == 0 and reason in meta[NOT_FITTED_KEY]


def test_workflow_step_writes_out_of_fold_table_and_bundle(tmp_path, cohort):
    cases, _, y = cohort
    cells = {case["patient"]: ("PR" if label else "PD") for case, label in zip(cases, y)}
    cells["P00"] = ""  # unlabelled: left out
    metadata = train_classifier_or_say_why(cases, outcome_labels(cells, TINY),
                                           tmp_path / "bundle", tmp_path / "oof.parquet", TINY)
    table, meta = read_parquet(tmp_path / "oof.parquet", PREDICTIONS_SCHEMA)
    assert list(table["patient"]) == [case["patient"] for case in cases[1:]]
    assert list(table["label"]) == list(y[1:]) and set(table["fold"]) == {0, 1, 2}
    assert table["probability"].between(0, 1).all()
    assert float(meta["auroc"]) == pytest.approx(metadata["metrics"]["cv_auroc"])
    assert metadata["metrics"]["cv_auroc"] > 0.9
    bundle = tmp_path / "bundle"
    assert (bundle / "models" / "model.pt").is_file() and (bundle / "configs" /
                                                           "inference.json").is_file()
    written = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert written["seed"] == 3 and written["n_cases"] == 17 and written["deterministic"]
    assert {"monai_version", "pytorch_version", "numpy_version"} <= set(written)
    assert written["metrics"]["cv_auroc_ci95"][0] <= written["metrics"]["cv_auroc"]
    assert written["transforms"]["training_augmentation"][0]["name"] == "RandFlipd"
    assert len(written["loss_curve"]) == TINY.epochs


def test_clinical_labels_from_the_sheet(tmp_path):
    sheet = tmp_path / "clinical.tsv"
    sheet.write_text("patient\tresponse\tos_event\nP1\tCR\t1\nP2\tPD\t0\nP3\t\t1\nP4\tPR\t\n")
    assert clinical_labels(sheet, ClassifierSettings()) == {"P1": 1, "P2": 0, "P4": 1}
    by_event = ClassifierSettings.from_config({"label": "os_event", "positive": [1]})
    assert clinical_labels(sheet, by_event) == {"P1": 1, "P2": 0, "P3": 1}
    assert clinical_labels(sheet, ClassifierSettings(label="stage")) is None
    assert clinical_labels(None, ClassifierSettings()) is None


@pytest.mark.skipif(not STS_DIR.is_dir(), reason=f"{STS_DIR} (STS FDG-PET cohort) is not here")
def test_sts_cnn_and_radiomics_on_the_same_splits(tmp_path, capsys):
    """One repeat of 5 folds (~20 s); `lesion-cnn-cv` with 10 repeats gives the README figure."""
    rows = [f"{d.name}\t{d}/PET_image.nii.gz\t{d}/PET_mask.nii.gz\tPT"
            for d in sorted(STS_DIR.glob("STS_*"))]
    sheet, features = tmp_path / "sts.tsv", tmp_path / "sts.parquet"
    sheet.write_text("patient\timage\tmask\tmodality\n" + "\n".join(rows) + "\n")
    labels_csv = STS_DIR / "outcome_lung_metastasis.csv"
    assert main(["radiomics-batch", "--sheet", str(sheet), "--output", str(features),
                 "--params", str(DEFAULT_PARAMS.with_name("radiomics_pet.yaml"))]) == 0
    assert main(["lesion-cnn-cv", "--sheet", str(sheet), "--labels", str(labels_csv),
                 "--label-column", "lung_metastasis", "--radiomics", str(features),
                 "--repeats", "1", "--bootstrap", "200", "--output",
                 str(tmp_path / "cv.json")]) == 0
    assert "51 patients (19 positive), 1x5-fold CV" in capsys.readouterr().out
    result = json.loads((tmp_path / "cv.json").read_text())
    df, _ = read_radiomics(features)
    reference = cross_validated_auroc(patient_features(df), read_outcome_labels(
        labels_csv, "patient_id", "lung_metastasis"), repeats=1, n_bootstrap=200)
    # The same splits and resamples as radiomics-cv: its model's AUROC and CI, exactly.
    assert result["radiomics"]["auroc"] == pytest.approx(reference["model"]["auroc"])
    assert result["radiomics"]["auroc_ci95"] == pytest.approx(reference["model"]["auroc_ci95"])
    # The CNN as measured here (0.610 with one torch thread); other CPUs round differently.
    assert result["cnn"]["auroc"] == pytest.approx(0.610, abs=0.05)
    assert min(result["cnn"]["auroc"], result["radiomics"]["auroc"]) - 0.05 \
        <= result["combined"]["auroc"] <= max(result["cnn"]["auroc"],
                                              result["radiomics"]["auroc"]) + 0.05
