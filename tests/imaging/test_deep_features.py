"""The MONAI lesion encoder: preprocessing, seeded training, the model directory, embeddings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from oncoweave.cli.main import main
from oncoweave.core.devices import select_device
from oncoweave.core.errors import InputError
from oncoweave.core.io import file_sha256
from oncoweave.core.tables import read_parquet
from oncoweave.imaging import encoder, encoder_inputs
from oncoweave.imaging.deep_features import (
    benchmark_embedding,
    deep_features_schema,
    embed_cases,
    embed_cohort,
    load_encoder,
    write_deep_features,
)
from oncoweave.imaging.encoder import train_encoder, train_encoder_or_say_why
from oncoweave.imaging.encoder_inputs import EncoderSettings, preprocess_case, read_cases

# Small enough for a test: 16^3 crops, two conv levels, a 4-number embedding.
TINY = {"epochs": 2, "batch_size": 2, "crop_size": 16, "spacing_mm": 2.0, "channels": [4, 8],
        "strides": [2, 2], "latent_dim": 4, "seed": 7}
SHAPE = (24, 24, 20)


def write_lesion(directory: Path, name: str, radius_mm: float, lesion_value: float,
                 noise_seed: int = 0, spacing=(2.0, 2.0, 2.0), background: float = 0.0,
                 noise: float = 10.0, mask_value: int = 1) -> tuple[Path, Path]:
    """A sphere of ``lesion_value`` in noisy ``background`` (NIfTI image + uint8 mask)."""
    grid = np.indices(SHAPE).astype(float)
    centre = (np.array(SHAPE) - 1) / 2
    distance = np.sqrt(sum(((grid[axis] - centre[axis]) * spacing[axis]) ** 2
                           for axis in range(3)))
    inside = distance <= radius_mm
    rng = np.random.default_rng(noise_seed)
    image = background + rng.normal(0.0, noise, SHAPE) + inside * (lesion_value - background)
    affine = np.diag([*spacing, 1.0])
    image_path, mask_path = directory / f"{name}_image.nii.gz", directory / f"{name}_mask.nii.gz"
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), image_path)
    nib.save(nib.Nifti1Image((inside * mask_value).astype(np.uint8), affine), mask_path)
    return image_path, mask_path


def case(directory: Path, patient: str, radius_mm: float, lesion_value: float,
         modality: str = "CT", **options) -> dict:
    image, mask = write_lesion(directory, patient, radius_mm, lesion_value, **options)
    return {"patient": patient, "lesion": "L1", "modality": modality, "image": str(image),
            "mask": str(mask)}


def cohort(directory: Path) -> list[dict]:
    """Six CT lesions from 3 mm dim to 11 mm bright."""
    return [case(directory, f"P{index}", 3.0 + 1.6 * index, 80.0 + 60 * index, noise_seed=index)
            for index in range(6)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("deep")
    cases = cohort(directory)
    model_dir = directory / "encoder"
    metadata = train_encoder(cases, model_dir, EncoderSettings.from_config(TINY))
    return cases, model_dir, metadata


def timing_keys(value) -> list[str]:
    """Keys anywhere in a JSON document that name a duration."""
    if isinstance(value, dict):
        return [key for key in value if any(word in key for word in ("second", "elapsed",
                                                                      "duration"))] + [
            key for item in value.values() for key in timing_keys(item)]
    if isinstance(value, list):
        return [key for item in value for key in timing_keys(item)]
    return []


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "models" / "model.pt", weights_only=True)


# ---------------------------------------------------------------------------------------------
# Settings

def test_settings_from_config_and_refusals():
    settings = EncoderSettings.from_config(TINY)
    assert settings.crop_size == (16, 16, 16) and settings.spacing_mm == (2.0, 2.0, 2.0)
    assert settings.channels == (4, 8) and settings.augmentation is True
    assert EncoderSettings.from_config({}) == EncoderSettings()
    with pytest.raises(InputError, match="unknown encoder setting.*learning_rat\\b"):
        EncoderSettings.from_config({"learning_rat": 0.1})
    with pytest.raises(InputError, match="crop_size must be 3 multiples of the strides' product"):
        EncoderSettings.from_config({"crop_size": 20})  # 20 is not a multiple of 2*2*2
    with pytest.raises(InputError, match="epochs: bad value 2.5"):
        EncoderSettings.from_config({"epochs": 2.5})


def test_settings_file_with_unknown_key_names_the_file(tmp_path):
    config = tmp_path / "encoder.yaml"
    config.write_text("epochs: 3\nlatent: 8\n")
    with pytest.raises(InputError, match=f"{config}: unknown encoder setting.*latent"):
        encoder_inputs.read_settings(config)


# ---------------------------------------------------------------------------------------------
# Preprocessing

def test_crop_is_fixed_size_centred_and_keeps_lesion_size(tmp_path):
    settings = EncoderSettings.from_config(TINY)
    small = preprocess_case(case(tmp_path, "S", 3.0, 300.0), settings)
    big = preprocess_case(case(tmp_path, "B", 9.0, 300.0), settings)
    for crop in (small, big):
        assert crop["image"].shape == crop["mask"].shape == (1, 16, 16, 16)
        centroid = np.argwhere(crop["mask"][0].numpy() > 0).mean(axis=0)
        assert np.allclose(centroid, 7.5, atol=0.6)  # the lesion sits in the middle
    # Not resized: the voxel count follows the physical volume (4/3 pi r^3 / 8 mm^3 per voxel).
    assert float(small["mask"].sum()) == 8  # r = 3 mm around a voxel corner: 2 x 2 x 2 voxels
    assert float(big["mask"].sum()) == pytest.approx(4 / 3 * math.pi * 729 / 8, rel=0.15)
    # CT window -1000..1000 HU -> 0..1: the 300 HU lesion at 0.65, water at 0.5.
    assert float(big["image"][big["mask"] > 0].mean()) == pytest.approx(0.65, abs=0.01)
    assert float(big["image"][big["mask"] == 0].mean()) == pytest.approx(0.5, abs=0.01)


def test_pet_window_and_mr_percentiles(tmp_path):
    settings = EncoderSettings.from_config(TINY)
    pet = preprocess_case(case(tmp_path, "PT1", 8.0, 10.0, modality="PT", background=1.0,
                               noise=0.1), settings)
    assert float(pet["image"][pet["mask"] > 0].mean()) == pytest.approx(0.5, abs=0.01)  # SUV 10
    mr = preprocess_case(case(tmp_path, "MR1", 8.0, 900.0, modality="MR", background=200.0),
                         settings)
    assert 0.0 <= float(mr["image"].min()) and float(mr["image"].max()) <= 1.0
    assert float(mr["image"][mr["mask"] > 0].mean()) > 0.95  # the lesion is the bright end


def test_resampling_to_the_model_grid(tmp_path):
    """A 1 x 1 x 3 mm lesion image comes out on 2 mm voxels with the same physical lesion."""
    settings = EncoderSettings.from_config(TINY)
    crop = preprocess_case(case(tmp_path, "A", 7.0, 300.0, spacing=(1.0, 1.0, 3.0)), settings)
    assert crop["mask"].shape == (1, 16, 16, 16)
    assert float(crop["mask"].sum()) == pytest.approx(4 / 3 * math.pi * 343 / 8, rel=0.2)


# ---------------------------------------------------------------------------------------------
# Training and determinism

def test_same_seed_gives_identical_weights_and_embeddings(trained, tmp_path):
    cases, model_dir, _ = trained
    again = tmp_path / "again"
    train_encoder(cases, again, EncoderSettings.from_config(TINY))
    for relative in ("models/model.pt", "configs/metadata.json", "configs/inference.json"):
        assert (model_dir / relative).read_bytes() == (again / relative).read_bytes(), relative
    first, second = weights(model_dir), weights(again)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    pd.testing.assert_frame_equal(embed_cases(cases, model_dir), embed_cases(cases, again),
                                  check_exact=True)


def test_the_encoder_does_not_change_with_the_threads_the_job_gets(trained, tmp_path):
    """torch's threads are the torch_threads setting (1), not the process's: a job given more
    cores writes the same bundle and features; the caller's thread count is restored."""
    cases, model_dir, _ = trained
    was_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        wider = tmp_path / "wider"
        train_encoder(cases, wider, EncoderSettings.from_config(TINY))
        assert torch.get_num_threads() == 2
        features = embed_cases(cases, wider)
    finally:
        torch.set_num_threads(was_threads)
    assert (wider / "models/model.pt").read_bytes() == (model_dir / "models/model.pt").read_bytes()
    assert json.loads((wider / "configs/metadata.json").read_text())["torch_threads"] == 1
    pd.testing.assert_frame_equal(features, embed_cases(cases, model_dir), check_exact=True)


