"""The MONAI lesion segmenter: seeded fits, held-out Dice, metrics, proposed masks, the workflow
step."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from oncoweave.core.errors import InputError
from oncoweave.core.model_status import NOT_FITTED_KEY
from oncoweave.core.tables import read_parquet
from oncoweave.imaging.segmenter import (
    LesionSegmenter,
    SegmenterSettings,
    largest_component,
    propose_mask,
)
from oncoweave.imaging.segmenter_cv import (
    FOLDS_SCHEMA,
    context_crops,
    lesion_metrics,
    patient_folds,
    train_segmenter_or_say_why,
)

# Tiny for a unit test: 16^3 windows from 24^3 crops of 2 mm voxels, a U-Net of 4-16 channels.
TINY = SegmenterSettings(crop_size=(16, 16, 16), context_size=(24, 24, 24),
                         spacing_mm=(2.0, 2.0, 2.0), channels=(4, 8, 16),
                         epochs=8, batch_size=4, learning_rate=1e-2, folds=3, seed=3)
SHAPE = (22, 20, 18)


def write_lesion(directory: Path, name: str, radius_mm: float, noise_seed: int,
                 affine: np.ndarray | None = None, empty_mask: bool = False) -> dict:
    """A PET-like bright sphere (SUV 8) off-centre in noisy background (SUV 1), 2 mm voxels."""
    rng = np.random.default_rng(noise_seed)
    affine = np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine
    centre = np.array(SHAPE) / 2 + rng.uniform(-2, 2, 3)
    spacing = np.abs(np.diag(affine)[:3])
    distance = np.sqrt((((np.indices(SHAPE).T - centre) * spacing) ** 2).sum(axis=-1)).T
    inside = distance <= radius_mm
    image = 1.0 + rng.normal(0.0, 0.4, SHAPE) + 7.0 * inside
    image_path, mask_path = directory / f"{name}_image.nii.gz", directory / f"{name}_mask.nii.gz"
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), image_path)
    mask = np.zeros(SHAPE) if empty_mask else inside
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), mask_path)
    return {"patient": name, "lesion": "L1", "modality": "PT", "image": str(image_path),
            "mask": str(mask_path)}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """15 lesions of radius 5-9 mm, each with its own noise and position."""
    directory = tmp_path_factory.mktemp("spheres")
    cases = [write_lesion(directory, f"P{index:02d}", 5.0 + index % 5, noise_seed=index)
             for index in range(15)]
    cases, crops = context_crops(cases, TINY)
    assert crops.shape == (15, 2, 24, 24, 24)
    return cases, crops


@pytest.fixture(scope="module")
def fitted(cohort):
    _, crops = cohort
    return LesionSegmenter(TINY).fit(crops[:11, :1], crops[:11, 1:])


def test_held_out_lesions_are_segmented(cohort, fitted):
    _, crops = cohort
    dice, hd95 = lesion_metrics(fitted.predict(crops[11:, :1]), crops[11:, 1:], TINY.spacing_mm)
    assert dice.min() > 0.7
    assert np.isfinite(hd95).all() and hd95.max() < 6.0  # mm: within 3 voxels
    assert len(fitted.loss_curve_) == TINY.epochs and fitted.loss_curve_[-1] < fitted.loss_curve_[0]


def test_same_seed_same_masks_other_seed_other_weights(cohort, fitted):
    _, crops = cohort
    again = LesionSegmenter(TINY).fit(crops[:11, :1], crops[:11, 1:])
    np.testing.assert_array_equal(again.predict_proba(crops[11:, :1]),
                                  fitted.predict_proba(crops[11:, :1]))
    other = LesionSegmenter(SegmenterSettings(**{**TINY.__dict__, "seed": 4}))
    other.fit(crops[:11, :1], crops[:11, 1:])
    assert not np.allclose(other.predict_proba(crops[11:, :1]),
                           fitted.predict_proba(crops[11:, :1]))


def test_metrics_against_known_masks():
    truth = np.zeros((2, 1, 16, 16, 16))
    truth[:, :, 4:10, 4:10, 4:10] = 1
    shifted = np.roll(truth, 2, axis=2)  # 2 voxels along x: Dice 4/6, every boundary 2 voxels off
    dice, hd95 = lesion_metrics(np.concatenate([truth[:1], shifted[1:]]), truth, (3.0, 1.0, 1.0))
    np.testing.assert_allclose(dice, [1.0, 4 / 6])
    np.testing.assert_allclose(hd95, [0.0, 6.0])  # 2 voxels x 3 mm
    dice, hd95 = lesion_metrics(np.zeros_like(truth), truth, (1.0, 1.0, 1.0))
    assert dice.tolist() == [0.0, 0.0] and np.isnan(hd95).all()


def test_largest_component_is_kept():
    foreground = np.zeros((10, 10, 10), dtype=bool)
    foreground[1:4, 1:4, 1:4] = True  # 27 voxels
    foreground[6:8, 6:8, 6:8] = True  # 8 voxels, apart
    foreground[4, 4, 4] = True  # touches the first by a corner only: 26-connected to it
    mask, components = largest_component(foreground)
    assert components == 2 and mask.dtype == np.uint8 and mask.sum() == 28
    assert mask[4, 4, 4] == 1 and mask[7, 7, 7] == 0
    assert largest_component(np.zeros((4, 4, 4), dtype=bool))[1] == 0


def test_proposed_mask_is_on_the_images_grid(tmp_path, fitted):
    # Flipped x, 2.5 mm x voxels and an origin: the proposal must come back onto this grid.
    affine = np.array([[-2.5, 0, 0, 40.0], [0, 2.0, 0, -10.0], [0, 0, 2.0, 5.0], [0, 0, 0, 1]])
    case = write_lesion(tmp_path, "new", 8.0, noise_seed=99, affine=affine)
    out = tmp_path / "proposed.nii.gz"
    found = propose_mask(fitted, case["image"], out, "PT")
    proposed, truth = nib.load(out), nib.load(case["mask"])
    assert proposed.shape == SHAPE and np.allclose(proposed.affine, truth.affine)
    assert proposed.get_data_dtype() == np.uint8
    mask, given = np.asarray(proposed.dataobj), np.asarray(truth.dataobj) > 0
    assert set(np.unique(mask)) == {0, 1} and found["found"] and found["voxels"] == mask.sum()
    assert 2 * (mask.astype(bool) & given).sum() / (mask.sum() + given.sum()) > 0.7
    assert found["volume_ml"] == pytest.approx(mask.sum() * 2.5 * 2 * 2 / 1000)


def test_nothing_found_in_background_alone(tmp_path, fitted):
    case = write_lesion(tmp_path, "background", 0.0, noise_seed=5)  # noise, no sphere
    found = propose_mask(fitted, case["image"], tmp_path / "none.nii.gz", "PT")
    assert found == {"found": False, "voxels": 0, "volume_ml": 0.0, "components": 0}
    assert not (tmp_path / "none.nii.gz").exists()


def test_bad_inputs_give_one_line_errors(tmp_path, cohort, fitted):
    _, crops = cohort
    masks = crops[:4, 1:].copy()
    masks[2] = 0
    with pytest.raises(InputError, match=r"training mask\(s\) 2 have no lesion voxel"):
        LesionSegmenter(TINY).fit(crops[:4, :1], masks)
    with pytest.raises(InputError, match=r"images must be an \(n, 1, x, y, z\) array of at "
                                         r"least crop_size \[16, 16, 16\], got shape"):
        LesionSegmenter(TINY).fit(crops[:4], crops[:4, 1:])
    with pytest.raises(InputError, match=r"images must be .* got shape \(4, 1, 12, 24, 24\)"):
        LesionSegmenter(TINY).fit(crops[:4, :1, :12], crops[:4, 1:, :12])
    with pytest.raises(InputError, match="not fitted"):
        LesionSegmenter(TINY).predict(crops[:1, :1])
    four_d = tmp_path / "4d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((*SHAPE, 2), np.float32), np.eye(4)), four_d)
    with pytest.raises(InputError, match=r"the image must be 3D, got shape \(22, 20, 18, 2\)"):
        propose_mask(fitted, four_d, tmp_path / "out.nii.gz")
    empty = write_lesion(tmp_path, "P99", 6.0, noise_seed=0, empty_mask=True)
    with pytest.raises(InputError, match="patient P99 lesion L1: the mask has no lesion voxel"):
        train_segmenter_or_say_why([empty, empty | {"patient": "P98"}, empty | {"patient": "P97"}],
                                   tmp_path / "b", tmp_path / "t.parquet", TINY)


def test_settings_from_config_refuse_unknown_and_bad_values():
    settings = SegmenterSettings.from_config({"crop_size": 16, "epochs": 3})
    assert settings.crop_size == (16, 16, 16) and settings.epochs == 3
    with pytest.raises(InputError, match="unknown segmenter setting"):
        SegmenterSettings.from_config({"epoch": 3})
    with pytest.raises(InputError, match=r"crop_size must be 3 multiples of 2\^\(len\(channels\)"):
        SegmenterSettings.from_config({"crop_size": 18})
    with pytest.raises(InputError, match=r"overlap must be in \[0, 1\)"):
        SegmenterSettings.from_config({"overlap": 1})
    with pytest.raises(InputError, match=r"context_size must be 3 numbers, each >= crop_size"):
        SegmenterSettings.from_config({"crop_size": 24, "context_size": 16})


def test_folds_keep_a_patients_lesions_together():
    patients = ["A", "A", "B", "C", "C", "D", "E", "F"]
    splits = patient_folds(patients, 3, seed=0)
    assert sorted(np.concatenate([test for _, test in splits]).tolist()) == list(range(8))
    for train, test in splits:
        assert not {patients[i] for i in train} & {patients[i] for i in test}
    with pytest.raises(InputError, match=r"2 patient\(s\), fewer than the 3 folds"):
        patient_folds(["A", "B", "B"], 3, seed=0)


@pytest.mark.parametrize("n_cases, reason", [
    (1, "the cohort has 1 lesion(s); the segmenter learns from at least 2"),
    (2, "2 patient(s), fewer than the 3 folds"),
])
def test_cohort_it_cannot_learn_from_gets_a_not_fitted_bundle(tmp_path, cohort, n_cases, reason):
    cases, _ = cohort
    metadata = train_segmenter_or_say_why(cases[:n_cases], tmp_path / "bundle",
                                          tmp_path / "folds.parquet", TINY)
    assert metadata["fitted"] is False and metadata[NOT_FITTED_KEY] == reason
    written = json.loads((tmp_path / "bundle" / "configs" / "metadata.json").read_text())
    assert written == metadata and not (tmp_path / "bundle" / "models").exists()
    assert {"monai_version", "pytorch_version", "seed", "settings"} <= set(written)
    table, meta = read_parquet(tmp_path / "folds.parquet", FOLDS_SCHEMA)
    assert len(table) == 0 and meta[NOT_FITTED_KEY] == reason


def test_workflow_step_writes_per_fold_table_and_bundle(tmp_path, cohort):
    cases, _ = cohort
    short = SegmenterSettings(**{**TINY.__dict__, "epochs": 4})
    metadata = train_segmenter_or_say_why(cases[:9], tmp_path / "bundle",
                                          tmp_path / "folds.parquet", short)
    table, meta = read_parquet(tmp_path / "folds.parquet", FOLDS_SCHEMA)
    assert table["fold"].tolist() == [0, 1, 2] and table["n_test"].sum() == 9
    assert (table["n_train"] + table["n_test"] == 9).all()
    assert table["dice"].between(0, 1).all()
    assert float(meta["cv_dice"]) == pytest.approx(table["dice"].mean())
    bundle = tmp_path / "bundle"
    assert (bundle / "models" / "model.pt").is_file()
    inference = json.loads((bundle / "configs" / "inference.json").read_text())
    assert inference["network_def"]["_target_"] == "monai.networks.nets.UNet"
    written = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert written["seed"] == 3 and written["n_cases"] == 9 and written["deterministic"]
    assert {"oncoweave_version", "monai_version", "pytorch_version", "numpy_version"} <= set(
        written)
    assert written["metrics"]["cv_dice"] == pytest.approx(table["dice"].mean())
    assert [fold["fold"] for fold in written["metrics"]["per_fold"]] == [0, 1, 2]
    assert len(written["loss_curve"]) == 4 and written["model_sha256"] == meta["model_sha256"]


def test_benchmark_command_prints_folds_and_radiomics_on_proposed_masks(tmp_path, cohort,
                                                                        capsys):
    from oncoweave.cli.main import main

    cases, _ = cohort
    sheet, config = tmp_path / "sheet.tsv", tmp_path / "segmenter.json"
    sheet.write_text("patient\timage\tmask\tmodality\n" + "".join(
        f"{case['patient']}\t{case['image']}\t{case['mask']}\tPT\n" for case in cases[:9]))
    config.write_text(json.dumps(TINY.to_dict()))
    assert main(["lesion-segmentation-cv", "--sheet", str(sheet), "--config", str(config),
                 "--work-dir", str(tmp_path / "proposed"), "--output",
                 str(tmp_path / "result.json")]) == 0
    out = capsys.readouterr().out
    assert "9 lesions, 3-fold patient-level CV" in out and out.count("\nfold ") == 3
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["whole_image"]["found"] == 9 and len(list((tmp_path / "proposed").iterdir())) == 9
    assert result["whole_image"]["dice_mean"] > 0.5
    # SUVmax of a proposal that covers the sphere is the sphere's maximum.
    assert result["radiomics"]["SUVmax"]["n"] == 9
    assert abs(result["radiomics"]["SUVmax"]["median_relative_difference"]) < 0.05
    assert "cv_seconds" not in result


def test_segment_lesions_step_proposes_or_says_why(tmp_path, fitted):
    """The workflow's segment_lesions step: the bundle reloaded proposes what the fitted model
    does; an image with nothing to find and a not-fitted bundle give no mask and a reason, never an
    error; radiomics' cases then hold the proposed mask and leave the others out."""
    from oncoweave.core.model_status import write_not_fitted_bundle
    from oncoweave.imaging.proposed_masks import (
        PROPOSALS_SCHEMA,
        load_segmenter,
        propose_masks,
        with_proposed_masks,
    )
    from oncoweave.imaging.segmenter_cv import _write_bundle

    _write_bundle(tmp_path / "bundle", fitted, {"seed": TINY.seed}, TINY)
    reloaded, reason = load_segmenter(tmp_path / "bundle", "cpu")
    assert reason is None
    sphere = write_lesion(tmp_path, "new", 8.0, noise_seed=99)
    background = write_lesion(tmp_path, "empty", 0.0, noise_seed=5)
    # The same weights: the same probabilities (to float rounding where fitted ran on CUDA).
    np.testing.assert_allclose(*(model.predict_proba(np.asarray(
        nib.load(sphere["image"]).dataobj, dtype=np.float32)[None, None])
        for model in (reloaded, fitted)), atol=1e-5)
    cases = [{**case, "mask": None, "mask_source": "none yet"} for case in (sphere, background)]
    table = propose_masks(cases, tmp_path / "bundle", tmp_path / "proposed")
    written, _ = read_parquet(tmp_path / "proposed" / "proposals.parquet", PROPOSALS_SCHEMA)
    assert written["mask_source"].tolist() == ["proposed", "none"] == table["mask_source"].tolist()
    assert written.loc[1, "reason"] == "the segmenter found no lesion voxel (probability > 0.5)"
    mask = np.asarray(nib.load(written.loc[0, "mask"]).dataobj)
    given = np.asarray(nib.load(sphere["mask"]).dataobj) > 0
    assert written.loc[0, "voxels"] == mask.sum() > 0
    assert 2 * (mask.astype(bool) & given).sum() / (mask.sum() + given.sum()) > 0.7
    given_case = {**sphere, "patient": "G", "mask_source": "given"}
    kept = with_proposed_masks([cases[1], given_case, cases[0]], tmp_path / "proposed")
    assert [(c["patient"], c["mask_source"]) for c in kept] == [("G", "given"),
                                                               ("new", "proposed")]
    assert kept[1]["mask"] == written.loc[0, "mask"]

    write_not_fitted_bundle(tmp_path / "unfitted", "2 patient(s), fewer than the 3 folds", {})
    table = propose_masks(cases, tmp_path / "unfitted", tmp_path / "none")
    assert table["mask_source"].tolist() == ["none", "none"]
    assert set(table["reason"]) == {"segmenter not fitted: 2 patient(s), fewer than the 3 folds"}
    assert sorted(p.name for p in (tmp_path / "none").iterdir()) == ["proposals.parquet"]
    assert with_proposed_masks(cases, tmp_path / "none") == []
