"""The torch fusion network: fusion beats single modalities, missing modalities, determinism,
the model directory, the response head, settings and bad inputs."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

from helpers import SHARED_DATA
from oncoweave.core.errors import InputError
from oncoweave.fusion.net import FusionSurvivalModel
from oncoweave.fusion.net_inputs import ModalityStats
from oncoweave.fusion.net_modules import cox_loss, drop_modalities
from oncoweave.fusion.net_settings import FusionNetSettings

MCAT_BLCA = SHARED_DATA / "tcga_blca_mcat"


def synthetic_cohort(n: int, seed: int, n_columns: int = 20, missing: float = 0.05):
    """Modalities a and b each carry one latent (log hazard = a + b), z is noise; 5 % of cells
    are missing. Returns (X, modality map, time, event, response, true log hazard)."""
    rng = np.random.default_rng(seed)
    latent = {"a": rng.normal(size=n), "b": rng.normal(size=n), "z": rng.normal(size=n)}
    blocks = []
    for name, values in latent.items():
        loadings = rng.uniform(0.5, 1.0, n_columns)
        noisy = values[:, None] * loadings + rng.normal(size=(n, n_columns))
        blocks.append(pd.DataFrame(noisy, columns=[f"{name}_{i:02d}" for i in range(n_columns)]))
    X = pd.concat(blocks, axis=1)
    X = X.mask(rng.random(X.shape) < missing)
    X.index = [f"S{i:03d}" for i in range(n)]
    log_hazard = latent["a"] + latent["b"]
    event_time = rng.exponential(10 / np.exp(log_hazard))
    censoring = rng.exponential(15, n)
    time, event = np.minimum(event_time, censoring), (event_time <= censoring).astype(float)
    response = (log_hazard + rng.normal(scale=0.7, size=n) > 0).astype(float)
    modality_map = {name: [c for c in X.columns if c.startswith(f"{name}_")] for name in latent}
    return X, modality_map, time, event, response, log_hazard


def c_index(time, event, risk) -> float:
    return concordance_index_censored(np.asarray(event, bool), time, risk)[0]


@pytest.fixture(scope="module")
def train():
    return synthetic_cohort(300, seed=1)


@pytest.fixture(scope="module")
def test():
    return synthetic_cohort(300, seed=2)


@pytest.fixture(scope="module")
def fused(train) -> FusionSurvivalModel:
    X, modality_map, time, event, response, _ = train
    return FusionSurvivalModel(device="cpu").fit(X, modality_map, time, event, response)


def small(train, n: int = 60):
    X, modality_map, time, event, response, _ = train
    return X.iloc[:n], modality_map, time[:n], event[:n], response[:n]


QUICK = FusionNetSettings(epochs=20, seed=3)


# ---------------------------------------------------------------------------------------------
# What the model learns

def test_fusion_beats_each_single_modality(train, test, fused):
    X, modality_map, time, event, response, _ = train
    X_test, _, time_test, event_test, _, truth = test
    fused_c = c_index(time_test, event_test, fused.predict_risk(X_test))
    single_c = {name: c_index(time_test, event_test, FusionSurvivalModel(device="cpu").fit(
        X, {name: modality_map[name]}, time, event).predict_risk(X_test)) for name in "ab"}
    oracle = c_index(time_test, event_test, truth)
    assert fused_c > 0.72  # measured 0.77; the true log hazard gives 0.80
    assert fused_c > max(single_c.values()) + 0.03, (fused_c, single_c)  # 0.70 and 0.68
    assert fused_c < oracle


def test_response_head_learns_the_response(test, fused):
    X_test, _, _, _, response, _ = test
    probability = fused.predict_response(X_test)
    assert ((probability > 0) & (probability < 1)).all()
    assert roc_auc_score(response, probability) > 0.8  # measured 0.88


def test_a_missing_modality_still_gets_a_prediction(test, fused):
    X_test, modality_map, time, event, _, _ = test
    full = fused.predict_risk(X_test)
    without_b = X_test.copy()
    without_b[modality_map["b"]] = np.nan
    risk_without_b = fused.predict_risk(without_b)
    assert np.isfinite(risk_without_b).all()
    # Only a is left (half the signal): still concordant, and correlated with the full risk.
    assert c_index(time, event, risk_without_b) > 0.62  # measured 0.69
    assert np.corrcoef(full, risk_without_b)[0, 1] > 0.6  # measured 0.69
    without_noise = X_test.copy()
    without_noise[modality_map["z"]] = np.nan
    assert np.corrcoef(full, fused.predict_risk(without_noise))[0, 1] > 0.85  # measured 0.96
    assert fused.present_modalities(without_b)["b"].sum() == 0


def test_absent_modalities_are_left_out_of_the_mean(test, fused):
    X_test, modality_map, _, _, _, _ = test
    without_b = X_test.iloc[:5].copy()
    without_b[modality_map["b"]] = np.nan
    inputs, present = fused._network_inputs(without_b)
    assert present.tolist() == [[True, False, True]] * 5
    with torch.no_grad():
        a, _, z = (fused.network_.encoders[name](torch.as_tensor(block, dtype=torch.float32))
                   for name, block in zip("abz", inputs))
    np.testing.assert_allclose(fused.embed(without_b), ((a + z) / 2).double().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_a_patient_with_nothing_gets_nan_not_a_guess(test, fused, caplog):
    X_test = test[0].iloc[:3].copy()
    X_test.iloc[1] = np.nan
    with caplog.at_level(logging.WARNING, logger="oncoweave.fusion.net"):
        risk = fused.predict_risk(X_test)
    assert np.isfinite(risk[[0, 2]]).all() and np.isnan(risk[1])
    assert "1 patient(s) have no value in any modality" in caplog.text


def test_embedding_is_the_fused_vector(test, fused):
    X_test = test[0]
    embedding = fused.embed(X_test)
    assert embedding.shape == (len(X_test), 16)
    assert np.isfinite(embedding).all()
    # The risk head is linear in the embedding.
    head = fused.network_.risk_head
    risk = embedding @ head.weight.detach().double().numpy()[0] + head.bias.item()
    np.testing.assert_allclose(risk, fused.predict_risk(X_test), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Missing cells, modality dropout, the Cox loss

def test_missing_cells_get_the_training_median_and_an_indicator():
    values = np.array([[1.0, 5.0], [2.0, 7.0], [10.0, np.nan], [np.nan, np.nan]])
    stats = ModalityStats.fit(values, ["x", "y"])
    assert stats.median.tolist() == [2.0, 6.0]
    assert stats.indicator.tolist() == [False, True]  # x is missing only in an absent row
    out = stats.transform(np.array([[np.nan, np.nan], [1.0, 5.0]]))
    assert out.shape == (2, 3)  # x, y, y's indicator
    mean_y, scale_y = 6.0, 1.0
    assert out[0, 0] == pytest.approx((2.0 - 13 / 3) / np.std([1.0, 2.0, 10.0]))  # not zero
    assert out[0, 1] == pytest.approx((6.0 - mean_y) / scale_y)
    assert out[:, 2].tolist() == [1.0, 0.0]


def test_fitted_statistics_come_from_the_training_rows(train):
    X, modality_map, time, event, response = small(train)
    X = X.copy()
    X["a_00"] = np.nan  # no value in training: dropped, not zero-filled
    model = FusionSurvivalModel(QUICK, device="cpu").fit(X, modality_map, time, event)
    stats = model.modality_stats_["a"]
    assert "a_00" not in stats.columns and "a_00" not in model.columns_
    np.testing.assert_allclose(stats.median, np.nanmedian(X[stats.columns], axis=0))
    np.testing.assert_allclose(stats.mean, np.nanmean(X[stats.columns], axis=0))
    flagged = X[stats.columns].isna().any().to_numpy()
    assert stats.indicator.tolist() == flagged.tolist() and flagged.any()


def test_modality_dropout_keeps_one_present_modality():
    present = torch.tensor([[True, True, True], [True, False, False], [False, False, False],
                            [False, True, True]]).repeat(50, 1)
    kept = drop_modalities(present, 0.9, torch.Generator().manual_seed(0))
    assert not (kept & ~present).any()  # absent stays absent
    assert (kept.sum(dim=1)[present.any(dim=1)] >= 1).all()
    assert not kept[~present.any(dim=1)].any()
    # At p = 0.9 nearly every row keeps just its one rescued modality (150 rows have some).
    assert 150 <= kept.sum() < 180
    assert torch.equal(drop_modalities(present, 0.0, torch.Generator()), present)


def test_cox_loss_by_hand():
    # Two events tied at t=1 (Breslow: both risk sets are all three patients), one censored.
    risk = torch.tensor([0.0, np.log(2.0), 0.0])
    loss = cox_loss(risk, torch.tensor([1.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0]))
    assert loss.item() == pytest.approx((np.log(4) + np.log(4) - np.log(2)) / 2)


def test_cox_loss_is_minimised_at_sksurv_breslow_coefficients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    time = np.ceil(rng.exponential(5 / np.exp(x @ [0.8, -0.5])))  # whole months: many ties
    event = rng.random(200) < 0.7
    y = Surv.from_arrays(event, time)
    grads = {}
    for ties in ("breslow", "efron"):
        coef = CoxPHSurvivalAnalysis(ties=ties).fit(x, y).coef_
        beta = torch.tensor(coef, dtype=torch.float64, requires_grad=True)
        cox_loss(torch.tensor(x) @ beta, torch.tensor(time), torch.tensor(event, dtype=float)
                 ).backward()
        grads[ties] = beta.grad.abs().max().item()
    assert grads["breslow"] < 1e-6
    assert grads["efron"] > 1e-3  # the tie handling matters, and the loss is Breslow's


# ---------------------------------------------------------------------------------------------
# Determinism, device, saving

def test_same_seed_same_weights_and_the_callers_state_is_left_alone(train):
    X, modality_map, time, event, response = small(train)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = FusionSurvivalModel(QUICK, device="cpu").fit(X, modality_map, time, event, response)
    assert torch.equal(torch.rand(1), expected_next)  # the global RNG was not consumed
    assert not torch.are_deterministic_algorithms_enabled()
    second = FusionSurvivalModel(QUICK, device="cpu").fit(X, modality_map, time, event, response)
    for key, value in first.network_.state_dict().items():
        assert torch.equal(value, second.network_.state_dict()[key]), key
    assert np.array_equal(first.predict_risk(X), second.predict_risk(X))
    assert first.loss_curve_ == second.loss_curve_
    other = FusionSurvivalModel(FusionNetSettings(epochs=20, seed=4), device="cpu").fit(
        X, modality_map, time, event, response)
    assert not np.allclose(first.predict_risk(X), other.predict_risk(X))


def test_cuda_is_chosen_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert FusionSurvivalModel().torch_device().type == "cuda"
    assert FusionSurvivalModel(device="cpu").torch_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert FusionSurvivalModel().torch_device().type == "cpu"


def test_save_and_load_give_identical_predictions(tmp_path, test, fused):
    X_test = test[0]
    metadata = fused.save(tmp_path / "model")
    assert (tmp_path / "model" / "models" / "model.pt").is_file()
    stored = json.loads((tmp_path / "model" / "configs" / "metadata.json").read_text())
    assert stored == json.loads(json.dumps(metadata))
    assert stored["seed"] == 0 and stored["device"] == "cpu" and stored["has_response"] is True
    assert len(stored["loss_curve"]) == FusionNetSettings().epochs
    assert stored["modality_map"] == fused.modality_map_
    assert stored["settings"] == FusionNetSettings().to_dict()
    assert stored["preprocessing"]["a"]["indicator_columns"]
    loaded = FusionSurvivalModel.load(tmp_path / "model")
    assert np.array_equal(loaded.predict_risk(X_test), fused.predict_risk(X_test))
    assert np.array_equal(loaded.predict_response(X_test), fused.predict_response(X_test))
    assert np.array_equal(loaded.embed(X_test), fused.embed(X_test))
    assert loaded.loss_curve_ == fused.loss_curve_


def test_two_fits_save_identical_files_without_timings(tmp_path, train, caplog):
    """The fit's duration is logged and kept in memory, not saved: the files compare byte for
    byte across runs."""
    X, modality_map, time, event, response = small(train)
    for name in ("first", "second"):
        with caplog.at_level(logging.INFO, logger="oncoweave.fusion.net"):
            model = FusionSurvivalModel(QUICK, device="cpu").fit(X, modality_map, time, event,
                                                                 response)
        assert model.training_seconds_ > 0
        model.save(tmp_path / name)
    assert " s (final loss " in caplog.text
    for relative in ("models/model.pt", "configs/metadata.json"):
        assert (tmp_path / "first" / relative).read_bytes() == \
            (tmp_path / "second" / relative).read_bytes(), relative
    text = (tmp_path / "first" / "configs" / "metadata.json").read_text()
    assert not any(word in text for word in ("second", "elapsed", "duration"))


def test_load_refuses_a_directory_without_a_model(tmp_path):
    with pytest.raises(InputError, match="models/model.pt is missing"):
        FusionSurvivalModel.load(tmp_path)


# ---------------------------------------------------------------------------------------------
# Training options

def test_early_stopping_keeps_the_best_epoch(train, caplog):
    X, modality_map, time, event, response = small(train, 200)
    settings = FusionNetSettings(epochs=500, validation_fraction=0.25, patience=10,
                                 learning_rate=1e-2, log_every=5)
    with caplog.at_level(logging.INFO, logger="oncoweave.fusion.net"):
        model = FusionSurvivalModel(settings, device="cpu").fit(X, modality_map, time, event)
    epochs = len(model.loss_curve_)
    assert epochs < 500 and epochs == model.best_epoch_ + 10
    assert len(model.validation_curve_) == epochs
    assert min(model.validation_curve_) == model.validation_curve_[model.best_epoch_ - 1]
    assert "epoch 5/500: loss" in caplog.text and "stopping, keeping epoch" in caplog.text


def test_mini_batches_and_attention_train(train, test):
    X, modality_map, time, event, response, _ = train
    X_test, _, time_test, event_test, _, _ = test
    settings = FusionNetSettings(batch_size=64, epochs=30, fusion="attention")
    model = FusionSurvivalModel(settings, device="cpu").fit(X, modality_map, time, event)
    assert c_index(time_test, event_test, model.predict_risk(X_test)) > 0.72  # measured 0.78


def test_a_toy_sized_cohort_trains(train):
    X, modality_map, time, event, response = small(train, 8)
    event = np.array([1, 0, 0, 1, 0, 0, 0, 0], float)
    response = np.array([1, 0, np.nan, np.nan, 0, 1, np.nan, 0])
    model = FusionSurvivalModel(device="cpu").fit(X, modality_map, time, event, response)
    assert np.isfinite(model.predict_risk(X)).all()
    assert np.isfinite(model.predict_response(X)).all()


# ---------------------------------------------------------------------------------------------
# Settings and bad inputs

def test_settings_from_config():
    settings = FusionNetSettings.from_config({"epochs": 5, "learning_rate": 1,
                                              "fusion": "attention"})
    assert settings.epochs == 5 and settings.learning_rate == 1.0 and settings.fusion == "attention"
    with pytest.raises(InputError, match=r"unknown fusion network setting\(s\) epoch, lr "):
        FusionNetSettings.from_config({"epoch": 5, "lr": 0.1})
    with pytest.raises(InputError, match="epochs: bad value 2.5"):
        FusionNetSettings.from_config({"epochs": 2.5})
    with pytest.raises(InputError, match="dropout must be in .0, 1.; fusion must be one of"):
        FusionNetSettings.from_config({"dropout": 1.5, "fusion": "max"})


def test_bad_outcomes_name_the_patient(train):
    X, modality_map, time, event, response = small(train)
    bad_event = event.copy()
    bad_event[4] = 2
    with pytest.raises(InputError, match="patient S004: event must be 1 .observed. or 0"):
        FusionSurvivalModel(QUICK).fit(X, modality_map, time, bad_event)
    bad_time = time.copy()
    bad_time[7] = -1
    with pytest.raises(InputError, match="patient S007: time must be finite and >= 0"):
        FusionSurvivalModel(QUICK).fit(X, modality_map, bad_time, event)
    with pytest.raises(InputError, match="patient S001: response must be 1, 0 or missing"):
        FusionSurvivalModel(QUICK).fit(X, modality_map, time, event, np.full(len(X), 3.0) - 2 *
                                       (np.arange(len(X)) != 1))
    with pytest.raises(InputError, match="no observed event"):
        FusionSurvivalModel(QUICK).fit(X, modality_map, time, np.zeros(len(X)))
    with pytest.raises(InputError, match="time has 59 values for 60 patients"):
        FusionSurvivalModel(QUICK).fit(X, modality_map, time[1:], event)


def test_bad_features_are_named(train, fused):
    X, modality_map, time, event, response = small(train)
    text = X.assign(a_03=np.where(np.arange(len(X)) == 5, "high", "1.0"))
    with pytest.raises(InputError, match="column 'a_03'.*numeric"):
        FusionSurvivalModel(QUICK).fit(text, modality_map, time, event)
    with pytest.raises(InputError, match="column 'a_01' is in modalities 'a' and 'b'"):
        FusionSurvivalModel(QUICK).fit(X, {**modality_map, "b": ["a_01"]}, time, event)
    with pytest.raises(InputError, match="lacks column.s. b_02 of the modality map"):
        fused.predict_risk(X.drop(columns="b_02"))
    no_response = FusionSurvivalModel(QUICK, device="cpu").fit(X, modality_map, time, event)
    with pytest.raises(InputError, match="fitted without response labels"):
        no_response.predict_response(X)


# ---------------------------------------------------------------------------------------------
# Real data (TCGA-BLCA, MCAT folds; GPL-3.0-derived, so used only from the shared data)

@pytest.mark.skipif(not MCAT_BLCA.is_dir(), reason="TCGA-BLCA MCAT table not in the shared data")
def test_tcga_blca_fold_beats_the_genomic_only_baseline():
    table = pd.read_csv(MCAT_BLCA / "tcga_blca_all_clean_sig.csv.gz")
    table = table.drop_duplicates("case_id").set_index("case_id")
    modality_map = {"rna": [c for c in table.columns if c.endswith("_rnaseq")],
                    "cnv": [c for c in table.columns if c.endswith("_cnv")],
                    "clinical": ["age", "is_female"]}
    split = pd.read_csv(MCAT_BLCA / "splits" / "splits_0.csv")
    train, val = table.loc[split["train"].dropna()], table.loc[split["val"].dropna()]
    model = FusionSurvivalModel(device="cpu").fit(train, modality_map, train["survival_months"],
                                                  1 - train["censorship"])
    c = c_index(val["survival_months"], 1 - val["censorship"], model.predict_risk(val))
    # Fold 0: measured 0.617 (5-fold mean 0.589); MCAT's genomic-only SNN: 0.541 mean.
    assert c > 0.57