def test_a_different_seed_or_no_augmentation_gives_different_weights(trained, tmp_path):
    cases, model_dir, _ = trained
    other = tmp_path / "other"
    train_encoder(cases, other, EncoderSettings.from_config({**TINY, "seed": 8}))
    plain = tmp_path / "no_augmentation"
    train_encoder(cases, plain, EncoderSettings.from_config({**TINY, "augmentation": False}))
    first = weights(model_dir)
    for changed in (other, plain):
        assert not all(torch.equal(first[key], weights(changed)[key]) for key in first)
    assert not torch.are_deterministic_algorithms_enabled()  # the global flag is restored


def test_metadata_and_inference_config(trained):
    cases, model_dir, metadata = trained
    on_disk = json.loads((model_dir / "configs" / "metadata.json").read_text())
    # The training time is returned, not saved: two trainings write identical files.
    assert metadata["training_seconds"] > 0 and not timing_keys(on_disk)
    assert {**on_disk, "training_seconds": metadata["training_seconds"]} == json.loads(
        json.dumps(metadata))
    assert on_disk["monai_version"] and on_disk["pytorch_version"] and on_disk["numpy_version"]
    assert "nibabel" in on_disk["optional_packages_version"]
    assert on_disk["seed"] == 7 and on_disk["n_cases"] == 6 and on_disk["device"] == "cpu"
    assert len(on_disk["loss_curve"]) == TINY["epochs"]
    assert all(math.isfinite(loss) and loss > 0 for loss in on_disk["loss_curve"])
    assert on_disk["final_loss"] == on_disk["loss_curve"][-1]
    assert on_disk["model_sha256"] == file_sha256(model_dir / "models" / "model.pt")
    image_input = on_disk["network_data_format"]["inputs"]["image"]
    assert image_input["num_channels"] == 2 and image_input["spatial_shape"] == [16, 16, 16]
    assert on_disk["network_data_format"]["outputs"]["embedding"]["num_channels"] == 4
    ct_steps = [step["name"] for step in on_disk["transforms"]["preprocessing"]["CT"]]
    assert ct_steps == ["LoadImaged", "EnsureChannelFirstd", "Orientationd", "Spacingd",
                        "AsDiscreted", "ScaleIntensityRanged", "CropForegroundd", "SpatialPadd",
                        "CenterSpatialCropd"]
    mr_steps = [step["name"] for step in on_disk["transforms"]["preprocessing"]["MR"]]
    assert "ScaleIntensityRangePercentilesd" in mr_steps
    assert "RandFlipd" in [step["name"] for step in on_disk["transforms"]["training_augmentation"]]
    inference = json.loads((model_dir / "configs" / "inference.json").read_text())
    assert inference["network_def"]["_target_"] == "monai.networks.nets.VarAutoEncoder"
    assert inference["network_def"]["latent_size"] == 4
    network, settings, _ = load_encoder(model_dir)
    assert settings == EncoderSettings.from_config(TINY) and not network.training


