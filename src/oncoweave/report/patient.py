"""One self-contained HTML report per patient, from that patient's Parquet tables only.

``render_patient_report`` reads the stage outputs named to it (drivers, therapies, TMB,
immunotherapy response, the de-identified lesion working copies, cohort radiomics, similar
patients, the fused predictions, coverage and identity QC) and writes one HTML file with its
images embedded as base64 PNG and no script or link to fetch at view time. It never reads a
sheet or an image header: what the report shows is what the stages wrote. Each section is
present, or says plainly why it is empty (no normal, no image, stage not run). The sections are
made in ``report.patient_sections`` and ``report.patient_imaging``; the QC section (coverage from
``variants.coverage``, sample identity, provenance) and the page itself here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.tables import read_parquet, require_columns
from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD
from oncoweave.drivers.schema import DRIVERS_SCHEMA
from oncoweave.fusion.evaluation import PATIENT_PREDICTIONS_SCHEMA
from oncoweave.fusion.retrieval import SIMILAR_PATIENTS_SCHEMA
from oncoweave.report.patient_imaging import Lesion, imaging_section
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

def _identity_facts(path: Path | None, patient: str) -> list[tuple[str, str]]:
    if path is None:
        return [("sample identity", "not checked: the calls were imported from a VCF")]
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read identity table ({err})", path=path) from None
    require_columns(table, ["status", "n_sites", "concordance"], path)
    if "patient" in table.columns:  # a shard's table: one row per patient
        table = table[table["patient"] == patient]
    if table.empty:
        raise InputError(f"identity table has no row for {patient}", path=path)
    row = table.iloc[0]
    words = {
        "pass": f"pass: tumour and normal come from the same person (concordance "
                f"{row['concordance']} over {row['n_sites']} sites)",
        "fail": f"FAIL: tumour and normal do not match (concordance {row['concordance']} over "
                f"{row['n_sites']} sites); analysed as tumour-only",
        "insufficient_data": f"insufficient data ({row['n_sites']} informative sites)",
        "no_normal": "no normal sample to compare",
    }
    return [("sample identity", words.get(row["status"], row["status"]))]


def qc_section(coverage: pd.DataFrame | None, identity: Path | None,
               provenance: list[list[str]], config_hash: str | None, patient: str = "") -> Section:
    section = Section("qc", "Quality control and provenance")
    section.facts += _identity_facts(identity, patient)
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

def _patient_rows(table: pd.DataFrame, patient: str) -> pd.DataFrame:
    return table[table["patient"].astype(str) == patient]


def _read(path: str | Path | None, schema: pa.Schema | None, patient: str,
          required: Sequence[str] = ("patient",)) -> pd.DataFrame | None:
    if path is None:
        return None
    table, _ = read_parquet(path, schema)
    require_columns(table, list(required), path)
    return _patient_rows(table, patient).reset_index(drop=True)


def _render_html(patient: str, sections: list[Section]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(loader=PackageLoader("oncoweave.report", "templates"),
                              autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)
    return environment.get_template(TEMPLATE).render(patient=patient, sections=sections,
                                                     version=__version__)


def _cancer_type(therapies: str | Path, patient: str) -> str:
    """The cancer type the patient's therapies were matched for: a shard's therapy table records
    'P1=type;P2=type' in its metadata (a single patient's table, the bare type)."""
    recorded = (pq.read_schema(therapies).metadata or {}).get(b"cancer_type", b"").decode()
    if "=" not in recorded:
        return recorded
    return dict(item.split("=", 1) for item in recorded.split(";") if item).get(patient, "")


def render_patient_report(patient: str, output: str | Path, *, drivers: str | Path,
                          therapies: str | Path, tmb: str | Path, icb: str | Path,
                          identity: str | Path | None = None,
                          coverage: str | Path | None = None,
                          lesions: Sequence[Lesion] = (), imaging_run: bool = True,
                          radiomics: str | Path | None = None,
                          similar: str | Path | None = None,
                          fusion: str | Path | None = None,
                          driver_threshold: float = DEFAULT_DRIVER_THRESHOLD,
                          config_hash: str | None = None) -> list[Section]:
    """Write the patient's HTML report from the stage tables named; return its sections.

    ``None`` for an optional table means its stage did not run for this patient (the section
    says so). Bad input raises InputError naming the file; nothing is written then.
    """
    patient = str(patient)
    driver_table = _read(drivers, DRIVERS_SCHEMA, patient)
    therapy_table = _read(therapies, THERAPIES_SCHEMA, patient)
    tmb_table = _read(tmb, TMB_SCHEMA, patient)
    icb_table = _read(icb, ICB_SCHEMA, patient)
    similar_table = _read(similar, SIMILAR_PATIENTS_SCHEMA, patient)
    fusion_table = _read(fusion, None, patient, FUSION_COLUMNS)
    coverage_table = _read(coverage, COVERAGE_SCHEMA, patient)
    radiomics_table = None
    if radiomics is not None:
        radiomics_table, _ = read_parquet(radiomics)
        require_columns(radiomics_table, ["patient", "lesion", "modality"], radiomics)
    cancer_type = _cancer_type(therapies, patient)
    lesions = [Lesion(Path(item.image), Path(item.mask), Path(item.record)) for item in lesions]
    sections = [
        drivers_section(driver_table, driver_threshold),
        germline_section(driver_table, driver_threshold),
        therapies_section(therapy_table, cancer_type or None),
        tmb_icb_section(tmb_table, icb_table),
        imaging_section(patient, lesions, radiomics_table, imaging_run),
        fusion_section(fusion_table),
        similar_section(similar_table),
        qc_section(coverage_table, Path(identity) if identity else None,
                   provenance_rows({"drivers": Path(drivers), "therapies": Path(therapies),
                                    "tmb": Path(tmb), "icb": Path(icb),
                                    "radiomics": Path(radiomics) if radiomics else None,
                                    "similar patients": Path(similar) if similar else None,
                                    "fusion": Path(fusion) if fusion else None,
                                    "coverage": Path(coverage) if coverage else None}),
                   config_hash, patient),
    ]
    html = _render_html(patient, sections)
    with replaced_on_success(output) as temporary:
        temporary.write_text(html, encoding="utf-8")
    log.info("%s: report with %d sections (%d empty), %.0f KB", patient, len(sections),
             sum(s.empty is not None for s in sections), len(html.encode()) / 1024)
    return sections
