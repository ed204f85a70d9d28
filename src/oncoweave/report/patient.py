"""One self-contained HTML report per patient, from that patient's Parquet tables only.

``render_patient_report`` reads the stage outputs named to it (drivers, therapies, TMB,
immunotherapy response, the copy-number driver calls, the de-identified lesion working copies,
cohort radiomics, the lesion CNN's occlusion maps, similar patients, the fused predictions,
coverage and identity QC) and writes one HTML file with its images embedded as base64 PNG and no
script or link to fetch at view time. It never reads a sheet or an image header: what the report
shows is what the stages wrote. Each section is present, or says plainly why it is empty (no
normal, no image, stage not run). The sections are made in ``report.patient_sections``,
``report.patient_copy_number`` and ``report.patient_imaging``; the QC section (coverage from
``variants.coverage``, sample identity, provenance) and the page itself here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.tables import read_parquet, require_columns
from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA
from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.fusion.schema import PATIENT_PREDICTIONS_SCHEMA
from oncoweave.fusion.retrieval import SIMILAR_PATIENTS_SCHEMA
from oncoweave.imaging.lesion_map_files import INDEX_FILE as CNN_MAPS_INDEX
from oncoweave.imaging.lesion_map_files import MAPS_SCHEMA as CNN_MAPS_SCHEMA
from oncoweave.report.patient_copy_number import copy_number_section
from oncoweave.report.patient_imaging import CnnMaps, Lesion, imaging_section
from oncoweave.report.patient_sections import (
    Section,
    Table,
    as_number,
    as_percent,
    drivers_section,
    fusion_section,
    germline_section,
    similar_section,
    therapies_section,
    tmb_icb_section,
)
from oncoweave.therapy.icb_tables import ICB_SCHEMA
from oncoweave.therapy.matching import THERAPIES_SCHEMA
from oncoweave.therapy.tmb import TMB_SCHEMA
from oncoweave.variants.coverage import COVERAGE_SCHEMA

log = logging.getLogger(__name__)

TEMPLATE = "patient_report.html"

# The fused-prediction contract of rule evaluate_fusion
# (results/fusion/patient_predictions.parquet).
FUSION_COLUMNS = tuple(PATIENT_PREDICTIONS_SCHEMA.names)

# Provenance: metadata keys that carry versions, hashes and model ids (never paths or headers).
PROVENANCE_KEY = re.compile(r"(version|config_hash|sha256|^icb_model)$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# QC and provenance.

def _identity_facts(path: Path | None, patient: str,
                    tables: ShardTables | None = None) -> list[tuple[str, str]]:
    if path is None:
        return [("sample identity", "not checked: the calls were imported from a VCF")]
    row = (tables or ShardTables()).identity_row(path, patient)
    words = {
        "pass": f"pass: tumour and normal come from the same person (concordance "
                f"{row['concordance']} over {row['n_sites']} sites)",
        "fail": f"FAIL: tumour and normal do not match (concordance {row['concordance']} over "
                f"{row['n_sites']} sites); analysed as tumour-only",
        "insufficient_data": f"insufficient data ({row['n_sites']} informative sites)",
        "no_normal": "no normal sample to compare",
    }
    return [("sample identity", words.get(row["status"], row["status"]))]


def _read_identity(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read identity table ({err})", path=path) from None
    require_columns(table, ["status", "n_sites", "concordance"], path)
    return table


def qc_section(coverage: pd.DataFrame | None, identity: Path | None,
               provenance: list[list[str]], config_hash: str | None, patient: str = "",
               tables: ShardTables | None = None, tumour_column: str = "") -> Section:
    section = Section("qc", "Quality control and provenance")
    section.facts += _identity_facts(identity, patient, tables)
    if tumour_column:
        section.notes.append(f"Calls: the VCF's one sample column '{tumour_column}' was read as "
                             "the tumour (the column is not named as the sample sheet's sample).")
    if coverage is None:
        section.notes.append("Coverage: no reads (the calls were imported from a VCF).")
    elif coverage.empty:
        section.notes.append("Coverage: the targets name none of the driver genes.")
    else:
        depths = sorted(coverage["min_depth"].unique())
        rows = []
        for (sample, kind, gene), group in coverage.groupby(["sample", "sample_type", "gene"],
                                                            sort=False):
            by_depth = group.set_index("min_depth")["fraction_at_depth"]
            rows.append([f"{sample} ({kind})", gene, int(group["target_bp"].iloc[0]),
                         as_number(group["mean_depth"].iloc[0], 0),
                         *[as_percent(by_depth.get(d), 1) for d in depths]])
        section.tables.append(Table(["sample", "gene", "target bp", "mean depth",
                                     *[f"≥ {d}×" for d in depths]], rows,
                                    "Coverage over the driver-gene targets (mosdepth)"))
    if config_hash:
        section.facts.append(("config hash of this run", config_hash))
    section.facts.append(("report made by", f"oncoweave {__version__}"))
    if provenance:
        section.tables.append(Table(["table", "recorded", "value"], provenance,
                                    "Versions and config hashes recorded in the input tables"))
    return section


def provenance_rows(paths: Mapping[str, Path | None]) -> list[list[str]]:
    """(table, key, value) of each input Parquet's version/hash metadata."""
    rows = []
    for name, path in paths.items():
        if path is None:
            continue
        metadata = pq.read_schema(path).metadata or {}
        for key, value in sorted(metadata.items()):
            key, value = key.decode(), value.decode()
            if PROVENANCE_KEY.search(key) and len(value) <= 200:
                rows.append([name, key, value])
    return rows


