"""The driver scorer itself: xgboost trees on the driver features with Platt calibration.

``DriverModel`` follows scikit-learn (fit/predict_proba, learned state ending in '_') and saves
as a MONAI-bundle-like folder: the xgboost JSON and the calibration (``drivers.training`` writes
the model card beside them). xgboost and scikit-learn load when a model is fitted, loaded or
applied, not on import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD, SEED
from oncoweave.drivers.features import FEATURES

if TYPE_CHECKING:
    import xgboost as xgb

MODEL_FILE = "driver_model.json"
CALIBRATION_FILE = "calibration.json"
XGB_PARAMS = {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.8,
              "colsample_bytree": 0.8, "min_child_weight": 2, "tree_method": "hist",
              "n_jobs": 2}
CV_FOLDS = 5


class DriverModel:
    """Gradient-boosted trees on FEATURES; scores are Platt-calibrated out-of-fold margins."""

    def __init__(self, seed: int = SEED, feature_names: tuple[str, ...] = tuple(FEATURES),
                 params: dict | None = None):
        self.seed = seed
        self.feature_names = tuple(feature_names)
        self.params = {**XGB_PARAMS, **(params or {})}

    def _classifier(self) -> xgb.XGBClassifier:
        import xgboost as xgb

        return xgb.XGBClassifier(**self.params, random_state=self.seed, eval_metric="logloss")

    def _matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        return features.loc[:, list(self.feature_names)]

    def _predict(self, features: pd.DataFrame, **kind) -> np.ndarray:
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(self._matrix(features)), **kind)

    def fit(self, features: pd.DataFrame, labels, groups) -> "DriverModel":
        """Fit the trees on all rows; fit the calibration on grouped out-of-fold margins, so
        the calibration never sees a margin from trees that trained on the same residue."""
        import xgboost as xgb
        from sklearn.linear_model import LogisticRegression

        X, y = self._matrix(features), np.asarray(labels, dtype=int)
        margins = np.zeros(len(y))
        for train, test in residue_folds(y, groups, self.seed, n_splits=3):
            booster = self._classifier().fit(X.iloc[train], y[train]).get_booster()
            margins[test] = booster.predict(xgb.DMatrix(X.iloc[test]), output_margin=True)
        platt = LogisticRegression(C=1e6).fit(margins.reshape(-1, 1), y)
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.booster_ = self._classifier().fit(X, y).get_booster()
        return self

    def predict(self, features: pd.DataFrame,
                threshold: float = DEFAULT_DRIVER_THRESHOLD) -> np.ndarray:
        """1 where the calibrated score reaches `threshold` (a driver call), else 0."""
        return (self.predict_proba(features) >= threshold).astype(int)

    def margin(self, features: pd.DataFrame) -> np.ndarray:
        return self._predict(features, output_margin=True)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a damaging driver, in [0, 1]."""
        slope, intercept = self.calibration_
        return 1 / (1 + np.exp(-(slope * self.margin(features) + intercept)))

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-feature SHAP values (xgboost pred_contribs) in calibrated log-odds units."""
        raw = self._predict(features, pred_contribs=True)
        return pd.DataFrame(raw[:, :-1] * self.calibration_[0], index=features.index,
                            columns=list(self.feature_names))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(directory / MODEL_FILE)
        (directory / CALIBRATION_FILE).write_text(json.dumps(
            {"platt_slope": self.calibration_[0], "platt_intercept": self.calibration_[1],
             "features": list(self.feature_names), "seed": self.seed, "params": self.params},
            indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "DriverModel":
        import xgboost as xgb

        directory = Path(directory)
        settings = json.loads((directory / CALIBRATION_FILE).read_text())
        model = cls(settings["seed"], tuple(settings["features"]), settings["params"])
        model.calibration_ = (settings["platt_slope"], settings["platt_intercept"])
        model.booster_ = xgb.Booster()
        model.booster_.load_model(directory / MODEL_FILE)
        return model


def residue_folds(y: np.ndarray, groups, seed: int, n_splits: int = CV_FOLDS):
    """Stratified folds that keep every residue group in one fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return splitter.split(np.zeros(len(y)), y, np.asarray(groups))
