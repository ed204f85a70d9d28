"""Similar-patient retrieval over the patient feature table, with what the neighbours share.

``SimilarPatients`` follows scikit-learn (``fit``, then queries; learned state ends in '_').
Without a learned representation each feature column is z-scored (mean and SD over the patients
that have it; constant columns carry nothing and are dropped) and patients are compared modality
by modality (:mod:`oncoweave.fusion.patient_distance`); a pair sharing no modality is never a
neighbour. With a representation (e.g. a fusion model's patient embedding) the distance is the
RMS difference of its coordinates, as given (not standardised: the model chose its scale).

``explain`` says what a neighbour shares: driver calls (gene + protein change, from the drivers
table; else the gen_ flags), drugs matched in both therapy tables with their tiers, imaging traits
(both large/small lesions by voxel-volume quantile, similar texture, same modality), clinical
matches, and the neighbour's outcome. A patient is never its own neighbour; equal distances are
ordered by patient id, so results are deterministic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.model_status import NOT_FITTED_KEY, not_fitted_reason
from oncoweave.core.tables import read_parquet, require_columns, schema_field, write_parquet
from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD, DRIVER_GENES
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.fusion.feature_table import (
    GERMLINE_GENES,
    ID_COLUMN,
    TUMOUR_STATUSES,
    VOLUME_FEATURE,
    read_patient_features,
)
from oncoweave.fusion.patient_distance import (
    DISTANCE_DESCRIPTION,
    align_representation,
    modality_distances,
    nearest_rows,
    representation_array,
    standardised_blocks,
    zscores,
)
from oncoweave.therapy.therapy_table import THERAPIES_SCHEMA, TIER_ORDER

log = logging.getLogger(__name__)


class NothingToCompare(InputError):
    """The cohort gives retrieval nothing to rank (one patient, no feature that varies)."""

REPRESENTATION = "representation"
TEXTURE_CLASSES = frozenset({"glcm", "glrlm", "glszm", "gldm", "ngtdm"})
STAGE_NAMES = {0: "0", 1: "I", 2: "II", 3: "III", 4: "IV"}


@dataclass(frozen=True)
class Neighbour:
    patient: str
    rank: int
    distance: float
    modalities_used: tuple[str, ...]


class SimilarPatients:
    """k nearest patients in the feature table (NaN-aware, per-modality weighted) and why."""

    def __init__(self, driver_threshold: float = DEFAULT_DRIVER_THRESHOLD,
                 large_lesion_quantile: float = 2 / 3, texture_tolerance: float = 0.5,
                 similar_age_years: float = 5.0):
        self.driver_threshold = driver_threshold
        self.large_lesion_quantile = large_lesion_quantile
        self.texture_tolerance = texture_tolerance
        self.similar_age_years = similar_age_years

    def fit(self, features: pd.DataFrame, modality_map: Mapping[str, Sequence[str]],
            representation=None, *, drivers: pd.DataFrame | None = None,
            therapies: pd.DataFrame | None = None) -> "SimilarPatients":
        """``features``: the patient feature table; ``modality_map``: modality -> columns;
        ``representation``: optional (n, d) array in ``features``' row order, or a DataFrame with
        a patient column (rows matched by id). ``drivers`` / ``therapies``: the cohort tables,
        for ``explain`` only."""
        require_columns(features, [ID_COLUMN])
        self.features_ = features.reset_index(drop=True)
        self.patients_ = [str(p) for p in self.features_[ID_COLUMN]]
        repeated = self.features_[ID_COLUMN][self.features_[ID_COLUMN].duplicated()]
        if len(repeated):
            raise InputError(f"patient {repeated.iloc[0]} has more than one row in the feature "
                             "table")
        self.row_ = {patient: index for index, patient in enumerate(self.patients_)}
        self.id_order_ = np.argsort(np.argsort(np.array(self.patients_, dtype=object)))
        self.modality_map_ = {m: list(c) for m, c in modality_map.items()}
        if representation is not None:
            self.blocks_ = {REPRESENTATION: representation_array(representation,
                                                                self.patients_)}
        else:
            self.blocks_ = standardised_blocks(self.features_, self.modality_map_)
        if not self.blocks_:
            raise NothingToCompare(f"no feature column varies between the {len(self.patients_)} "
                                   "patients: nothing to compare them on")
        self.drivers_ = _checked_table(drivers, self.patients_, "drivers",
                                       ["patient", "gene", "hgvs_p", "hgvs_c", "status",
                                        "filter", "driver_score"])
        self.therapies_ = _checked_table(therapies, self.patients_, "therapies",
                                         ["patient", "drug", "amp_tier", "direction"])
        self._calls: dict[str, dict[str, set[str]]] = {}
        self._all_calls: dict[str, dict[str, set[str]]] | None = None
        self._all_drugs: dict[str, dict[tuple[str, str], str | None]] | None = None
        self.summary_ = _summary(self.features_)
        self._summary_values = self.summary_.to_numpy(dtype=object)
        self._summary_columns = {name: c for c, name in enumerate(self.summary_.columns)}
        self._fit_imaging()
        return self

    def _summary_row(self, i: int) -> dict:
        """Row ``i`` of ``summary_`` (its values as ``summary_.iloc[i]`` holds them)."""
        values = self._summary_values[i]
        return {name: values[c] for name, c in self._summary_columns.items()}

    # -- distances ------------------------------------------------------------------------------

    def _index(self, patient: str) -> int:
        if patient not in self.row_:
            raise InputError(f"patient {patient} is not in the feature table")
        return self.row_[patient]

    def distances(self, patient: str) -> tuple[np.ndarray, Sequence[tuple[str, ...]]]:
        """Distance from ``patient`` to every patient (inf: nothing shared; NaN: itself) and the
        modalities each pair was compared on."""
        i = self._index(patient)
        distance, used = self._compare(i, np.arange(len(self.patients_)))
        distance[i] = np.nan
        return distance, used

    def _compare(self, i: int, rows: np.ndarray) -> tuple[np.ndarray, Sequence[tuple[str, ...]]]:
        """Distances of patient ``i`` to the patients at ``rows``, and the modalities used."""
        return modality_distances(self.blocks_, i, rows)

    def kneighbors(self, patient: str, k: int = 3) -> list[Neighbour]:
        """The ``k`` nearest other patients (fewer when fewer share a modality), nearest first,
        equal distances by patient id."""
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        distance, used = self.distances(patient)
        candidates = np.flatnonzero(np.isfinite(distance))
        # Rounding makes float noise between equal distances not decide the order; the id does.
        order = np.lexsort((self.id_order_[candidates], np.round(distance[candidates], 12)))
        return [Neighbour(self.patients_[j], rank, float(distance[j]), used[j])
                for rank, j in enumerate(candidates[order][:k], start=1)]

    def kneighbors_all(self, k: int = 3, patients: Sequence[str] | None = None):
        """(patient, ``kneighbors(patient, k)``) of each patient (default: all, in table order),
        the distances computed for a block of patients at a time."""
        patients = self.patients_ if patients is None else list(patients)
        if patients and k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        names = list(self.blocks_)
        found = nearest_rows(self.blocks_, [self._index(p) for p in patients], k, self.id_order_)
        for patient, (_, rows, distance, shared) in zip(patients, found):
            yield patient, [Neighbour(self.patients_[j], r + 1, float(distance[r]),
                                      tuple(name for name, ok in zip(names, shared[:, r]) if ok))
                            for r, j in enumerate(rows)]

    # -- explanations ---------------------------------------------------------------------------

    def explain(self, patient: str, neighbour: str) -> dict:
        """What ``patient`` and ``neighbour`` share, and the neighbour's outcome."""
        i, j = self._index(patient), self._index(neighbour)
        if i == j:
            raise InputError(f"patient {patient} is not its own neighbour")
        distance, used = self._compare(i, np.array([j]))
        return {"patient": patient, "neighbour": neighbour, "distance": float(distance[0]),
                "modalities_used": list(used[0]), **self._shared(i, j)}

    def _shared(self, i: int, j: int) -> dict:
        patient, neighbour = self.patients_[i], self.patients_[j]
        outcome = self._summary_row(j)
        return {
            "shared_drivers": self._shared_drivers(patient, neighbour),
            "shared_therapies": self._shared_therapies(patient, neighbour),
            "imaging_traits": self._imaging_traits(i, j),
            "clinical_match": self._clinical_match(i, j),
            "neighbour_os_months": _value(outcome.get("os_months"), float),
            "neighbour_os_event": _value(outcome.get("os_event"), int),
            "neighbour_response": _value(outcome.get("response"), int),
        }

    def _driver_calls(self, patient: str) -> dict[str, set[str]]:
        if self.drivers_ is None:
            if patient not in self._calls:
                self._calls[patient] = self._driver_flags(patient)
            return self._calls[patient]
        if self._all_calls is None:
            self._all_calls = self._find_driver_calls()
        return self._all_calls.get(patient, {})

    def _find_driver_calls(self) -> dict[str, dict[str, set[str]]]:
        """Patient -> gene -> protein (else coding) changes of the patients' driver calls."""
        calls = self.drivers_[(self.drivers_["filter"] == "PASS") & self.drivers_["gene"].notna()]
        scores = pd.to_numeric(calls["driver_score"], errors="coerce")
        tumour = calls["status"].isin(TUMOUR_STATUSES)
        germline = (calls["status"] == "germline") & calls["gene"].isin(GERMLINE_GENES)
        kept = calls[(scores >= self.driver_threshold) & (tumour | germline)]
        found: dict[str, dict[str, set[str]]] = {}
        for call in kept.to_dict("records"):
            label = next((str(call[c]) for c in ("hgvs_p", "hgvs_c") if _present(call[c])),
                         "variant")
            if call["status"] == "germline":
                label += " (germline)"
            found.setdefault(call[ID_COLUMN], {}).setdefault(call["gene"], set()).add(label)
        return found

    def _driver_flags(self, patient: str) -> dict[str, set[str]]:
        row = self._summary_row(self.row_[patient])
        found: dict[str, set[str]] = {}
        for gene in DRIVER_GENES:
            for column, label in ((f"gen_{gene}_driver", "driver"),
                                  (f"gen_{gene}_germline_pathogenic", "germline pathogenic")):
                if _value(row.get(column), float) == 1.0:
                    found.setdefault(gene, set()).add(label)
        return found

    def _shared_drivers(self, patient: str, neighbour: str) -> list[str]:
        mine, theirs = self._driver_calls(patient), self._driver_calls(neighbour)
        shared = []
        for gene in sorted(set(mine) & set(theirs)):
            same = sorted(mine[gene] & theirs[gene])
            if same:
                shared += [f"{gene} {change}" for change in same]
            else:
                shared.append(f"{gene} ({', '.join(sorted(mine[gene]))} vs "
                              f"{', '.join(sorted(theirs[gene]))})")
        return shared

    def _drugs(self, patient: str) -> dict[tuple[str, str], str | None]:
        if self._all_drugs is None:
            self._all_drugs = self._find_drugs()
        return self._all_drugs.get(patient, {})

    def _find_drugs(self) -> dict[str, dict[tuple[str, str], str | None]]:
        """Patient -> (drug, direction) -> best AMP tier of the patients' therapy matches."""
        if self.therapies_ is None:
            return {}
        rows = self.therapies_[self.therapies_["drug"].notna()]
        found: dict[str, dict[tuple[str, str], str | None]] = {}
        for row in rows[[ID_COLUMN, "drug", "direction", "amp_tier"]].to_dict("records"):
            best = found.setdefault(row[ID_COLUMN], {})
            key = (row["drug"], row["direction"])
            tier = row["amp_tier"] if _present(row["amp_tier"]) else None
            if key not in best or _tier_rank(tier) < _tier_rank(best[key]):
                best[key] = tier
        return found

    def _shared_therapies(self, patient: str, neighbour: str) -> list[str]:
        mine, theirs = self._drugs(patient), self._drugs(neighbour)
        shared = sorted(set(mine) & set(theirs),
                        key=lambda key: (_tier_rank(mine[key]), key[0], key[1]))
        labels = []
        for drug, direction in shared:
            what = drug if direction == "sensitivity" else f"{drug} {direction}"
            tiers = [mine[(drug, direction)] or "no tier", theirs[(drug, direction)] or "no tier"]
            labels.append(f"{what} (tier {tiers[0]})" if tiers[0] == tiers[1]
                          else f"{what} (tier {tiers[0]} vs {tiers[1]})")
        return labels

    def _fit_imaging(self) -> None:
        volume = f"rad_{VOLUME_FEATURE}"
        self.volume_quantile_ = (self.features_[volume].astype(float).rank(pct=True)
                                 if volume in self.features_.columns else None)
        self._volume_quantiles = (None if self.volume_quantile_ is None else
                                  self.volume_quantile_.to_numpy(dtype=float))
        self.image_modality_ = (self.features_["image_modality"].tolist()
                                if "image_modality" in self.features_ else None)
        texture = [c for c in self.features_.columns
                   if c.startswith("rad_") and len(c.split("_")) > 3
                   and c.split("_")[2] in TEXTURE_CLASSES]
        self.texture_ = zscores(self.features_[texture]) if texture else None

    def _imaging_traits(self, i: int, j: int) -> list[str]:
        traits = []
        modalities = ([self.image_modality_[i], self.image_modality_[j]]
                      if self.image_modality_ is not None else [None, None])
        both_known = all(_present(m) for m in modalities)
        if both_known and modalities[0] == modalities[1]:
            traits.append(f"both {modalities[0]}")
        elif both_known:  # texture of a CT and of an MR image are not comparable
            traits.append(f"different modalities ({modalities[0]} vs {modalities[1]})")
        if self.volume_quantile_ is not None:
            q = self._volume_quantiles[[i, j]]
            if not np.isnan(q).any():
                top = self.large_lesion_quantile
                if (q > top).all():
                    traits.append(f"both large lesions (voxel volume in the cohort's top "
                                  f"{1 - top:.0%})")
                elif (q <= 1 - top).all():
                    traits.append(f"both small lesions (voxel volume in the cohort's bottom "
                                  f"{1 - top:.0%})")
        if self.texture_ is not None and not (both_known and modalities[0] != modalities[1]):
            difference = self.texture_[i] - self.texture_[j]
            observed = ~np.isnan(difference)
            if observed.any():
                rms = float(np.sqrt(np.mean(difference[observed] ** 2)))
                if rms <= self.texture_tolerance:
                    traits.append(f"similar texture (RMS z-difference {rms:.2f} over "
                                  f"{int(observed.sum())} texture features)")
        return traits

    def _clinical_match(self, i: int, j: int) -> list[str]:
        a, b = self._summary_row(i), self._summary_row(j)
        matches = []
        type_a, type_b = _value(a["cancer_type"], str), _value(b["cancer_type"], str)
        if type_a is not None and type_a == type_b:
            matches.append(f"same cancer type ({type_a})")
        stage_a, stage_b = _value(a.get("clin_stage"), float), _value(b.get("clin_stage"), float)
        if stage_a is not None and stage_a == stage_b:
            matches.append(f"same stage ({STAGE_NAMES.get(int(stage_a), stage_a)})")
        sex_a, sex_b = (_value(a.get("clin_sex_female"), float),
                        _value(b.get("clin_sex_female"), float))
        if sex_a is not None and sex_a == sex_b:
            matches.append("both female" if sex_a == 1.0 else "both male")
        age_a, age_b = _value(a.get("clin_age"), float), _value(b.get("clin_age"), float)
        if age_a is not None and age_b is not None and abs(age_a - age_b) <= \
                self.similar_age_years:
            matches.append(f"similar age ({_shown_age(age_a)} vs {_shown_age(age_b)})")
        return matches