# ---------------------------------------------------------------------------------------------
# The report.

class ShardTables:
    """The stage tables a shard's reports share, each read, checked and split by patient once
    (on first use, so a bad table fails where it did when each report read it): a report made
    with one gets the same rows, facts and page as one that reads the tables itself."""

    def __init__(self) -> None:
        self._split: dict[tuple, tuple[pd.DataFrame, dict[str, tuple[int, int]]]] = {}
        self._whole: dict[tuple, pd.DataFrame] = {}
        self._identity: dict[str, tuple[pd.DataFrame, dict[str, int] | None]] = {}
        self._provenance: dict[tuple, list[list[str]]] = {}
        self._cancer_types: dict[str, str] = {}
        self._metadata: dict[str, dict[str, str]] = {}

    def patient_rows(self, path: str | Path | None, schema: pa.Schema | None, patient: str,
                     required: Sequence[str] = ("patient",)) -> pd.DataFrame | None:
        """The patient's rows of the table (its rows in table order, index 0..n-1)."""
        if path is None:
            return None
        key = (os.fspath(path), id(schema), tuple(required))
        if key not in self._split:
            # The rows grouped by patient (each patient's in table order), sliced per patient.
            table = self.table(path, schema, required)
            groups = table.groupby(table["patient"].astype(str), sort=False).indices
            order = np.concatenate([_NONE, *groups.values()])
            ends = np.cumsum([len(rows) for rows in groups.values()])
            self._split[key] = (table.take(order), {
                name: (end - len(rows), end) for (name, rows), end in zip(groups.items(), ends)})
        table, spans = self._split[key]
        start, end = spans.get(patient, (0, 0))
        return table.iloc[start:end].reset_index(drop=True)

    def table(self, path: str | Path, schema: pa.Schema | None,
              required: Sequence[str]) -> pd.DataFrame:
        """The whole table, read and checked once."""
        key = (os.fspath(path), id(schema), tuple(required))
        if key not in self._whole:
            table, _ = read_parquet(path, schema)
            require_columns(table, list(required), path)
            self._whole[key] = table
        return self._whole[key]

    def identity_row(self, path: Path, patient: str) -> pd.Series:
        """The patient's row of an identity table (a shard's: one row per patient)."""
        key = os.fspath(path)
        if key not in self._identity:
            table = _read_identity(path)
            first = None
            if "patient" in table.columns:
                first = {name: int(rows[0]) for name, rows in
                         table.groupby("patient", sort=False).indices.items()}
            self._identity[key] = (table, first)
        table, first = self._identity[key]
        position = 0 if first is None else first.get(patient)
        if position is None or table.empty:
            raise InputError(f"identity table has no row for {patient}", path=path)
        return table.iloc[position]

    def provenance(self, paths: Mapping[str, Path | None]) -> list[list[str]]:
        key = tuple((name, None if path is None else os.fspath(path))
                    for name, path in paths.items())
        if key not in self._provenance:
            self._provenance[key] = provenance_rows(paths)
        return [list(row) for row in self._provenance[key]]

    def metadata(self, path: str | Path | None) -> dict[str, str]:
        """A table's Parquet metadata, decoded; {} for a stage that did not run."""
        if path is None:
            return {}
        key = os.fspath(path)
        if key not in self._metadata:
            raw = pq.read_schema(path).metadata or {}
            self._metadata[key] = {name.decode(): value.decode() for name, value in raw.items()}
        return self._metadata[key]

    def cancer_type(self, therapies: str | Path, patient: str) -> str:
        """The cancer type the patient's therapies were matched for: a shard's therapy table
        records 'P1=type;P2=type' in its metadata (a single patient's table, the bare type)."""
        key = os.fspath(therapies)
        if key not in self._cancer_types:
            self._cancer_types[key] = (pq.read_schema(therapies).metadata or {}).get(
                b"cancer_type", b"").decode()
        recorded = self._cancer_types[key]
        if "=" not in recorded:
            return recorded
        return _cancer_types(recorded).get(patient, "")


_NONE = np.array([], dtype=np.intp)


@lru_cache(maxsize=16)
def _cancer_types(recorded: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in recorded.split(";") if item)


