"""The ICB response model's design, importable for nothing (standard library only): the feature
columns the candidates read, their caps and valid values, the four candidates, and where the
bundled training table and model are."""

from __future__ import annotations

from dataclasses import dataclass

from oncoweave.core.paths import REPO_ROOT

BUNDLED_TRAINING_TABLE = REPO_ROOT / "resources" / "icb" / "chowell_train.csv"
BUNDLED_MODEL_DIR = REPO_ROOT / "resources" / "models" / "icb"

OUTCOME = "Response"
ID_COLUMNS = ("patient", "SAMPLE_ID")  # the first one present names the patient
CANCER_TYPE = "CancerType"
LORIS_NUMERIC = ("TMB", "Systemic_therapy_history", "Albumin", "NLR", "Age")
CHOWELL_NUMERIC = LORIS_NUMERIC + ("FCNA", "HED", "HLA_LOH", "MSI", "BMI", "Platelets", "HGB",
                                   "Sex", "Stage", "Drug")
# LORIS caps: beyond these values the training data are too sparse to extrapolate.
CAPS = {"TMB": 50.0, "NLR": 25.0, "Age": 85.0}
# The model's main predictor: a patient without it gets no probability (never imputed). Any other
# missing numeric feature takes the training cohort's median (ICBResponseModel.imputation_values_).
NEVER_IMPUTED = ("TMB",)
# The cancer-type level of a patient whose type is not a training type (or not given): every
# one-hot cancer-type term 0, i.e. the model's reference level (the intercept, which the L2
# penalty makes the pooled pan-cancer baseline of the training cohort).
OTHER_CANCER_TYPE = "other"
# Plausible values (low, high, unit); anything outside is bad input (a unit mix-up, a typo).
VALID_RANGES = {
    "TMB": (0.0, 1000.0, "mutations/Mb"), "Albumin": (0.5, 7.0, "g/dL"), "NLR": (0.0, 500.0, ""),
    "Age": (0.0, 130.0, "years"), "FCNA": (0.0, 1.0, "fraction"), "HED": (0.0, 100.0, ""),
    "BMI": (5.0, 150.0, "kg/m2"), "Platelets": (0.0, 5000.0, "10^9/L"),
    "HGB": (1.0, 30.0, "g/dL"), "Drug": (0.0, 2.0, ""),
}
# Columns without a range above (these and the outcome) must be 0 or 1.
BINARY = ("Systemic_therapy_history", "HLA_LOH", "MSI", "Sex", "Stage")
INTEGER_CODED = ("Drug",)

# Columns of the training table left out of every model, and why (written into the model card).
EXCLUDED_COLUMNS = {
    "SAMPLE_ID": "identifier",
    "Year of ICI treatment start": "calendar year, not a property of the patient",
    "PDL1_TPS(%)": "missing for 747 of 964 patients (169 of the 217 measured are NSCLC)",
    "CancerType_grouped": "coarser re-coding of CancerType",
    "CancerType1..18": "one-hot re-coding of CancerType",
    "PFS_Event": "outcome (leaks the response)", "PFS_Months": "outcome (leaks the response)",
    "OS_Event": "outcome (leaks the response)", "OS_Months": "outcome (leaks the response)",
}


@dataclass(frozen=True)
class Candidate:
    name: str
    numeric: tuple[str, ...]
    learner: str  # "logistic", "logistic_inner_cv" or "xgboost"

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + (CANCER_TYPE,)


CANDIDATES = {c.name: c for c in (
    Candidate("loris_logistic", LORIS_NUMERIC, "logistic"),
    Candidate("loris_logistic_inner_cv", LORIS_NUMERIC, "logistic_inner_cv"),
    Candidate("loris_xgboost", LORIS_NUMERIC, "xgboost"),
    Candidate("chowell16_logistic", CHOWELL_NUMERIC, "logistic"),
    Candidate("chowell16_xgboost", CHOWELL_NUMERIC, "xgboost"),
)}
# Six features that clinics record routinely, and LORIS generalised better than the 16-feature
# models on external cohorts (Chang et al. 2024); here no candidate's CV AUROC beats it beyond
# chance (paired bootstrap CIs of the difference all include 0).
DEFAULT_CANDIDATE = "loris_logistic"
INTERVAL_COVERAGE = 0.90
CV_SPLITS, METRIC_BOOTSTRAPS = 5, 1000
# The L2 strengths the "logistic_inner_cv" learner chooses from by an inner stratified CV (AUROC)
# within whatever data it is fitted on, so an outer test fold never informs the choice.
INNER_CV_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