# ---------------------------------------------------------------------------------------------
# Helpers.

def _present(value) -> bool:
    return value is not None and not pd.isna(value)


def _value(value, kind):
    return kind(value) if _present(value) else None


def _shown_age(age: float) -> str:
    """An age as reports may show it: exact ages over 89 identify (HIPAA Safe Harbor) -> '90+'."""
    return "90+" if age >= 90 else f"{age:g}"


def _tier_rank(tier: str | None) -> int:
    return TIER_ORDER.get(tier, len(TIER_ORDER)) if tier else len(TIER_ORDER) + 1


def _summary(features: pd.DataFrame) -> pd.DataFrame:
    """The few columns explanations read (outcomes, clinical, driver flags), narrow and fast to
    index; absent columns are all-missing."""
    wanted = ["os_months", "os_event", "response", "clin_stage", "clin_sex_female", "clin_age",
              *[f"gen_{gene}_{flag}" for gene in DRIVER_GENES
                for flag in ("driver", "germline_pathogenic")]]
    summary = features.reindex(columns=wanted).astype(object)
    summary["cancer_type"] = [_cancer_type(features, i) for i in range(len(features))]
    return summary.where(summary.notna(), None)


def _cancer_type(features: pd.DataFrame, i: int) -> str | None:
    """The sheet's text, else the one-hot column set to 1 (its slug)."""
    if "cancer_type" in features and _present(features["cancer_type"].iloc[i]):
        return str(features["cancer_type"].iloc[i])
    hot = [c for c in features.columns if c.startswith("clin_cancer_type_")
           and features[c].iloc[i] == 1.0]
    return hot[0][len("clin_cancer_type_"):] if len(hot) == 1 else None