@lru_cache(maxsize=1)
def _template():
    """The page template, compiled once per process."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(loader=PackageLoader("oncoweave.report", "templates"),
                              autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    return environment.get_template(TEMPLATE)


def _render_html(patient: str, sections: list[Section], notices: Sequence[str] = ()) -> str:
    return _template().render(patient=patient, sections=sections, notices=notices,
                              version=__version__)


def render_patient_report(patient: str, output: str | Path, *, drivers: str | Path,
                          therapies: str | Path, tmb: str | Path, icb: str | Path,
                          identity: str | Path | None = None,
                          coverage: str | Path | None = None,
                          lesions: Sequence[Lesion] = (), imaging_run: bool = True,
                          radiomics: str | Path | None = None,
                          cnn_maps: str | Path | None = None,
                          similar: str | Path | None = None,
                          fusion: str | Path | None = None,
                          copy_number: str | Path | None = None,
                          driver_threshold: float = DEFAULT_DRIVER_THRESHOLD,
                          config_hash: str | None = None,
                          tables: ShardTables | None = None,
                          call_set_note: str | None = None,
                          tumour_column: str = "") -> list[Section]:
    """Write the patient's HTML report from the stage tables named; return its sections.

    ``None`` for an optional table means its stage did not run for this patient (the section
    says so; ``copy_number``, the shard's copy-number driver calls, None when the run has no
    copy-number table). Bad input raises InputError naming the file; nothing is written then.
    ``tables`` (one per shard) reads each table once for all the shard's reports.
    ``call_set_note`` (the import's words for an allowed empty or mostly dropped VCF) heads the
    page; ``tumour_column`` (a one-sample VCF's column read as the tumour, not named as the
    sheet's sample) is said under provenance.
    """
    patient = str(patient)
    tables = ShardTables() if tables is None else tables
    driver_table = tables.patient_rows(drivers, DRIVERS_SCHEMA, patient)
    therapy_table = tables.patient_rows(therapies, THERAPIES_SCHEMA, patient)
    tmb_table = tables.patient_rows(tmb, TMB_SCHEMA, patient)
    icb_table = tables.patient_rows(icb, ICB_SCHEMA, patient)
    similar_table = tables.patient_rows(similar, SIMILAR_PATIENTS_SCHEMA, patient)
    fusion_table = tables.patient_rows(fusion, None, patient, FUSION_COLUMNS)
    coverage_table = tables.patient_rows(coverage, COVERAGE_SCHEMA, patient)
    copy_number_table = tables.patient_rows(copy_number, CN_DRIVERS_SCHEMA, patient)
    radiomics_table = None
    if radiomics is not None:
        radiomics_table = tables.table(radiomics, None, ["patient", "lesion", "modality"])
    maps = None
    if cnn_maps is not None:  # the lesion CNN's maps folder (rule train_lesion_classifier)
        index_path = Path(cnn_maps) / CNN_MAPS_INDEX
        maps = CnnMaps(Path(cnn_maps), tables.table(index_path, CNN_MAPS_SCHEMA, ["patient"]),
                       tables.metadata(index_path))
    cancer_type = tables.cancer_type(therapies, patient)
    lesions = [Lesion(Path(item.image), Path(item.mask), Path(item.record), item.mask_source)
               for item in lesions]
    sections = [
        drivers_section(driver_table, driver_threshold, call_set_note),
        germline_section(driver_table, driver_threshold),
        copy_number_section(copy_number_table),
        therapies_section(therapy_table, cancer_type or None),
        tmb_icb_section(tmb_table, icb_table),
        imaging_section(patient, lesions, radiomics_table, imaging_run, maps),
        fusion_section(fusion_table, tables.metadata(fusion)),
        similar_section(similar_table, tables.metadata(similar)),
        qc_section(coverage_table, Path(identity) if identity else None,
                   tables.provenance({"drivers": Path(drivers), "therapies": Path(therapies),
                                    "tmb": Path(tmb), "icb": Path(icb),
                                    "radiomics": Path(radiomics) if radiomics else None,
                                    "lesion CNN maps": Path(cnn_maps) / CNN_MAPS_INDEX
                                    if cnn_maps else None,
                                    "similar patients": Path(similar) if similar else None,
                                    "fusion": Path(fusion) if fusion else None,
                                    "coverage": Path(coverage) if coverage else None,
                                    "copy number": Path(copy_number) if copy_number else None}),
                   config_hash, patient, tables, tumour_column),
    ]
    if call_set_note and driver_table.empty:
        # Not "no therapy matches": there was nothing to match.
        therapies_part = next(section for section in sections if section.key == "therapies")
        therapies_part.empty = "No variant to match: the call set is empty (see the page's top)."
    html = _render_html(patient, sections, [call_set_note] if call_set_note else [])
    with replaced_on_success(output) as temporary:
        temporary.write_text(html, encoding="utf-8")
    log.info("%s: report with %d sections (%d empty), %.0f KB", patient, len(sections),
             sum(s.empty is not None for s in sections), len(html.encode()) / 1024)
    return sections
