"""Occlusion-sensitivity maps of the lesion CNN (MONAI's OcclusionSensitivity), per lesion."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from oncoweave.core.errors import InputError
from oncoweave.core.model_status import NOT_FITTED_KEY
from oncoweave.core.tables import read_parquet
from oncoweave.imaging.lesion_classifier import (
    PREDICTIONS_SCHEMA,
    outcome_labels,
    train_classifier_or_say_why,
)
from oncoweave.imaging.lesion_crops import ClassifierSettings
from oncoweave.imaging.lesion_map_files import (
    METHOD,
    READING_GUIDE,
    read_lesion_maps,
    read_map_arrays,
)
from oncoweave.imaging.lesion_maps import (
    centre_slice,
    display_slice,
    lesion_map_slices,
    occlusion_map,
)

TINY = ClassifierSettings(crop_size=(16, 16, 16), spacing_mm=(2.0, 2.0, 2.0), channels=(4, 8),
                          epochs=6, batch_size=4, learning_rate=1e-2, folds=3, seed=3)
SHAPE = (20, 20, 18)


def bright_spot_detector(channel: int = 0):
    """A classifier whose logit rises with the brightest 3^3 neighbourhood of one input channel,
    wherever it is (the decision depends on a bright blob and on nothing else)."""
    import torch

    class Detector(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(10.0))  # a parameter: a device to read

        def forward(self, x):
            smoothed = torch.nn.functional.avg_pool3d(x[:, channel:channel + 1], 3, 1, 1)
            return self.scale * (smoothed.amax(dim=(1, 2, 3, 4))[:, None] - 0.5)

    return Detector().eval()


def blob_crop(centre=(11, 8, 6), shape=(16, 12, 10)) -> np.ndarray:
    """(2, X, Y, Z): dim noise with one bright blob at ``centre``; the mask a cube elsewhere."""
    rng = np.random.default_rng(0)
    crop = np.zeros((2, *shape), dtype=np.float32)
    crop[0] = rng.uniform(0.1, 0.3, shape)
    grid = np.indices(shape)
    crop[0][((grid.T - np.array(centre)) ** 2).sum(axis=-1).T <= 4] = 1.0
    crop[1, 2:6, 2:6, 3:7] = 1.0
    return crop


def test_map_has_the_crops_shape_and_peaks_on_the_planted_blob():
    crop = blob_crop()
    volume = occlusion_map(bright_spot_detector(), crop)
    assert volume.shape == crop.shape[1:] and volume.dtype == np.float32
    peak = np.unravel_index(volume.argmax(), volume.shape)
    assert np.abs(np.array(peak) - (11, 8, 6)).max() <= 2, peak  # at (or beside) the blob
    # Occluding the blob's centre drops the probability most (part of the blob stays visible to
    # a cube a quarter of the crop wide, so by less than the whole ~0.99 -> ~0.1).
    assert volume[11, 8, 6] >= 0.95 * volume.max() > 0.1
    far = volume[:4, :4, :]  # a corner the occluding cube never reaches from the blob
    assert np.abs(far).max() < 0.01 * volume.max()


def test_the_mask_channel_is_never_occluded():
    crop = blob_crop()
    crop[1] = 0.0
    crop[1, 5:8, 5:8, 4:7] = 1.0  # a detector of the mask: occluding the image changes nothing
    assert np.abs(occlusion_map(bright_spot_detector(channel=1), crop)).max() < 1e-6


def test_kept_slice_is_the_lesion_centre_in_radiological_orientation():
    crop = blob_crop(centre=(13, 9, 5))  # x toward the patient's right, y toward anterior
    crop[1] = 0.0
    crop[1, 10:15, 7:12, 3:8] = 1.0  # the lesion around the blob: z 3..7, centre 5
    kept = lesion_map_slices(bright_spot_detector(), crop)
    assert kept["slice"] == 5 == centre_slice(crop[1])
    assert kept["image"].shape == kept["mask"].shape == kept["map"].shape == (12, 16)
    row, col = np.unravel_index(kept["map"].argmax(), kept["map"].shape)
    # Anterior is up and the patient's right is on the viewer's left: high y -> low row,
    # high x -> low column.
    assert (row, col) == pytest.approx((12 - 1 - 9, 16 - 1 - 13), abs=2)
    np.testing.assert_array_equal(kept["image"], display_slice(crop[0], 5))
    # The blob's centre at row 2, column 2 of the kept image, inside the kept mask; the map's
    # peak within 2 voxels of it (a cube 4 voxels wide moved 2 at a time).
    assert kept["image"][2, 2] == 1.0 and kept["mask"].dtype == np.uint8 and kept["mask"][2, 2]


def write_lesion(directory: Path, name: str, lesion_hu: float, noise_seed: int) -> dict:
    """A CT sphere of ``lesion_hu`` (radius 6 mm) in noisy soft tissue, 2 mm voxels."""
    grid = np.indices(SHAPE).astype(float)
    centre = (np.array(SHAPE) - 1) / 2
    inside = np.sqrt((((grid.T - centre) * 2.0) ** 2).sum(axis=-1)).T <= 6.0
    image = 40.0 + np.random.default_rng(noise_seed).normal(0.0, 20.0, SHAPE) \
        + inside * (lesion_hu - 40.0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    paths = directory / f"{name}_image.nii.gz", directory / f"{name}_mask.nii.gz"
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), paths[0])
    nib.save(nib.Nifti1Image(inside.astype(np.uint8), affine), paths[1])
    return {"patient": name, "lesion": "L1", "modality": "CT", "image": str(paths[0]),
            "mask": str(paths[1])}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """12 lesions: class 1 bright (400 HU), class 0 dark (-300 HU)."""
    directory = tmp_path_factory.mktemp("map_lesions")
    y = [index % 2 for index in range(12)]
    cases = [write_lesion(directory, f"P{index:02d}", 400.0 if label else -300.0, index)
             for index, label in enumerate(y)]
    return cases, {case["patient"]: ("PR" if label else "PD") for case, label in zip(cases, y)}


def test_workflow_step_writes_a_map_per_classified_lesion(tmp_path, cohort):
    cases, cells = cohort
    cells = {**cells, "P00": ""}  # unlabelled: not classified, no map
    labels = outcome_labels(cells, TINY)
    train_classifier_or_say_why(cases, labels, tmp_path / "bundle", tmp_path / "oof.parquet",
                                TINY, maps_dir=tmp_path / "maps")
    predictions, _ = read_parquet(tmp_path / "oof.parquet", PREDICTIONS_SCHEMA)
    index, meta = read_lesion_maps(tmp_path / "maps")
    assert list(index["patient"]) == list(predictions["patient"]) == \
        [case["patient"] for case in cases[1:]]
    # Each map is the held-out fold model's: its probability and fold are the table's.
    np.testing.assert_array_equal(index["probability"], predictions["probability"])
    np.testing.assert_array_equal(index["fold"], predictions["fold"])
    assert set(index["method"]) == {METHOD} and meta["reading_guide"] == READING_GUIDE
    assert "fold model" in meta["model"] and meta["mask_voxels"] == "4x4x4"
    assert sorted(path.name for path in (tmp_path / "maps").rglob("*.npz")) == ["L1.npz"] * 11
    inside_minus_outside = []
    for row in index.itertuples():
        arrays = read_map_arrays(tmp_path / "maps", row.file)
        assert arrays["map"].shape == (16, 16) and row.slice == 8
        assert row.map_max == pytest.approx(float(arrays["map"].max()))
        if cells[row.patient] == "PR":  # the learnt cue is the bright lesion: hiding it matters
            lesion = arrays["mask"] == 1
            inside_minus_outside.append(arrays["map"][lesion].mean()
                                        - arrays["map"][~lesion].mean())
    assert np.median(inside_minus_outside) > 0, inside_minus_outside
    # The maps leave training alone: the same out-of-fold table without them.
    train_classifier_or_say_why(cases, labels, tmp_path / "bundle2", tmp_path / "oof2.parquet",
                                TINY)
    again, _ = read_parquet(tmp_path / "oof2.parquet", PREDICTIONS_SCHEMA)
    np.testing.assert_array_equal(again["probability"], predictions["probability"])


def test_not_fitted_classifier_leaves_an_empty_index_saying_why(tmp_path, cohort):
    cases, _ = cohort
    train_classifier_or_say_why(cases[:4], None, tmp_path / "bundle", tmp_path / "oof.parquet",
                                TINY, maps_dir=tmp_path / "maps")
    index, meta = read_lesion_maps(tmp_path / "maps")
    assert index.empty and "no clinical sheet with a 'response' column" in meta[NOT_FITTED_KEY]
    assert [path.name for path in (tmp_path / "maps").iterdir()] == ["index.parquet"]


def test_unreadable_or_outside_map_files_are_named(tmp_path):
    (tmp_path / "P1").mkdir()
    (tmp_path / "P1" / "L1.npz").write_bytes(b"not an npz")
    with pytest.raises(InputError, match=r"L1.npz: cannot read the lesion map"):
        read_map_arrays(tmp_path, "P1/L1.npz")
    with pytest.raises(InputError, match="inside the maps folder"):
        read_map_arrays(tmp_path, "../elsewhere.npz")
