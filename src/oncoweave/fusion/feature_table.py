"""What a patient feature table is (one row per patient, every modality's features side by
side): its columns and their meaning, its schema, its modality map, and reading and writing it.

:func:`oncoweave.fusion.patient_features.build_patient_features` builds it from the cohort's
tables, one row per patient of the sample sheet, in sheet order. Columns (the fusion models and
the similar-patient search find each modality's columns by prefix, see :func:`modality_map`):

- ``patient``; outcomes ``os_months`` (float), ``os_event`` (1 = event observed, 0 = censored),
  ``response`` (1 = RECIST CR/PR or 1, 0 = SD/PD or 0; null when not assessed); report columns
  ``cancer_type``, ``treatment`` (the clinical sheet's text), ``image_lesion``, ``image_modality``
  (the lesion whose imaging features the row holds).
- genomic ``gen_``: per gene of ``DRIVER_GENES`` ``gen_<GENE>_driver`` (1 when a PASS somatic, LOH
  or tumour-only call has driver_score >= the threshold), ``gen_<GENE>_max_driver_score`` (the
  largest driver_score of those calls), ``gen_<GENE>_germline_pathogenic`` (BRCA1/BRCA2: a PASS
  germline or LOH call, i.e. a variant also in the normal, with driver_score >= the threshold),
  ``gen_<GENE>_loh`` (a PASS call whose normal is heterozygous and tumour homozygous); ``gen_tmb``
  (the TMB when reportable).
- radiomics ``rad_<pyradiomics name>``, deep ``deep_000``..., cnn ``img_cnn_prob`` (the lesion
  classifier's out-of-fold probability of its label; for the response task this is a stacked
  estimate of the target itself, made on the classifier's own folds), clinical ``clin_age``,
  ``clin_sex_female``, ``clin_stage`` (0, I=1 .. IV=4; sub-stages A-C dropped),
  ``clin_cancer_type_<slug>`` (one-hot) and ``clin_<name>`` for extra numeric sheet columns.

Missing stays missing, never zero: a patient without an image has NaN in every rad_/deep_ column,
a patient without a matched normal NaN germline/LOH flags (a tumour-only call cannot be told
germline or somatic, so it counts in gen_<GENE>_driver whatever its origin), a patient without a
clinical row NaN clinical features. A gene sequenced without a scored call is a true 0 (driver
flag 0, max score 0.0): the panel covers the four genes, so no call is evidence of no driver. A
modality whose input is not given has no columns at all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet, require_columns, schema_field, write_parquet
from oncoweave.variants import statuses

ID_COLUMN = "patient"
OUTCOME_COLUMNS = ("os_months", "os_event", "response")
INFO_COLUMNS = ("cancer_type", "treatment", "image_lesion", "image_modality")
MODALITY_PREFIXES = {"genomic": "gen_", "radiomics": "rad_", "deep": "deep_", "cnn": "img_",
                     "clinical": "clin_"}
# What the gen_ columns count (from drivers.defaults.DEFAULT_DRIVER_THRESHOLD on, by default).
GERMLINE_GENES = ("BRCA1", "BRCA2")
TUMOUR_STATUSES = frozenset(statuses.TUMOUR_STATUSES)
GERMLINE_STATUSES = frozenset(statuses.GERMLINE_STATUSES)  # LOH calls are germline variants too
VOLUME_FEATURE = "original_shape_VoxelVolume"


def modality_map(columns: Sequence[str]) -> dict[str, list[str]]:
    """Modality -> its feature columns, recognised by prefix (gen_, rad_, deep_, clin_), in
    column order; modalities without columns are left out."""
    groups: dict[str, list[str]] = {}
    for modality, prefix in MODALITY_PREFIXES.items():
        found = [str(c) for c in columns if str(c).startswith(prefix)]
        if found:
            groups[modality] = found
    return groups


_FIXED_FIELDS = {
    "patient": schema_field("patient", pa.string(), "Patient id from the sample sheet"),
    "os_months": schema_field("os_months", pa.float64(), "Overall survival or follow-up, months; "
                              "null when unknown", True),
    "os_event": schema_field("os_event", pa.int64(), "1 = death observed, 0 = censored at "
                             "os_months; null when unknown", True),
    "response": schema_field("response", pa.int64(), "Treatment response: 1 = CR/PR, 0 = SD/PD; "
                             "null when not assessed", True),
    "cancer_type": schema_field("cancer_type", pa.string(), "Cancer type (clinical sheet), for "
                                "reports; the features are clin_cancer_type_*", True),
    "treatment": schema_field("treatment", pa.string(), "Treatment (clinical sheet), for reports",
                              True),
    "image_lesion": schema_field("image_lesion", pa.string(), "Lesion(s) whose rad_/deep_ "
                                 "features the row holds (';'-joined when averaged); null without "
                                 "image", True),
    "image_modality": schema_field("image_modality", pa.string(), "Modality of that lesion (CT, "
                                   "MR, PT); null without image", True),
}
_GENOMIC_DESCRIPTIONS = {
    "driver": "1 if a PASS somatic/LOH/tumour-only {gene} call has driver_score >= the threshold, "
              "else 0; null without genomic data",
    "max_driver_score": "Largest driver_score of the PASS somatic/LOH/tumour-only {gene} calls; "
                        "0 when none (gene sequenced, no call)",
    "germline_pathogenic": "1 if a PASS germline or LOH {gene} call (also in the normal) has "
                           "driver_score >= the threshold, else 0; null without a matched normal",
    "loh": "1 if a PASS {gene} call is LOH (heterozygous in the normal, homozygous in the "
           "tumour), else 0; null without a matched normal",
}


def _feature_description(name: str) -> str:
    if name == "gen_tmb":
        return "Tumour mutational burden (mut/Mb) when reportable; null otherwise"
    match = re.fullmatch(r"gen_([A-Z0-9]+)_(driver|max_driver_score|germline_pathogenic|loh)",
                         name)
    if match:
        return _GENOMIC_DESCRIPTIONS[match[2]].format(gene=match[1])
    if name.startswith("rad_"):
        return (f"pyradiomics {name[4:]} of the patient's lesion (largest by voxel volume, or "
                "mean of its lesions); null without image")
    if name.startswith("deep_"):
        return ("Deep image feature (cohort-trained encoder latent coordinate) of the patient's "
                "lesion; null without image")
    known = {"clin_age": "Age at diagnosis, years",
             "clin_sex_female": "1 = female, 0 = male",
             "clin_stage": "Stage at diagnosis, ordinal: 0, I = 1 .. IV = 4 (sub-stage dropped)"}
    if name in known:
        return known[name] + "; null when unknown"
    if name.startswith("clin_cancer_type_"):
        return "1 if the cancer type is " + name[len("clin_cancer_type_"):] + ", else 0; null " \
               "when unknown"
    return f"Clinical sheet column {name[5:]} (number); null when empty"


def patient_features_schema(columns: Sequence[str]) -> pa.Schema:
    """The schema of a patient feature table with these columns (in this order): the id,
    outcome and report columns fixed, every gen_/rad_/deep_/clin_ column float64, nullable."""
    columns = [str(c) for c in columns]
    missing = [name for name in (ID_COLUMN, *OUTCOME_COLUMNS) if name not in columns]
    if missing:
        raise InputError(f"patient feature table lacks column(s) {', '.join(missing)}")
    fields = []
    for name in columns:
        if name in _FIXED_FIELDS:
            fields.append(_FIXED_FIELDS[name])
        elif name.startswith(tuple(MODALITY_PREFIXES.values())):
            fields.append(schema_field(name, pa.float64(), _feature_description(name), True))
        else:
            raise InputError(f"column {name!r} is neither an id/outcome/report column nor a "
                             f"feature ({', '.join(MODALITY_PREFIXES.values())} prefix)")
    return pa.schema(fields)


def write_patient_features(df: pd.DataFrame, path: str | Path,
                           metadata: Mapping[str, str] | None = None) -> pa.Table:
    """Write the table atomically; its metadata gets ``modality_map`` (JSON) besides
    ``metadata``."""
    provenance = {**(metadata or {}), "modality_map": json.dumps(modality_map(df.columns))}
    return write_parquet(df, path, patient_features_schema(df.columns), provenance)


def read_patient_features(path: str | Path) -> tuple[pd.DataFrame, dict[str, list[str]],
                                                     dict[str, str]]:
    """(table, modality map, metadata) of a patient feature Parquet; the map from the metadata,
    else from the column prefixes."""
    df, metadata = read_parquet(path)
    require_columns(df, [ID_COLUMN, *OUTCOME_COLUMNS], path)
    if df[ID_COLUMN].duplicated().any():
        raise InputError(f"patient {df[ID_COLUMN][df[ID_COLUMN].duplicated()].iloc[0]} has more "
                         "than one row", path=path)
    groups = json.loads(metadata["modality_map"]) if "modality_map" in metadata else \
        modality_map(df.columns)
    return df, groups, metadata
