"""Building the patient feature table: the cohort's drivers, TMB, radiomics, deep-feature and
clinical tables joined into one row per patient of the sample sheet.

The columns and what they mean: :mod:`oncoweave.fusion.feature_table`. Inputs may be paths or
DataFrames; errors name the file (or the table), the patient and, for the clinical sheet, the row
and column.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.clinical_codes import (
    coded_problem,
    coded_value,
    os_months_problem,
    parse_stage,
    stage_problem,
)
from oncoweave.core.errors import InputError
from oncoweave.core.paths import REPO_ROOT
from oncoweave.core.sheets import load_clinical, read_sheet, sheet_error
from oncoweave.core.tables import read_parquet, require_columns
from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD, DRIVER_GENES
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.fusion.defaults import LESION_AGGREGATIONS
from oncoweave.fusion.feature_table import (
    GERMLINE_GENES,
    GERMLINE_STATUSES,
    ID_COLUMN,
    INFO_COLUMNS,
    MODALITY_PREFIXES,
    OUTCOME_COLUMNS,
    TUMOUR_STATUSES,
    VOLUME_FEATURE,
    modality_map,
)
from oncoweave.imaging.radiomics import ID_COLUMNS as IMAGE_ID_COLUMNS, MASK_SOURCE
from oncoweave.therapy.tmb import TMB_SCHEMA

log = logging.getLogger(__name__)

CLINICAL_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "clinical.schema.yaml"
# Clinical sheet columns with a fixed meaning; other columns are extra clinical variables.
CLINICAL_FIXED = ("patient", "age", "sex", "stage", "cancer_type", "treatment", "os_months",
                  "os_event", "response")
# The sheet's 'tmb' overrides the computed TMB upstream (compute_tmb): it reaches gen_tmb there.
CLINICAL_NOT_FEATURES = frozenset({"tmb"})
# The codes of sex, stage, os_event and response, and the bound of os_months:
# oncoweave.core.clinical_codes (also applied at planning time by load_clinical).


def _with_copy_number(blocks: list[pd.DataFrame], copy_number, ids: Sequence[str]
                      ) -> list[pd.DataFrame]:
    """``blocks`` plus the copy-number columns; an allele lost by copy number (loss, LOH, deep
    deletion) sets ``gen_<GENE>_loh`` to 1, else it keeps the allele-fraction LOH of the point
    calls (unknown stays unknown)."""
    from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA, fusion_columns

    paths = [copy_number] if isinstance(copy_number, (pd.DataFrame, str, Path)) else copy_number
    tables = [_read_table(path, "copy-number drivers", CN_DRIVERS_SCHEMA) for path in paths]
    for table, source in tables:
        _check_known_patients(table, ids, source)
    merged = pd.concat([table for table, _ in tables], ignore_index=True)
    columns = fusion_columns(merged).reindex(list(ids))
    blocks = list(blocks)
    for i, block in enumerate(blocks):
        shared = [c for c in columns if c in block.columns]  # the gen_<GENE>_loh columns
        if shared:
            # Copy number can only say an allele is gone (1). Its "no loss" never replaces an
            # unknown allele-fraction LOH: a GISTIC table, or CNVkit on a tumour without its
            # normal, cannot see copy-neutral LOH.
            lost = columns[shared].reindex(block.index).to_numpy(float) == 1
            either = np.where(lost, 1.0, block[shared].to_numpy(float))
            blocks[i] = block.assign(**{c: either[:, k] for k, c in enumerate(shared)})
            columns = columns.drop(columns=shared)
    return blocks + [columns]


# ---------------------------------------------------------------------------------------------
# Inputs: a DataFrame or a path; errors name the file (or the table) and the patient.

def _source(table, what: str) -> str:
    return str(table) if isinstance(table, (str, Path)) else f"the {what} table"


def _read_table(table, what: str, schema: pa.Schema | None = None) -> tuple[pd.DataFrame, str]:
    if isinstance(table, (str, Path)):
        return read_parquet(table, schema)[0], str(table)
    return table.reset_index(drop=True), _source(table, what)


def _check_known_patients(df: pd.DataFrame, known: Sequence[str], source: str) -> None:
    known = set(known)
    unknown = [p for p in pd.unique(df[ID_COLUMN]) if p not in known]
    if unknown:
        raise InputError(f"patient {unknown[0]} is not in the sample sheet"
                         + (f" (nor {len(unknown) - 1} other(s))" if len(unknown) > 1 else ""),
                         path=source)


def _check_unique(df: pd.DataFrame, keys: list[str], source: str, what: str) -> None:
    repeated = df.duplicated(keys)
    if repeated.any():
        first = df.loc[repeated.idxmax(), keys]
        raise InputError(f"{' '.join(f'{k} {v}' for k, v in first.items())} has more than one "
                         f"row; {what}", path=source)


def read_patients(samples) -> tuple[list[str], dict[str, bool]]:
    """(patients in sheet order, patient -> has a matched normal) of a sample sheet (path or
    DataFrame with columns patient and type)."""
    source = _source(samples, "sample sheet")
    sheet = read_sheet(samples) if isinstance(samples, (str, Path)) else samples
    require_columns(sheet, ["patient", "type"], source)
    patients = [str(p) for p in pd.unique(sheet["patient"])]
    if not patients:
        raise InputError("lists no patients", path=source)
    normals = set(sheet.loc[sheet["type"] == "normal", "patient"])
    return patients, {p: p in normals for p in patients}


# ---------------------------------------------------------------------------------------------
# Genomic block.

def genomic_features(drivers: pd.DataFrame, patients: Sequence[str],
                     has_normal: Mapping[str, bool],
                     threshold: float = DEFAULT_DRIVER_THRESHOLD) -> pd.DataFrame:
    """Per-gene driver, max score, germline-pathogenic (BRCA1/2) and LOH columns (index patient)."""
    calls = drivers[drivers["filter"] == "PASS"]
    rows = {patient: _gene_values(calls[calls[ID_COLUMN] == patient], has_normal[patient],
                                  threshold) for patient in patients}
    return pd.DataFrame.from_dict(rows, orient="index", columns=genomic_columns()).astype(float)


def genomic_columns() -> list[str]:
    columns = []
    for gene in DRIVER_GENES:
        columns += [f"gen_{gene}_driver", f"gen_{gene}_max_driver_score"]
        if gene in GERMLINE_GENES:
            columns.append(f"gen_{gene}_germline_pathogenic")
        columns.append(f"gen_{gene}_loh")
    return columns


def _gene_values(calls: pd.DataFrame, paired: bool, threshold: float) -> dict[str, float]:
    values = {}
    scores = pd.to_numeric(calls["driver_score"], errors="coerce")
    for gene in DRIVER_GENES:
        in_gene = calls["gene"] == gene
        tumour = scores[in_gene & calls["status"].isin(TUMOUR_STATUSES)].dropna()
        best = float(tumour.max()) if len(tumour) else 0.0  # sequenced, no scored call: 0
        values[f"gen_{gene}_driver"] = float(best >= threshold)
        values[f"gen_{gene}_max_driver_score"] = best
        if gene in GERMLINE_GENES:
            germline = scores[in_gene & calls["status"].isin(GERMLINE_STATUSES)]
            values[f"gen_{gene}_germline_pathogenic"] = (
                float((germline >= threshold).any()) if paired else math.nan)
        values[f"gen_{gene}_loh"] = (float((in_gene & (calls["status"] == "loh")).any())
                                     if paired else math.nan)
    return values


def tmb_feature(tmb: pd.DataFrame, patients: Sequence[str], source: str) -> pd.Series:
    """gen_tmb: the reportable TMB (mut/Mb), NaN when not reportable or not computed."""
    _check_unique(tmb, [ID_COLUMN], source, "one TMB per patient is expected")
    reportable = tmb[tmb["reportable"].astype(bool)].set_index(ID_COLUMN)["tmb"]
    return pd.Series([float(reportable.get(p, math.nan)) for p in patients], index=list(patients),
                     name="gen_tmb", dtype=float)


def _read_tmb(tmb_tables) -> tuple[pd.DataFrame, str]:
    """One TMB DataFrame from a DataFrame, a path or a list of per-patient paths."""
    if isinstance(tmb_tables, pd.DataFrame) or isinstance(tmb_tables, (str, Path)):
        return _read_table(tmb_tables, "TMB", TMB_SCHEMA)
    tables = []
    for path in tmb_tables:
        df, source = _read_table(path, "TMB", TMB_SCHEMA)
        if df[ID_COLUMN].duplicated().any():
            raise InputError(f"patient {df[ID_COLUMN][df[ID_COLUMN].duplicated()].iloc[0]} has "
                             "more than one row; one TMB per patient is expected", path=source)
        tables.append(df.assign(_source=source))
    merged = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=[*TMB_SCHEMA.names, "_source"])
    repeated = merged[merged[ID_COLUMN].duplicated(keep=False)]
    if len(repeated):
        patient = repeated[ID_COLUMN].iloc[0]
        files = repeated.loc[repeated[ID_COLUMN] == patient, "_source"]
        raise InputError(f"patient {patient} has a TMB in more than one file ({', '.join(files)})",
                         path=files.iloc[-1])
    return merged, ", ".join(str(p) for p in tmb_tables)


# ---------------------------------------------------------------------------------------------
# Imaging blocks: one lesion per patient.

def _image_features(table: pd.DataFrame, source: str, what: str) -> list[str]:
    require_columns(table, list(IMAGE_ID_COLUMNS), source)
    _check_unique(table, ["patient", "lesion"], source, "each lesion of a patient once")
    # mask_source (radiomics: given or proposed mask) describes the row; it is not a feature.
    features = [str(c) for c in table.columns if c not in (*IMAGE_ID_COLUMNS, MASK_SOURCE)]
    not_float = [c for c in features if not pd.api.types.is_numeric_dtype(table[c])]
    if not_float:
        raise InputError(f"{what} column(s) {', '.join(not_float[:3])} are not numbers",
                         path=source)
    return features


def chosen_lesions(radiomics: pd.DataFrame, how: str, source: str) -> dict[str, list[str]]:
    """Patient -> lesion ids whose features make its row: the largest by voxel volume, or all."""
    chosen = {}
    for patient, group in radiomics.sort_values(["patient", "lesion"]).groupby("patient"):
        if how == "mean" or len(group) == 1:
            chosen[patient] = list(group["lesion"])
            continue
        if VOLUME_FEATURE not in group.columns:
            raise InputError(f"lesion_aggregation 'largest' needs {VOLUME_FEATURE} (pyradiomics "
                             "shape class) to pick a lesion; enable it or use 'mean'", path=source)
        volumes = group[VOLUME_FEATURE].astype(float)
        if volumes.isna().all():
            log.warning("patient %s: no lesion has a volume; using lesion %s", patient,
                        group["lesion"].iloc[0])
            chosen[patient] = [group["lesion"].iloc[0]]
        else:  # ties: the first lesion id
            chosen[patient] = [group["lesion"].loc[volumes.idxmax()]]
    return chosen


def _lesion_rows(table: pd.DataFrame, features: list[str], patients: Sequence[str],
                 chosen: Mapping[str, list[str]], source: str,
                 prefix: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per patient: the chosen lesions' features (mean of several), NaN without image."""
    rows, info = {}, {}
    for patient, group in table.groupby("patient"):
        lesions = chosen.get(patient)
        picked = group[group["lesion"].isin(lesions)] if lesions else group.iloc[0:0]
        if picked.empty:
            if len(group) > 1:
                log.info("%s: patient %s has %d lesions and none chosen by radiomics; using their "
                         "mean", source, patient, len(group))
            picked = group
        modalities = sorted(set(picked["modality"]))
        if len(modalities) > 1:
            raise InputError(f"patient {patient}: lesions {', '.join(picked['lesion'])} are "
                             f"{' and '.join(modalities)} images; a mean over modalities means "
                             "nothing: use lesion_aggregation 'largest'", path=source)
        rows[patient] = picked[features].astype(float).mean(axis=0)
        info[patient] = {"image_lesion": ";".join(picked["lesion"]),
                         "image_modality": modalities[0]}
    block = pd.DataFrame.from_dict(rows, orient="index", columns=features)
    block.columns = [name if name.startswith(prefix) else prefix + name for name in features]
    block = block.reindex(list(patients)).astype(float)
    return block, pd.DataFrame.from_dict(info, orient="index",
                                         columns=["image_lesion", "image_modality"])