def _checked_table(table: pd.DataFrame | None, patients: list[str], what: str,
                   columns: list[str], source: str | None = None) -> pd.DataFrame | None:
    """``table`` when it has ``columns`` and only patients of the feature table."""
    if table is None:
        return None
    source = source or f"the {what} table"
    require_columns(table, columns, source)
    unknown = sorted(set(table[ID_COLUMN].astype(str)) - set(patients))
    if unknown:
        raise InputError(f"patient {unknown[0]} is not in the feature table", path=source)
    return table


# ---------------------------------------------------------------------------------------------
# The table of neighbours.

SIMILAR_PATIENTS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("rank", pa.int64(), "1 = nearest neighbour"),
    schema_field("neighbour", pa.string(), "The similar patient (never the patient itself)"),
    schema_field("distance", pa.float64(), "Distance: " + DISTANCE_DESCRIPTION),
    schema_field("shared_drivers", pa.string(), "'; '-joined driver calls both carry (gene + "
                 "protein change; 'GENE (a vs b)': same gene, other changes); null: none", True),
    schema_field("shared_therapies", pa.string(), "'; '-joined drugs matched for both (AMP tier "
                 "per patient; direction when not sensitivity); null: none", True),
    schema_field("imaging_traits", pa.string(), "'; '-joined imaging traits in common (modality, "
                 "lesion size by volume quantile, texture); null: none or no image", True),
    schema_field("clinical_match", pa.string(), "'; '-joined clinical matches (cancer type, "
                 "stage, sex, age within 5 years); null: none", True),
    schema_field("neighbour_os_months", pa.float64(), "Neighbour's overall survival, months",
                 True),
    schema_field("neighbour_os_event", pa.int64(), "Neighbour's event: 1 = death, 0 = censored",
                 True),
    schema_field("neighbour_response", pa.int64(), "Neighbour's response: 1 = CR/PR, 0 = SD/PD",
                 True),
    schema_field("modalities_used", pa.string(), "';'-joined modalities the distance compared "
                 "('representation' for a learned embedding)"),
])