def test_loss_goes_down(tmp_path):
    cases = cohort(tmp_path)
    settings = EncoderSettings.from_config({**TINY, "epochs": 10, "learning_rate": 3e-3})
    curve = train_encoder(cases, tmp_path / "model", settings)["loss_curve"]
    assert len(curve) == 10
    assert curve[-1] < 0.8 * curve[0]
    assert min(curve[5:]) < min(curve[:5])


def test_cuda_is_chosen_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device().type == "cuda"
    assert select_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device().type == "cpu"
    with pytest.raises(InputError, match="cuda was asked for"):
        select_device("cuda")


def test_failed_training_leaves_nothing_and_keeps_an_older_model(trained, tmp_path, monkeypatch):
    cases, model_dir, _ = trained
    target = tmp_path / "encoder"
    train_encoder(cases, target, EncoderSettings.from_config(TINY))
    before = file_sha256(target / "models" / "model.pt")

    def broken(settings):
        raise RuntimeError("disk full")

    monkeypatch.setattr(encoder, "_inference_config", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        train_encoder(cases, target, EncoderSettings.from_config({**TINY, "seed": 1}))
    with pytest.raises(RuntimeError, match="disk full"):
        train_encoder(cases, tmp_path / "fresh", EncoderSettings.from_config(TINY))
    assert file_sha256(target / "models" / "model.pt") == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["encoder"]


# ---------------------------------------------------------------------------------------------
# Embeddings

def test_embeddings_table_schema_and_provenance(trained, tmp_path):
    cases, model_dir, metadata = trained
    table = embed_cases(cases, model_dir)
    assert list(table.columns) == ["patient", "lesion", "modality", "deep_000", "deep_001",
                                   "deep_002", "deep_003"]
    assert table["patient"].tolist() == [item["patient"] for item in cases]
    assert (table.filter(like="deep_").dtypes == "float64").all()
    output = tmp_path / "deep_features.parquet"
    write_deep_features(table, output, model_dir)
    df, provenance = read_parquet(output, deep_features_schema(4))
    assert len(df) == 6
    assert provenance["deep_model_sha256"] == metadata["model_sha256"]
    assert provenance["deep_model_seed"] == "7" and provenance["deep_model_n_cases"] == "6"
    assert provenance["monai_version"] == metadata["monai_version"]


def test_different_lesions_are_farther_apart_than_noisy_copies(trained, tmp_path):
    _, model_dir, _ = trained
    lesions = [case(tmp_path, "BIG", 10.0, 400.0, noise_seed=1),
               case(tmp_path, "BIG_COPY", 10.0, 400.0, noise_seed=2),
               case(tmp_path, "SMALL", 3.5, 80.0, noise_seed=3)]
    vectors = embed_cases(lesions, model_dir).filter(like="deep_").to_numpy()
    copies = np.linalg.norm(vectors[0] - vectors[1])
    different = np.linalg.norm(vectors[0] - vectors[2])
    assert copies > 0 and different > 5 * copies


def test_an_embedding_does_not_depend_on_the_other_lesions(trained):
    cases, model_dir, _ = trained
    alone = embed_cases(cases[2:3], model_dir)
    together = embed_cases(cases, model_dir).iloc[[2]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, together, check_exact=True)


def test_benchmark(trained):
    cases, model_dir, metadata = trained
    result = benchmark_embedding(cases, model_dir)
    assert result["n_cases"] == 6 and result["embedding_seconds_per_case"] > 0
    assert result["training_seconds"] > 0 and result["training_n_cases"] == 6
    assert result["training_seconds_per_epoch"] == pytest.approx(
        result["training_seconds"] / TINY["epochs"])


# ---------------------------------------------------------------------------------------------
# Bad inputs

def test_fewer_than_two_lesions(tmp_path):
    with pytest.raises(InputError, match="at least 2 lesions, got 1 \\(patient P0 lesion L1\\)"):
        train_encoder(cohort(tmp_path)[:1], tmp_path / "model", EncoderSettings.from_config(TINY))


def test_one_lesion_gives_a_not_fitted_bundle_and_an_empty_table_that_say_why(tmp_path):
    import json

    from oncoweave.core.model_status import NOT_FITTED_KEY
    from oncoweave.core.tables import read_parquet

    cases, bundle = cohort(tmp_path)[:1], tmp_path / "model"
    metadata = train_encoder_or_say_why(cases, bundle, EncoderSettings.from_config(TINY))
    reason = "the cohort has 1 lesion; the encoder learns from at least 2"
    assert metadata["fitted"] is False and metadata[NOT_FITTED_KEY] == reason
    assert json.loads((bundle / "configs/metadata.json").read_text()) == metadata
    assert metadata["seed"] == EncoderSettings.from_config(TINY).seed
    assert metadata["monai_version"]
    assert [p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()] == [
        "configs/metadata.json"]
    table = embed_cohort(cases, bundle, tmp_path / "deep.parquet")
    assert table.num_rows == 0 and table.schema.names == deep_features_schema(
        EncoderSettings.from_config(TINY).latent_dim).names
    assert read_parquet(tmp_path / "deep.parquet")[1][NOT_FITTED_KEY] == reason


def test_two_lesions_train_through_the_same_entry(tmp_path):
    metadata = train_encoder_or_say_why(cohort(tmp_path)[:2], tmp_path / "model",
                                        EncoderSettings.from_config(TINY))
    assert metadata.get("fitted", True) and (tmp_path / "model/models/model.pt").is_file()
    assert embed_cohort(cohort(tmp_path)[:2], tmp_path / "model",
                        tmp_path / "deep.parquet").num_rows == 2


def test_empty_mask_names_the_lesion_and_file(tmp_path):
    cases = cohort(tmp_path)[:2]
    empty = case(tmp_path, "P9", 0.1, 300.0)  # a 0.1 mm sphere catches no voxel centre
    with pytest.raises(InputError) as error:
        train_encoder([*cases, empty], tmp_path / "model", EncoderSettings.from_config(TINY))
    assert str(error.value) == (f"{empty['mask']}: patient P9 lesion L1: the mask has no "
                                "lesion voxel")
    assert not (tmp_path / "model").exists()


def test_lesion_lost_in_resampling_is_named(tmp_path):
    """One 0.5 mm voxel: there in the mask, gone on the 2 mm model grid."""
    image, mask = write_lesion(tmp_path, "TINY", 0.3, 300.0, spacing=(0.5, 0.5, 0.5))
    data = np.zeros(SHAPE, np.uint8)
    data[3, 3, 3] = 1
    nib.save(nib.Nifti1Image(data, np.diag([0.5, 0.5, 0.5, 1.0])), mask)
    tiny = {"patient": "P5", "lesion": "L2", "modality": "CT", "image": str(image),
            "mask": str(mask)}
    with pytest.raises(InputError, match="patient P5 lesion L2: the mask has no lesion voxel "
                                         "after resampling to 2x2x2 mm"):
        preprocess_case(tiny, EncoderSettings.from_config(TINY))


def test_missing_and_unreadable_files(tmp_path):
    cases = cohort(tmp_path)[:2]
    missing = {**cases[1], "patient": "P7", "image": str(tmp_path / "nowhere.nii.gz")}
    with pytest.raises(InputError, match="nowhere.nii.gz: patient P7 lesion L1: image file "
                                         "not found"):
        train_encoder([cases[0], missing], tmp_path / "model", EncoderSettings.from_config(TINY))
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti")
    with pytest.raises(InputError, match="broken.nii.gz: patient P8 lesion L1: cannot read the "
                                         "mask \\(not a readable NIfTI"):
        preprocess_case({**cases[0], "patient": "P8", "mask": str(broken)},
                        EncoderSettings.from_config(TINY))


def test_image_and_mask_on_different_grids(tmp_path):
    first, second = cohort(tmp_path)[:2]
    other_grid = tmp_path / "shifted_mask.nii.gz"
    mask = nib.load(second["mask"])
    nib.save(nib.Nifti1Image(np.asarray(mask.dataobj), np.diag([3.0, 3.0, 3.0, 1.0])),
             other_grid)
    with pytest.raises(InputError, match="patient P0 lesion L1: image and mask are on different"):
        preprocess_case({**first, "mask": str(other_grid)}, EncoderSettings.from_config(TINY))


def test_cases_sheet_errors(tmp_path):
    sheet = tmp_path / "cases.tsv"
    sheet.write_text("patient\tlesion\tmodality\timage\n")
    with pytest.raises(InputError, match="cases.tsv: missing column\\(s\\) mask"):
        read_cases(sheet)
    first = cohort(tmp_path)[0]
    pd.DataFrame([first, {**first, "modality": "US"}]).to_csv(sheet, sep="\t", index=False)
    with pytest.raises(InputError, match="patient P0 lesion L1: modality must be one of CT, MR, "
                                         "PT, got 'US'"):
        read_cases(sheet)
    pd.DataFrame([first, first]).to_csv(sheet, sep="\t", index=False)
    with pytest.raises(InputError, match="patient P0 lesion L1: listed twice"):
        read_cases(sheet)


# ---------------------------------------------------------------------------------------------
# Command line

def test_cli_round_trip(tmp_path, capsys):
    cases = cohort(tmp_path)
    sheet = tmp_path / "cases.tsv"
    pd.DataFrame(cases).to_csv(sheet, sep="\t", index=False)
    config = tmp_path / "encoder.json"
    config.write_text(json.dumps(TINY))
    model_dir, output = tmp_path / "encoder", tmp_path / "deep.parquet"
    assert main(["train-image-encoder", "--cases", str(sheet), "--output", str(model_dir),
                 "--config", str(config), "--device", "cpu"]) == 0
    assert "trained on 6 lesions, 2 epochs on cpu" in capsys.readouterr().out
    assert main(["embed-images", "--cases", str(sheet), "--model", str(model_dir),
                 "--output", str(output)]) == 0
    df, _ = read_parquet(output, deep_features_schema(4))
    expected = embed_cases(cases, model_dir)
    assert np.array_equal(df.filter(like="deep_").to_numpy(),
                          expected.filter(like="deep_").to_numpy())
    benchmark = tmp_path / "benchmark.json"
    assert main(["deep-features-benchmark", "--cases", str(sheet), "--model", str(model_dir),
                 "--output", str(benchmark)]) == 0
    assert json.loads(benchmark.read_text())["n_cases"] == 6


def test_cli_bad_config_is_one_line(tmp_path, capsys):
    sheet = tmp_path / "cases.tsv"
    pd.DataFrame(cohort(tmp_path)[:2]).to_csv(sheet, sep="\t", index=False)
    config = tmp_path / "encoder.json"
    config.write_text(json.dumps({"epoch": 3}))
    assert main(["train-image-encoder", "--cases", str(sheet), "--output",
                 str(tmp_path / "model"), "--config", str(config)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"oncoweave train-image-encoder: error: {config}: unknown encoder "
                            "setting(s) epoch")
    assert not (tmp_path / "model").exists()
