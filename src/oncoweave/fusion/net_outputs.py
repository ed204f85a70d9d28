"""The fusion network's outputs for a cohort (rule train_fusion): the fitted bundle and each
patient's fused representation, or, for a cohort the Cox-trained network cannot be fitted on (no
survival outcome, no observed event), a not-fitted bundle and an empty representation that say why
(core.model_status). find_similar_patients then compares patients on their features instead.

Imports torch (through fusion.net) when imported: import it where it is used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa

from oncoweave.core.model_status import NOT_FITTED_KEY, write_not_fitted_bundle
from oncoweave.core.tables import schema_field, write_parquet
from oncoweave.fusion.net import FusionSurvivalModel, bundle_provenance
from oncoweave.fusion.net_settings import FusionNetSettings

log = logging.getLogger(__name__)


def fused_embedding_schema(embedding_dim: int) -> pa.Schema:
    return pa.schema([schema_field("patient", pa.string(), "Patient id from the sample sheet"),
                      *(schema_field(f"fused_{i:03d}", pa.float64(),
                                     "Fused patient representation of the fusion network; null "
                                     "for a patient without any modality", nullable=True)
                        for i in range(embedding_dim))])


def cox_fit_blocker(time: Sequence, event: Sequence) -> str | None:
    """Why the network cannot be trained on these outcomes, or None: its Cox loss needs a patient
    with follow-up and an observed event, which a legal cohort may lack (a header-only clinical
    sheet, everyone censored). Values that are not numbers are left to the network's own checks."""
    time = pd.to_numeric(pd.Series(list(time)), errors="coerce")
    event = pd.to_numeric(pd.Series(list(event)), errors="coerce")
    known = time.notna() & event.notna()
    if not known.any():
        return ("no patient has a survival outcome (os_months and os_event in the clinical "
                "sheet): the network is trained on survival")
    if not (event[known] == 1).any():
        return (f"no observed event among the {int(known.sum())} patients with follow-up (all "
                "censored): the network's Cox loss needs one")
    return None


def fit_on_patient_features(features: pd.DataFrame, modality_map: Mapping[str, Sequence[str]],
                            settings: FusionNetSettings, device: str | None = None
                            ) -> tuple[FusionSurvivalModel, pd.DataFrame]:
    """Fit on every patient of a patient-feature table (os_months, os_event, response); return
    the model and the (patient, fused_000 ...) table of its fused representation."""
    X = features.set_index("patient")
    columns = [column for group in modality_map.values() for column in group]
    model = FusionSurvivalModel(settings, device=device).fit(
        X[columns], modality_map, X["os_months"].astype(float), X["os_event"].astype(float),
        response=X["response"].astype(float) if X["response"].notna().any() else None)
    embedding = model.embed(X[columns])
    table = pd.DataFrame(embedding, columns=[f"fused_{i:03d}" for i in range(embedding.shape[1])])
    table.insert(0, "patient", list(X.index))
    return model, table


def write_fusion_outputs(features: pd.DataFrame, modality_map: Mapping[str, Sequence[str]],
                         settings: FusionNetSettings, model_dir: str | Path,
                         embedding_path: str | Path, provenance: Mapping[str, str],
                         device: str | None = None) -> str | None:
    """Fit and write the bundle and the representation; return None, or the reason the network
    was not fitted (then the bundle holds only its metadata and the representation no rows)."""
    schema = fused_embedding_schema(settings.embedding_dim)
    reason = cox_fit_blocker(features["os_months"], features["os_event"])
    if reason is None:
        model, embedding = fit_on_patient_features(features, modality_map, settings, device)
        model.save(model_dir)
        write_parquet(embedding, embedding_path, schema, dict(provenance))
        return None
    log.warning("fusion network not fitted: %s", reason)
    write_not_fitted_bundle(model_dir, reason, {
        **bundle_provenance(), "seed": settings.seed, "settings": settings.to_dict(), "modality_map": dict(modality_map),
        "n_patients": len(features)})
    write_parquet(pd.DataFrame(columns=schema.names), embedding_path, schema,
                  {**provenance, NOT_FITTED_KEY: reason})
    return reason
