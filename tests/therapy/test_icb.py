"""ICB response model: CV metrics on the real Chowell cohort, the shipped model, predictions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.therapy import icb, icb_candidates, icb_tables

ONCOWEAVE = Path(sys.executable).with_name("oncoweave")
LORIS_FEATURES = ["TMB", "Systemic_therapy_history", "Albumin", "NLR", "Age", "CancerType"]

# Measured 5-fold CV (seed 0) on the 964 patients: (AUROC floor, AUPRC floor, Brier ceiling),
# i.e. the model card's estimates rounded against the model by 0.001.
MEASURED = {
    "loris_logistic": (0.720, 0.516, 0.182),
    "loris_xgboost": (0.713, 0.491, 0.186),
    "chowell16_logistic": (0.729, 0.514, 0.181),
    "chowell16_xgboost": (0.711, 0.499, 0.184),
}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ONCOWEAVE), "icb-response", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return icb_tables.read_table(icb_candidates.BUNDLED_TRAINING_TABLE)


@pytest.fixture(scope="module")
def retrained(tmp_path_factory) -> tuple[Path, dict]:
    """The training CLI rerun from scratch (few bootstrap refits, to stay fast)."""
    model_dir = tmp_path_factory.mktemp("icb_model")
    result = run_cli("train", "--table", str(icb_candidates.BUNDLED_TRAINING_TABLE),
                     "--output-dir", str(model_dir), "--n-bootstrap", "3")
    assert result.returncode == 0, result.stderr
    return model_dir, json.loads((model_dir / icb.CARD_FILE).read_text())


def test_cv_metrics_meet_measured_floors(retrained):
    card = retrained[1]
    assert card["training_data"]["patients"] == 964
    assert card["training_data"]["responders"] == 282
    for name, (auroc, auprc, brier) in MEASURED.items():
        metrics = card["cross_validation"]["candidates"][name]
        assert metrics["auroc"]["estimate"] >= auroc, name
        assert metrics["auprc"]["estimate"] >= auprc, name
        assert metrics["brier"]["estimate"] <= brier, name
        for metric in ("auroc", "auprc", "brier"):
            low, high = metrics[metric]["ci95"]
            assert low < metrics[metric]["estimate"] < high, (name, metric)
        # Better than predicting the responder rate for everyone, and calibrated
        # (measured slopes 1.01-1.07, mean predicted within 0.002 of the responder rate).
        assert metrics["brier"]["ci95"][1] < card["cross_validation"]["brier_of_prevalence"]
        # The card's reason to ship the LORIS logistic model: no candidate beats it beyond chance.
        if name != "loris_logistic":
            low, high = metrics["auroc_minus_loris_logistic"]["ci95"]
            assert low < 0 < high, name
        calibration = metrics["calibration"]
        assert 0.9 < calibration["slope"] < 1.1, name
        assert abs(calibration["mean_predicted"] - calibration["observed_rate"]) < 0.005, name


def assert_same_card_values(shipped, refit, where="card"):
    """Equal structure and text; numbers within 0.001. The same package versions on another CPU
    (another BLAS kernel) move a bootstrap mean or a calibration slope in the 4th decimal."""
    if isinstance(shipped, dict):
        assert shipped.keys() == refit.keys(), where
        for key in shipped:
            assert_same_card_values(shipped[key], refit[key], f"{where}.{key}")
    elif isinstance(shipped, list):
        assert len(shipped) == len(refit), where
        for i, (a, b) in enumerate(zip(shipped, refit)):
            assert_same_card_values(a, b, f"{where}[{i}]")
    elif isinstance(shipped, float) or isinstance(refit, float):
        assert shipped == pytest.approx(refit, abs=1e-3), (where, shipped, refit)
    else:
        assert shipped == refit, where


def test_shipped_model_is_what_the_code_and_data_give(retrained, cohort):
    model_dir, card = retrained
    shipped_card = json.loads((icb_candidates.BUNDLED_MODEL_DIR / icb.CARD_FILE).read_text())
    assert_same_card_values(shipped_card["cross_validation"], card["cross_validation"])
    assert shipped_card["training_data"] == card["training_data"]
    assert shipped_card["shipped_candidate"] == "loris_logistic"
    assert shipped_card["features"] == LORIS_FEATURES
    assert not set(shipped_card["features"]) & {"PFS_Months", "PFS_Event", "OS_Months",
                                                "OS_Event", "Response"}
    shipped, _ = icb.load_model(icb_candidates.BUNDLED_MODEL_DIR)
    refit, _ = icb.load_model(model_dir)
    X = icb_tables.parse_features(cohort.iloc[:100], shipped.features_)
    np.testing.assert_allclose(refit.predict_proba(X), shipped.predict_proba(X), rtol=1e-9)


def test_same_seed_same_model(cohort):
    X, y = icb_tables.training_data(cohort, tuple(LORIS_FEATURES))
    first, second = (icb.ICBResponseModel(n_bootstrap=2, random_state=7).fit(X, y)
                     for _ in range(2))
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    np.testing.assert_array_equal(first.predict_interval(X), second.predict_interval(X))


def test_predict_cli_keeps_order_and_gives_intervals(cohort, tmp_path):
    sample = cohort.sample(40, random_state=1)  # shuffled order
    table = tmp_path / "patients.csv"
    sample.to_csv(table, index=False)
    output = tmp_path / "icb.parquet"
    result = run_cli("predict", "--input", str(table), "--output", str(output))
    assert result.returncode == 0, result.stderr
    predictions, metadata = read_parquet(output, expected_schema=icb_tables.ICB_SCHEMA)
    assert predictions["patient"].tolist() == sample["SAMPLE_ID"].tolist()
    assert predictions["reason"].isna().all()
    assert (predictions["missing_features"] == "").all()
    p = predictions["response_probability"]
    assert ((0 < predictions["low"]) & (predictions["low"] <= p)).all()
    assert ((p <= predictions["high"]) & (predictions["high"] < 1)).all()
    assert metadata["icb_model"] == "oncoweave-icb-loris_logistic"
    # Calibrated: the mean predicted probability is near the responder rate of these patients.
    assert abs(p.mean() - sample["Response"].astype(int).mean()) < 0.12


def test_missing_features_are_reported_not_guessed():
    features = pd.DataFrame({
        "patient": ["complete", "no_albumin", "glioma", "lower_case"],
        "TMB": ["12", "12", "12", "12"], "Systemic_therapy_history": [0, 0, 0, 0],
        "Albumin": [4.0, None, 4.0, 4.0], "NLR": [3.0, 3.0, 3.0, 3.0],
        "Age": [64, 64, 64, 64], "CancerType": ["Melanoma", "Melanoma", "Glioma", "melanoma"],
    })
    out = icb.predict_response(features).set_index("patient")
    assert out.loc["complete", "response_probability"] > 0
    assert out.loc["lower_case", "response_probability"] == out.loc["complete",
                                                                    "response_probability"]
    assert np.isnan(out.loc["no_albumin", "response_probability"])
    assert out.loc["no_albumin", "missing_features"] == "Albumin"
    assert "missing Albumin" in out.loc["no_albumin", "reason"]
    assert np.isnan(out.loc["glioma", "high"])
    assert "'Glioma' is not one the model was trained on" in out.loc["glioma", "reason"]


def test_toy_clinical_sheet_gets_no_prediction():
    # The toy cohort's clinical sheet: its own column names, most cells empty.
    clinical = pd.DataFrame({"patient": ["P1", "P2"], "age": [61, None],
                             "cancer_type": ["NSCLC", None], "response": [None, None]})
    out = icb.predict_response(clinical)
    assert out["response_probability"].isna().all()
    assert (out["missing_features"] == ",".join(LORIS_FEATURES)).all()
    assert out["reason"].str.startswith("not available: missing TMB").all()


def test_bad_value_is_one_line_naming_row_and_column(cohort, tmp_path):
    table = cohort.head(3).copy()
    table.loc[table.index[1], "TMB"] = "high"
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    result = run_cli("predict", "--input", str(path), "--output", str(tmp_path / "out.parquet"))
    assert result.returncode == 2
    assert "bad.csv, row 3, column 'TMB': not a number: 'high'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("column, value, message", [
    ("Albumin", "35", "row 3, column 'Albumin': 35 is outside 0.5-7 g/dL"),  # g/L, not g/dL
    ("Systemic_therapy_history", "2", "row 3, column 'Systemic_therapy_history': 2 is not 0 or 1"),
    ("patient", None, "row 3, column 'patient': missing patient id"),
])
def test_implausible_values_are_input_errors(column, value, message):
    features = pd.DataFrame({"patient": ["A", "B"], "TMB": [5, 5],
                             "Systemic_therapy_history": [1, 1], "Albumin": [4, 4],
                             "NLR": [3, 3], "Age": [60, 60], "CancerType": ["NSCLC", "NSCLC"]})
    features[column] = features[column].astype(object)
    features.loc[1, column] = value
    with pytest.raises(InputError, match=message):
        icb.predict_response(features)


def test_training_table_needs_outcome_and_complete_rows(cohort):
    with pytest.raises(InputError, match="lacks column\\(s\\) Response"):
        icb_tables.training_data(cohort.drop(columns="Response"), tuple(LORIS_FEATURES))
    gap = cohort.copy()
    gap.loc[gap.index[4], "NLR"] = None
    with pytest.raises(InputError, match="row 6, column 'NLR': missing value"):
        icb_tables.training_data(gap, tuple(LORIS_FEATURES))


def test_model_file_must_match_its_card(tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(icb_candidates.BUNDLED_MODEL_DIR, model_dir)
    card = json.loads((model_dir / icb.CARD_FILE).read_text())
    card["model_file"]["sha256"] = "0" * 64
    (model_dir / icb.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(InputError, match="sha256 differs"):
        icb.load_model(model_dir)