def _joined(items: list[str]) -> str | None:
    return "; ".join(items) if items else None


def similar_patients_table(model: SimilarPatients, k: int = 3,
                           patients: Sequence[str] | None = None) -> pd.DataFrame:
    """SIMILAR_PATIENTS_SCHEMA rows: each patient's (default: all, in table order) k nearest
    neighbours with what they share."""
    rows = []
    for patient, neighbours in model.kneighbors_all(k, patients):
        for neighbour in neighbours:
            why = model._shared(model.row_[patient], model.row_[neighbour.patient])
            rows.append({
                "patient": patient, "rank": neighbour.rank, "neighbour": neighbour.patient,
                "distance": neighbour.distance,
                **{key: _joined(why[key]) for key in ("shared_drivers", "shared_therapies",
                                                      "imaging_traits", "clinical_match")},
                **{key: why[key] for key in ("neighbour_os_months", "neighbour_os_event",
                                             "neighbour_response")},
                "modalities_used": ";".join(neighbour.modalities_used),
            })
    table = pd.DataFrame(rows, columns=SIMILAR_PATIENTS_SCHEMA.names)
    for name in ("rank", "neighbour_os_event", "neighbour_response"):
        table[name] = pd.array(table[name].tolist(), dtype="Int64")
    return table


def write_similar_patients(df: pd.DataFrame, path: str | Path,
                           metadata: Mapping[str, str] | None = None) -> pa.Table:
    return write_parquet(df, path, SIMILAR_PATIENTS_SCHEMA,
                         {"distance": DISTANCE_DESCRIPTION, **(metadata or {})})