# ---------------------------------------------------------------------------------------------
# Clinical block and outcomes.

def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _cell_error(source: str, row: int, column: str, message: str) -> InputError:
    return sheet_error(source, row, message, column=column)


def _number(cell: str, source: str, row: int, column: str) -> float:
    if cell == "":
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _cell_error(source, row, column, f"{cell!r} is not a number (leave it empty when "
                          "unknown)")
    return value


def _coded(record: Mapping[str, str], source: str, row: int, column: str) -> float:
    value = coded_value(record[column], column)
    if value is None:
        raise _cell_error(source, row, column, coded_problem(record[column], column))
    return value


def _numeric_extras(sheet: pd.DataFrame) -> list[str]:
    """Extra sheet columns whose non-empty cells are all numbers (others are logged, left out)."""
    extras = []
    for name in sheet.columns:
        if name in CLINICAL_FIXED or name in CLINICAL_NOT_FEATURES:
            continue
        cells = sheet[name][sheet[name] != ""]
        if pd.to_numeric(cells, errors="coerce").notna().all() and len(cells):
            extras.append(name)
        else:
            log.info("clinical column %r is not numeric: left out of the features", name)
    return extras


def clinical_features(sheet: pd.DataFrame, patients: Sequence[str],
                      source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clinical features, outcome + report columns), both indexed by patient in ``patients``.

    ``sheet``: load_clinical's str DataFrame (empty cell = ""). Unparseable cells raise an
    InputError naming the file, row and column.
    """
    sheet = sheet.astype(str).reset_index(drop=True)
    for name in CLINICAL_FIXED:
        if name not in sheet.columns:
            sheet[name] = ""
    _check_unique(sheet, [ID_COLUMN], source, "one clinical row per patient")
    _check_known_patients(sheet, patients, source)
    types = sorted({t for t in sheet["cancer_type"] if t})
    _check_distinct_slugs(types, source)
    extras = _numeric_extras(sheet)
    features, outcomes = {}, {}
    for index, record in enumerate(sheet.to_dict("records")):
        row = index + 1
        stage = parse_stage(record["stage"])
        if stage is None:
            raise _cell_error(source, row, "stage", stage_problem(record["stage"]))
        values = {"clin_age": _number(record["age"], source, row, "age"),
                  "clin_sex_female": _coded(record, source, row, "sex"),
                  "clin_stage": stage}
        for cancer_type in types:
            values[f"clin_cancer_type_{_slug(cancer_type)}"] = (
                float(record["cancer_type"] == cancer_type) if record["cancer_type"]
                else math.nan)
        for name in extras:
            values[f"clin_{_slug(name)}"] = _number(record[name], source, row, name)
        features[record[ID_COLUMN]] = values
        outcomes[record[ID_COLUMN]] = _outcomes(record, source, row)
    feature_names = ["clin_age", "clin_sex_female", "clin_stage",
                     *[f"clin_cancer_type_{_slug(t)}" for t in types],
                     *[f"clin_{_slug(name)}" for name in extras]]
    block = pd.DataFrame.from_dict(features, orient="index", columns=feature_names)
    outcome_columns = [*OUTCOME_COLUMNS, "cancer_type", "treatment"]
    return (block.reindex(list(patients)).astype(float),
            pd.DataFrame.from_dict(outcomes, orient="index", columns=outcome_columns))


def _check_distinct_slugs(types: list[str], source: str) -> None:
    seen: dict[str, str] = {}
    for cancer_type in types:
        slug = _slug(cancer_type)
        if slug in seen:
            raise InputError(f"cancer types {seen[slug]!r} and {cancer_type!r} differ only in "
                             "case or punctuation; write them the same way", path=source,
                             column="cancer_type")
        seen[slug] = cancer_type


def _outcomes(record: Mapping[str, str], source: str, row: int) -> dict:
    os_event = _coded(record, source, row, "os_event")
    response = _coded(record, source, row, "response")
    os_months = _number(record["os_months"], source, row, "os_months")
    if not math.isnan(os_months) and os_months_problem(record["os_months"]):
        raise _cell_error(source, row, "os_months", os_months_problem(record["os_months"]))
    return {"os_months": os_months,
            "os_event": None if math.isnan(os_event) else int(os_event),
            "response": None if math.isnan(response) else int(response),
            "cancer_type": record["cancer_type"] or None,
            "treatment": record["treatment"] or None}


# ---------------------------------------------------------------------------------------------
# The table.

def build_patient_features(patients, drivers=None, tmb_tables=None, radiomics=None, deep=None,
                           clinical=None, cnn=None, copy_number=None,
                           driver_threshold: float = DEFAULT_DRIVER_THRESHOLD,
                           lesion_aggregation: str = "largest",
                           radiomic_features: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per patient of the sample sheet (sheet order): id, outcomes, report columns, then
    gen_, rad_, deep_, img_ and clin_ features (see oncoweave.fusion.feature_table).

    ``patients``: the sample sheet (path or DataFrame with patient, type). ``drivers``: the cohort
    drivers table (DRIVERS_SCHEMA); ``tmb_tables``: a TMB DataFrame, or paths of TMB Parquets;
    ``radiomics`` / ``deep``: the cohort radiomics / deep-features tables; ``cnn``: the lesion
    classifier's out-of-fold predictions (``img_cnn_prob``); ``copy_number``: copy-number
    driver calls (CN_DRIVERS_SCHEMA; a DataFrame or paths of shard tables: ``gen_<GENE>_cn``,
    ``gen_<GENE>_biallelic``, and an allele lost joins ``gen_<GENE>_loh``); ``clinical``: the
    clinical sheet (path, or load_clinical's DataFrame). Each may be a path or a DataFrame, or
    None when the modality is absent. ``radiomic_features``: pyradiomics names to keep (default
    all). A patient in a table but not in the sample sheet, or a repeated row, is an InputError
    naming the table.
    """
    if lesion_aggregation not in LESION_AGGREGATIONS:
        raise InputError(f"lesion_aggregation must be one of {', '.join(LESION_AGGREGATIONS)}, "
                         f"got {lesion_aggregation!r}")
    ids, has_normal = read_patients(patients)
    index = pd.Index(ids, name=ID_COLUMN)
    blocks: list[pd.DataFrame] = []
    info = pd.DataFrame(index=index, columns=list(INFO_COLUMNS), dtype=object)
    outcomes = pd.DataFrame({"os_months": math.nan, "os_event": None, "response": None},
                            index=index)
    if drivers is not None:
        table, source = _read_table(drivers, "drivers", DRIVERS_SCHEMA)
        require_columns(table, ["patient", "gene", "status", "filter", "driver_score"], source)
        _check_known_patients(table, ids, source)
        blocks.append(genomic_features(table, ids, has_normal, driver_threshold))
    if copy_number is not None:
        blocks = _with_copy_number(blocks, copy_number, ids)
    if tmb_tables is not None:
        table, source = _read_tmb(tmb_tables)
        _check_known_patients(table, ids, source)
        blocks.append(tmb_feature(table, ids, source).to_frame())
    chosen: dict[str, list[str]] = {}
    if radiomics is not None:
        table, source = _read_table(radiomics, "radiomics")
        features = _image_features(table, source, "radiomics")
        if radiomic_features is not None:
            require_columns(table, list(radiomic_features), source)
            features = list(radiomic_features)
        _check_known_patients(table, ids, source)
        chosen = chosen_lesions(table, lesion_aggregation, source)
        block, lesions = _lesion_rows(table, features, ids, chosen, source, "rad_")
        blocks.append(block)
        info.update(lesions)
    if deep is not None:
        table, source = _read_table(deep, "deep features")
        if table.empty and isinstance(deep, (str, Path)):
            from oncoweave.core.model_status import not_fitted_reason

            reason = not_fitted_reason(read_parquet(deep)[1])
            if reason:
                log.warning("deep features: none (the image encoder was not fitted: %s)", reason)
        features = _image_features(table, source, "deep features")
        _check_known_patients(table, ids, source)
        block, lesions = _lesion_rows(table, features, ids, chosen, source, "deep_")
        blocks.append(block)
        if radiomics is None:  # else the lesion columns name the radiomics lesion already
            info.update(lesions)
    if cnn is not None:
        table, source = _read_table(cnn, "lesion classifier predictions")
        require_columns(table, [*IMAGE_ID_COLUMNS, "probability"], source)
        _check_known_patients(table, ids, source)
        if not table.empty:  # empty: the classifier was not fitted (its metadata says why)
            # The CNN's out-of-fold probability of the lesion the radiomics row describes.
            table = table[[*IMAGE_ID_COLUMNS, "probability"]].rename(
                columns={"probability": "cnn_prob"})
            block, _ = _lesion_rows(table, ["cnn_prob"], ids, chosen, source, "img_")
            blocks.append(block)
    if clinical is not None:
        source = _source(clinical, "clinical")
        sheet = (load_clinical(clinical, CLINICAL_SCHEMA) if isinstance(clinical, (str, Path))
                 else clinical)
        block, clinical_outcomes = clinical_features(sheet, ids, source)
        blocks.append(block)
        outcomes = clinical_outcomes.reindex(index)[list(OUTCOME_COLUMNS)]
        info[["cancer_type", "treatment"]] = clinical_outcomes.reindex(index)[
            ["cancer_type", "treatment"]]
    table = _assemble(index, outcomes, info.reindex(index), blocks)
    log.info("patient features: %d patients; %s", len(table), ", ".join(
        f"{modality} {len(columns)} columns" for modality, columns in
        modality_map(table.columns).items()) or "no features")
    return table


def _assemble(index: pd.Index, outcomes: pd.DataFrame, info: pd.DataFrame,
              blocks: list[pd.DataFrame]) -> pd.DataFrame:
    features = pd.concat([block.reindex(index) for block in blocks], axis=1) if blocks else \
        pd.DataFrame(index=index)
    ordered = sorted(features.columns, key=lambda c: _modality_rank(c))  # stable: keeps order
    table = pd.concat([outcomes.reindex(index), info, features[ordered]], axis=1)
    table = table.reset_index(names=ID_COLUMN)
    table["os_months"] = table["os_months"].astype(float)
    for name in ("os_event", "response"):
        table[name] = pd.array(table[name].tolist(), dtype="Int64")
    for name in INFO_COLUMNS:
        table[name] = table[name].astype(object).where(table[name].notna(), None)
    return table


def _modality_rank(column: str) -> int:
    return next(rank for rank, prefix in enumerate(MODALITY_PREFIXES.values())
                if column.startswith(prefix))
