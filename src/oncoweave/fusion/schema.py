"""Schemas of the fusion evaluation's per-patient outputs (``patient_predictions.parquet``,
``shap.parquet``), for the stages that read them (the reports) without the models' code."""

from __future__ import annotations

import pyarrow as pa

from oncoweave.core.tables import schema_field

PATIENT_PREDICTIONS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Pseudonymous patient id"),
    schema_field("risk", pa.float64(), "Out-of-fold fused risk: percent of the fold's training "
                 "patients the fold's model ranks below this patient (0-100, higher = worse)",
                 True),
    schema_field("risk_lower", pa.float64(), "2.5th percentile of the patient's risk percentile "
                 "over out-of-bag bootstrap refits", True),
    schema_field("risk_upper", pa.float64(), "97.5th percentile of the same", True),
    schema_field("risk_percentile", pa.float64(), "Median risk percentile over the out-of-bag "
                 "bootstrap refits", True),
    schema_field("risk_group", pa.string(), "high or low: out-of-fold risk above or below the "
                 "median of the fold's training patients; empty when survival was not evaluated"),
    schema_field("response_probability", pa.float64(), "Out-of-fold fused probability of "
                 "response (NaN when response was not evaluated)", True),
    schema_field("response_lower", pa.float64(), "2.5th percentile of the out-of-bag bootstrap "
                 "probabilities", True),
    schema_field("response_upper", pa.float64(), "97.5th percentile of the same", True),
    schema_field("modalities_used", pa.string(), "Modalities with at least one value for this "
                 "patient, comma-separated"),
    schema_field("modalities_missing", pa.string(), "Modalities of the model the patient has no "
                 "value of (the model scored them from the rest)"),
    schema_field("model", pa.string(), "The fused model: candidate chosen by inner CV on the "
                 "whole cohort, per task"),
])
SHAP_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Pseudonymous patient id"),
    schema_field("feature", pa.string(), "Column the fused survival model saw (a screened "
                 "feature or a modality's principal component)"),
    schema_field("modality", pa.string(), "Modality of the feature"),
    schema_field("value", pa.float64(), "The patient's value of it (null: missing)", True),
    schema_field("shap", pa.float64(), "Contribution to the patient's log hazard (SHAP)"),
])