# ---------------------------------------------------------------------------------------------
# Files.

def read_therapies(paths: Sequence[str | Path], patients: list[str]) -> pd.DataFrame:
    """The per-patient therapy tables in one DataFrame; a file with a patient the feature table
    lacks is an InputError naming it."""
    tables = [_checked_table(read_parquet(path, THERAPIES_SCHEMA)[0], patients, "therapies",
                             ["patient"], str(path)) for path in paths]
    return pd.concat(tables, ignore_index=True)


def find_similar_patients(features_path: str | Path, output: str | Path, *,
                          representation_path: str | Path | None = None,
                          drivers_path: str | Path | None = None,
                          therapy_paths: Sequence[str | Path] | None = None, k: int = 3,
                          driver_threshold: float = DEFAULT_DRIVER_THRESHOLD) -> pd.DataFrame:
    """Each patient's k most similar patients (from the Parquet files named), written to output."""
    features, groups, _ = read_patient_features(features_path)
    patients = [str(p) for p in features[ID_COLUMN]]
    representation, not_fitted = None, None
    if representation_path:
        table, metadata = read_parquet(representation_path)
        not_fitted = not_fitted_reason(metadata)
        if not_fitted:
            log.warning("%s: no learned representation (%s): patients are compared on their "
                        "features", representation_path, not_fitted)
        else:
            representation = align_representation(table, patients, representation_path)
    drivers = _checked_table(read_parquet(drivers_path, DRIVERS_SCHEMA)[0], patients,
                             "drivers", ["patient"], drivers_path) if drivers_path else None
    therapies = read_therapies(therapy_paths, patients) if therapy_paths else None
    metadata = {
        "k": str(k), "features": Path(features_path).name,
        "representation": Path(representation_path).name if representation is not None else "",
        "representation_not_fitted": not_fitted or "",
        "modality_map": json.dumps(groups), "driver_threshold": str(driver_threshold)}
    try:
        if len(patients) < 2:
            raise NothingToCompare(f"the cohort has {len(patients)} patient: no other patient "
                                   "to compare with")
        model = SimilarPatients(driver_threshold=driver_threshold).fit(
            features, groups, representation, drivers=drivers, therapies=therapies)
    except NothingToCompare as reason:
        # A legal cohort (one patient, identical patients): an empty table that says why.
        log.warning("%s: no similar patients: %s", output, reason)
        table = pd.DataFrame(columns=SIMILAR_PATIENTS_SCHEMA.names)
        write_similar_patients(table, output, {**metadata, NOT_FITTED_KEY: str(reason)})
        return table
    table = similar_patients_table(model, k)
    write_similar_patients(table, output, metadata)
    log.info("%s: %d neighbour rows for %d patients (k = %d, compared on %s)", output, len(table),
             table["patient"].nunique(), k, ", ".join(model.blocks_))
    return table
