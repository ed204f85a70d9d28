"""One self-contained HTML report per patient, from that patient's Parquet tables only.

``render_patient_report`` reads the stage outputs named to it (drivers, therapies, TMB,
immunotherapy response, the de-identified lesion working copies, cohort radiomics, similar
patients, the fused predictions, coverage and identity QC) and writes one HTML file with its
images embedded as base64 PNG and no script or link to fetch at view time. It never reads a
sheet or an image header: what the report shows is what the stages wrote. Each section is
present, or says plainly why it is empty (no normal, no image, stage not run).

``summarize_coverage`` condenses a patient's mosdepth region and threshold beds into one row per
sample x driver gene x depth threshold (results/qc/coverage/{patient}.parquet).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.tables import read_parquet, require_columns, schema_field, write_parquet
from oncoweave.drivers.features import DRIVER_GENES
from oncoweave.drivers.model import DRIVERS_SCHEMA
from oncoweave.fusion.evaluation import PATIENT_PREDICTIONS_SCHEMA
from oncoweave.fusion.models import percentile_among
from oncoweave.fusion.patient_features import (
    DEFAULT_DRIVER_THRESHOLD,
    GERMLINE_GENES,
    TUMOUR_STATUSES,
)
from oncoweave.fusion.retrieval import SIMILAR_PATIENTS_SCHEMA
from oncoweave.therapy.icb import ICB_SCHEMA
from oncoweave.therapy.matching import THERAPIES_SCHEMA, TIER_ORDER
from oncoweave.therapy.tmb import TMB_SCHEMA

log = logging.getLogger(__name__)

TEMPLATE = "patient_report.html"
# Hereditary cancer genes of the panel (ACMG secondary-findings list: hereditary breast/ovarian
# cancer, Li-Fraumeni): a damaging germline variant there means referral for genetic counselling.
COUNSELLING_GENES = frozenset({*GERMLINE_GENES, "TP53"})

# The fused-prediction contract of rule evaluate_fusion (results/fusion/patient_predictions.parquet).
FUSION_COLUMNS = tuple(PATIENT_PREDICTIONS_SCHEMA.names)

# Radiomic features shown against the cohort, in words; intensity and texture ones are compared
# only with lesions of the same modality (CT HU and MR signal are not on one scale).
KEY_RADIOMICS = (
    ("original_shape_VoxelVolume", "lesion volume (mm³)", False),
    ("original_shape_Maximum3DDiameter", "largest 3-D diameter (mm)", False),
    ("original_shape_Sphericity", "sphericity (1 = a perfect sphere)", False),
    ("original_firstorder_Mean", "mean intensity", True),
    ("original_firstorder_Entropy", "intensity entropy (heterogeneity)", True),
    ("original_glcm_Contrast", "texture contrast (GLCM)", True),
)

# Provenance: metadata keys that carry versions, hashes and model ids (never paths or headers).
PROVENANCE_KEY = re.compile(r"(version|config_hash|sha256|^icb_model)$", re.IGNORECASE)

COVERAGE_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("sample", pa.string(), "Sample id"),
    schema_field("sample_type", pa.string(), "tumour or normal"),
    schema_field("gene", pa.string(), "Driver gene (the target BED's name column)"),
    schema_field("target_bp", pa.int64(), "Target bases of the gene"),
    schema_field("mean_depth", pa.float64(), "Length-weighted mean depth over the gene's targets"),
    schema_field("min_depth", pa.int64(), "Depth threshold (one of mosdepth --thresholds)"),
    schema_field("fraction_at_depth", pa.float64(), "Fraction of target bases at >= min_depth"),
])


# ---------------------------------------------------------------------------------------------
# Coverage summary (mosdepth -> Parquet).

def _read_bed(path: str | Path, what: str, columns: int) -> pd.DataFrame:
    path = Path(path)
    try:
        with gzip.open(path, "rt") as handle:
            table = pd.read_csv(handle, sep="\t", header=None, comment=None, dtype=str)
    except (OSError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read mosdepth {what} bed ({err})", path=path) from None
    if table.shape[1] < columns:
        raise InputError(f"mosdepth {what} bed has {table.shape[1]} columns, not {columns}: "
                         "the targets BED needs a name column (the gene)", path=path)
    return table


def coverage_rows(patient: str, sample: str, sample_type: str, regions: str | Path,
                  thresholds: str | Path, genes: Sequence[str] = DRIVER_GENES) -> pd.DataFrame:
    """Rows of COVERAGE_SCHEMA for one sample from its mosdepth regions and thresholds beds."""
    region_table = _read_bed(regions, "regions", 5).iloc[:, :5]
    region_table.columns = ["chrom", "start", "end", "gene", "mean"]
    threshold_table = _read_bed(thresholds, "thresholds", 5)
    header = list(threshold_table.iloc[0])
    if not str(header[0]).startswith("#") or not all(
            re.fullmatch(r"\d+X", str(name)) for name in header[4:]):
        raise InputError("no '#chrom start end region <N>X ...' header line", path=thresholds)
    depths = [int(str(name)[:-1]) for name in header[4:]]
    threshold_table = threshold_table.iloc[1:].reset_index(drop=True)
    threshold_table.columns = ["chrom", "start", "end", "gene", *[f"d{d}" for d in depths]]
    try:
        for table in (region_table, threshold_table):
            table["length"] = table["end"].astype(np.int64) - table["start"].astype(np.int64)
        region_table["mean"] = region_table["mean"].astype(float)
        for depth in depths:
            threshold_table[f"d{depth}"] = threshold_table[f"d{depth}"].astype(np.int64)
    except ValueError as err:
        raise InputError(f"non-numeric coverage value ({err})", path=thresholds) from None
    rows = []
    for gene in genes:
        in_regions = region_table[region_table["gene"] == gene]
        in_thresholds = threshold_table[threshold_table["gene"] == gene]
        bp = int(in_regions["length"].sum())
        if not bp:
            continue
        mean = float((in_regions["mean"] * in_regions["length"]).sum() / bp)
        for depth in depths:
            rows.append({"patient": patient, "sample": sample, "sample_type": sample_type,
                         "gene": gene, "target_bp": bp, "mean_depth": round(mean, 2),
                         "min_depth": depth,
                         "fraction_at_depth": float(in_thresholds[f"d{depth}"].sum()
                                                    / max(int(in_thresholds["length"].sum()), 1))})
    return pd.DataFrame(rows, columns=COVERAGE_SCHEMA.names)


def summarize_coverage(patient: str, output: str | Path,
                       samples: Sequence[tuple[str, str, str | Path, str | Path]],
                       genes: Sequence[str] = DRIVER_GENES,
                       metadata: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Write the patient's coverage per driver gene: ``samples`` are (sample, type, regions bed,
    thresholds bed) of its tumour (and normal)."""
    table = pd.concat([coverage_rows(patient, sample, kind, regions, thresholds, genes)
                       for sample, kind, regions, thresholds in samples], ignore_index=True)
    write_parquet(table, output, COVERAGE_SCHEMA,
                  {"mosdepth_outputs": "regions.bed.gz, thresholds.bed.gz", **(metadata or {})})
    return table


# ---------------------------------------------------------------------------------------------
# Sections.

@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Section:
    key: str
    title: str
    empty: str | None = None          # why there is nothing to show
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _text(value: Any, missing: str = "—") -> str:
    return missing if _is_missing(value) or value == "" else str(value)


def _number(value: Any, digits: int = 2, missing: str = "—") -> str:
    return missing if _is_missing(value) else f"{float(value):.{digits}f}"


def _percent(value: Any, digits: int = 0) -> str:
    return "—" if _is_missing(value) else f"{100 * float(value):.{digits}f} %"


def _patient_rows(table: pd.DataFrame, patient: str) -> pd.DataFrame:
    return table[table["patient"].astype(str) == patient]


def _protein_change(row: pd.Series) -> str:
    if not _is_missing(row.get("hgvs_p")) and row.get("hgvs_p"):
        return str(row["hgvs_p"])
    if not _is_missing(row.get("hgvs_c")) and row.get("hgvs_c"):
        return f"{row['hgvs_c']} ({_text(row.get('consequence'))})"
    return f"{row['chrom']}:{row['pos']} {row['ref']}>{row['alt']} ({_text(row.get('consequence'))})"


def feature_reasons(top_features: str | None) -> str:
    """The top contributions of a driver score in words: '<reason> (raises the score, +4.34)'."""
    if _is_missing(top_features) or not top_features:
        return "—"
    try:
        contributions = json.loads(top_features)
    except json.JSONDecodeError:
        return str(top_features)
    words = []
    for item in contributions:
        contribution = float(item.get("contribution", 0.0))
        effect = "raises" if contribution > 0 else "lowers"
        words.append(f"{item.get('reason') or item.get('feature')} "
                     f"({effect} the score, {contribution:+.2f} log-odds)")
    return "; ".join(words) or "—"


def drivers_section(drivers: pd.DataFrame, threshold: float) -> Section:
    section = Section("drivers", "Driver mutations")
    tumour = drivers[drivers["status"].isin(TUMOUR_STATUSES)]
    called = tumour[(tumour["filter"] == "PASS") & (tumour["driver_score"] >= threshold)]
    called = called.sort_values("driver_score", ascending=False)
    section.notes.append(
        f"PASS tumour calls (somatic, LOH or tumour-only) with driver_score ≥ {threshold:g}, "
        f"highest first; {len(tumour)} tumour calls were scored. The score is the calibrated "
        "probability that the variant is a damaging driver; the reasons are the model's three "
        "largest feature contributions.")
    filtered = tumour[(tumour["filter"] != "PASS") & (tumour["driver_score"] >= threshold)]
    if len(filtered):
        section.notes.append(
            "Not listed because they failed call filters: " + "; ".join(
                f"{row['gene']} {_protein_change(row)} ({row['filter']}, VAF {_percent(row['t_vaf'], 1)})"
                for _, row in filtered.iterrows()))
    if drivers["pair_identity"].isin(["fail"]).any():
        section.alerts.append("The tumour/normal pair failed the identity check: the calls were "
                              "analysed as tumour-only (somatic and germline not separated).")
    if called.empty:
        section.empty = (f"No PASS tumour call reaches driver_score ≥ {threshold:g} "
                         f"({len(tumour)} tumour calls scored).")
        return section
    rows = [[row.gene, _protein_change(row), _percent(row.t_vaf, 1),
             {"tumour_only": "tumour-only (no normal to tell)", "loh": "germline with LOH"}.get(
                 row.status, row.status),
             _number(row.driver_score), _text(row.clonality), feature_reasons(row.top_features)]
            for _, row in called.iterrows()]
    section.tables.append(Table(["gene", "protein change", "VAF", "somatic / germline",
                                 "driver_score", "clonality", "top contributing features"], rows))
    return section


def germline_section(drivers: pd.DataFrame, threshold: float) -> Section:
    section = Section("germline", "Germline findings")
    if drivers.empty or drivers["normal_sample"].isna().all():
        identity_failed = drivers["pair_identity"].eq("fail").any() if len(drivers) else False
        section.empty = ("The tumour/normal pair failed the identity check, so germline variants "
                         "cannot be told from somatic ones." if identity_failed else
                         "No normal sample: germline variants cannot be told from somatic ones "
                         "(tumour-only mode). Consider germline testing if indicated.")
        return section
    germline = drivers[drivers["status"].isin(["germline", "loh"]) & (drivers["filter"] == "PASS")
                       & (drivers["driver_score"] >= threshold)]
    if germline.empty:
        section.empty = (f"No germline variant with driver_score ≥ {threshold:g} in "
                         f"{', '.join(DRIVER_GENES)} (the normal was analysed).")
        return section
    rows = []
    for _, row in germline.sort_values("driver_score", ascending=False).iterrows():
        action = ("pathogenic-looking germline variant in a hereditary cancer gene: confirm in a "
                  "certified germline test and refer for genetic counselling"
                  if row.gene in COUNSELLING_GENES else
                  "germline variant scored as damaging: confirm in a certified germline test")
        rows.append([row.gene, _protein_change(row), _percent(row.n_vaf, 1),
                     _percent(row.t_vaf, 1), "with LOH in the tumour" if row.status == "loh"
                     else "heterozygous", _number(row.driver_score),
                     feature_reasons(row.top_features), action])
        if row.gene in COUNSELLING_GENES:
            section.alerts.append(f"Germline {row.gene} {_protein_change(row)}: refer for "
                                  "genetic counselling.")
    section.tables.append(Table(["gene", "protein change", "normal VAF", "tumour VAF", "zygosity",
                                 "driver_score", "top contributing features", "action"], rows))
    return section


def therapies_section(therapies: pd.DataFrame, cancer_type: str | None) -> Section:
    section = Section("therapies", "Therapies")
    if cancer_type:
        section.facts.append(("tumour type used for matching", cancer_type))
    matched = therapies[therapies["drug"].notna() & (therapies["drug"] != "")]
    unmatched = therapies[~therapies.index.isin(matched.index)]
    if len(unmatched):
        section.notes.append("Biomarkers without a matched therapy: " + "; ".join(
            sorted({f"{row.biomarker} ({row.direction.replace('_', ' ')})"
                    for _, row in unmatched.iterrows()})))
    if matched.empty:
        section.empty = "No therapy evidence matches this patient's variants."
        return section
    keys = ["biomarker", "variant_status", "drug", "amp_tier", "evidence_level", "direction",
            "disease", "disease_match"]
    grouped = (matched.fillna({"disease": ""}).groupby(keys, sort=False, dropna=False)
               .agg(source_ids=("source_ids", lambda ids: "; ".join(dict.fromkeys(
                   part.strip() for value in ids if isinstance(value, str)
                   for part in value.split(";") if part.strip()))))
               .reset_index())
    grouped["order"] = grouped["amp_tier"].map(TIER_ORDER).fillna(9)
    grouped = grouped.sort_values(["order", "biomarker", "drug"], kind="stable")
    section.notes.append(
        "One row per biomarker, drug, AMP/ASCO/CAP tier, evidence level, direction and disease "
        "(the evidence items behind it in 'sources'); tier IA/IB = evidence in this tumour type, "
        "IIC/IID = other tumour types or weaker evidence, III = preclinical or case reports.")
    rows = [[row.biomarker + (" (germline)" if row.variant_status == "germline" else ""),
             row.drug, _text(row.amp_tier), _text(row.evidence_level), row.direction,
             _text(row.disease), {"exact": "this tumour type", "other": "another tumour type"}.get(
                 row.disease_match, _text(row.disease_match)), _text(row.source_ids)]
            for row in grouped.itertuples()]
    section.tables.append(Table(["biomarker", "drug", "AMP/ASCO/CAP tier", "evidence level",
                                 "direction", "disease", "disease match", "sources"], rows))
    return section


def tmb_icb_section(tmb: pd.DataFrame, icb: pd.DataFrame) -> Section:
    section = Section("tmb", "Tumour mutational burden and immunotherapy response")
    if tmb.empty:
        section.facts.append(("TMB", "not computed for this patient"))
    else:
        row = tmb.iloc[0]
        if bool(row["reportable"]):
            section.facts.append(("TMB", f"{_number(row['tmb'], 1)} mutations/Mb "
                                         f"({row['tmb_source']})"))
        else:
            section.facts.append(("TMB", f"not reportable: {_text(row['reason'])}"))
        section.facts.append(("callable territory", f"{_number(row['callable_mb'], 3)} Mb; "
                              f"{row['somatic_coding_mutations']} somatic coding mutations"))
    if icb.empty:
        section.facts.append(("immunotherapy response", "no prediction for this patient"))
    else:
        row = icb.iloc[0]
        if _is_missing(row["response_probability"]):
            section.facts.append(("immunotherapy-response probability", _text(row["reason"])))
        else:
            section.facts.append((
                "immunotherapy-response probability",
                f"{_percent(row['response_probability'])} (90 % bootstrap interval "
                f"{_percent(row['low'])} – {_percent(row['high'])})"))
        section.facts.append(("model", _text(row["model"])))
    return section


def fusion_section(predictions: pd.DataFrame | None) -> Section:
    section = Section("fusion", "Fused risk and response prediction")
    if predictions is None:
        section.empty = ("Stage not run: the fusion evaluation (rule evaluate_fusion, "
                         "results/fusion/patient_predictions.parquet) is not part of this run.")
        return section
    if predictions.empty:
        section.empty = "The fusion evaluation made no prediction for this patient."
        return section
    row = predictions.iloc[0]
    if _is_missing(row["risk"]):
        section.facts.append(("fused risk", "not evaluated for this cohort (see "
                                            "results/fusion/evaluation/survival/metrics.json)"))
    else:
        section.facts += [
            ("fused risk (out of fold; higher = worse)",
             f"higher than {_number(row['risk'], 0)} % of the cohort's patients the model was "
             f"trained on; {_text(row['risk_group'])}-risk group"),
            ("95 % interval (out-of-bag bootstrap refits)",
             f"{_ordinal(row['risk_lower'])} – {_ordinal(row['risk_upper'])} percentile "
             f"(median {_ordinal(row['risk_percentile'])})"),
        ]
    section.facts += [
        ("response probability", f"{_percent(row['response_probability'])} (95 % interval "
                                 f"{_percent(row['response_lower'])} – "
                                 f"{_percent(row['response_upper'])})"),
        ("modalities used", _text(row["modalities_used"])),
        ("modalities missing", _text(row["modalities_missing"], "none")),
        ("model", _text(row["model"])),
    ]
    return section


def _ordinal(value: Any) -> str:
    """62 -> '62nd', 11 -> '11th'; '—' when missing."""
    if _is_missing(value):
        return "—"
    number = int(round(float(value)))
    teens = 10 <= number % 100 <= 20
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _outcome(os_months: Any, os_event: Any, response: Any) -> str:
    if _is_missing(os_months):
        survival = "survival unknown"
    elif not _is_missing(os_event) and int(os_event) == 1:
        survival = f"died at {_number(os_months, 1)} months"
    else:
        survival = f"alive at {_number(os_months, 1)} months (censored)"
    responded = ("response unknown" if _is_missing(response) else
                 "responded (CR/PR)" if int(response) == 1 else "did not respond (SD/PD)")
    return f"{survival}; {responded}"


def similar_section(similar: pd.DataFrame | None) -> Section:
    section = Section("similar", "Most similar patients")
    if similar is None:
        section.empty = "Stage not run: similar-patient retrieval is not part of this run."
        return section
    if similar.empty:
        section.empty = "No similar patient: no other patient shares a modality with this one."
        return section
    section.notes.append("Nearest patients in the cohort by the fused representation (or the "
                         "standardised features), with what they share and their outcomes.")
    rows = [[int(row.rank), row.neighbour, _number(row.distance),
             _text(row.shared_drivers, "none"), _text(row.shared_therapies, "none"),
             _text(row.imaging_traits), _text(row.clinical_match),
             _outcome(row.neighbour_os_months, row.neighbour_os_event, row.neighbour_response),
             _text(row.modalities_used)]
            for row in similar.sort_values("rank").itertuples()]
    section.tables.append(Table(["rank", "patient", "distance", "shared drivers",
                                 "shared therapies", "imaging", "clinical", "outcome",
                                 "compared on"], rows))
    return section


# ---------------------------------------------------------------------------------------------
# Imaging.

def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _window(pixels: np.ndarray, modality: str) -> tuple[float, float]:
    if modality == "CT":
        return -160.0, 240.0  # soft-tissue window (level 40, width 400 HU)
    low, high = np.percentile(pixels, [0.5, 99.5])
    return float(low), float(high if high > low else low + 1)


def _acquisition_plane(pixels: np.ndarray, lesion: np.ndarray, spacing: Sequence[float]
                       ) -> tuple[str, np.ndarray, np.ndarray, float]:
    """(plane, image, mask, aspect) re-sliced so axis 0 is the thickest-spaced axis (the plane
    the series was acquired in); arrays come in LPS order (z, y, x), superior up."""
    sx, sy, sz = spacing
    if sz >= max(sx, sy):
        return "axial", pixels, lesion, sy / sx
    if sy >= sx:  # coronal slices: rows are z (flipped so superior is up), columns x
        order, aspect, plane = (1, 0, 2), sz / sx, "coronal"
    else:  # sagittal slices: rows are z, columns y (anterior on the left)
        order, aspect, plane = (2, 0, 1), sz / sy, "sagittal"
    return (plane, np.flip(pixels.transpose(order), axis=1),
            np.flip(lesion.transpose(order), axis=1), aspect)


def lesion_figure(image_path: str | Path, mask_path: str | Path, modality: str) -> tuple[str, int]:
    """(PNG data URI, slice index) of the slice with the most lesion voxels in the acquisition
    plane, mask outlined, beside a close-up; radiological convention (patient's right on the
    left of an axial or coronal slice)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import SimpleITK as sitk

    try:
        image = sitk.DICOMOrient(sitk.ReadImage(str(image_path)), "LPS")
        mask = sitk.DICOMOrient(sitk.ReadImage(str(mask_path)), "LPS")
    except RuntimeError as err:
        raise InputError(f"cannot read image ({str(err).strip().splitlines()[-1]})",
                         path=image_path) from None
    pixels = sitk.GetArrayFromImage(image).astype(np.float64)  # z, y, x
    lesion = sitk.GetArrayFromImage(mask) > 0
    if pixels.shape != lesion.shape:
        raise InputError(f"mask grid {lesion.shape} differs from the image's {pixels.shape}",
                         path=mask_path)
    if not lesion.any():
        raise InputError("the mask is empty", path=mask_path)
    low, high = _window(pixels, modality)
    plane, pixels, lesion, aspect = _acquisition_plane(pixels, lesion, image.GetSpacing())
    k = int(lesion.sum(axis=(1, 2)).argmax())
    ys, xs = np.nonzero(lesion[k])
    margin = max(8, int(0.6 * max(np.ptp(ys), np.ptp(xs))))
    y0, y1 = max(ys.min() - margin, 0), min(ys.max() + margin + 1, lesion.shape[1])
    x0, x1 = max(xs.min() - margin, 0), min(xs.max() + margin + 1, lesion.shape[2])
    figure, axes = plt.subplots(1, 2, figsize=(8, 4))
    for axis, (rows, cols), title in (
            (axes[0], (slice(None), slice(None)), f"{plane} slice {k + 1} of {lesion.shape[0]}"),
            (axes[1], (slice(y0, y1), slice(x0, x1)), "close-up")):
        axis.imshow(pixels[k][rows, cols], cmap="gray", vmin=low, vmax=high, aspect=aspect,
                    interpolation="nearest")
        inside = lesion[k][rows, cols]
        axis.imshow(np.ma.masked_where(~inside, inside), cmap="autumn", alpha=0.35,
                    aspect=aspect, interpolation="nearest")
        axis.contour(inside.astype(float), levels=[0.5], colors="red", linewidths=1.0)
        axis.set_title(title, fontsize=9)
        axis.set_axis_off()
    figure.suptitle(f"{modality}: lesion mask in red (window {low:.0f} to {high:.0f})",
                    fontsize=10)
    return _png(figure), k


def radiomics_figure(rows: list[tuple[str, np.ndarray, float]]) -> str:
    """Strip plots: each feature's cohort values (grey) and this lesion's (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(rows), 1, figsize=(6, 0.7 * len(rows) + 0.4), squeeze=False)
    for axis, (label, cohort, value) in zip(axes[:, 0], rows):
        axis.scatter(cohort, np.zeros_like(cohort), s=25, color="0.6", zorder=2)
        axis.scatter([value], [0], s=60, color="red", zorder=3)
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        axis.tick_params(axis="x", labelsize=7)
        for side in ("left", "right", "top"):
            axis.spines[side].set_visible(False)
    figure.tight_layout()
    return _png(figure)


@dataclass
class Lesion:
    image: Path
    mask: Path
    record: Path


def imaging_section(patient: str, lesions: Sequence[Lesion], radiomics: pd.DataFrame | None,
                    imaging_run: bool) -> Section:
    section = Section("imaging", "Imaging")
    if not imaging_run:
        section.empty = "Stage not run: the cohort has no images (the image sheet is empty)."
        return section
    if not lesions:
        section.empty = "No image: this patient has no lesion in the image sheet."
        return section
    for lesion in lesions:
        record, _ = read_parquet(lesion.record)
        require_columns(record, ["lesion", "modality", "lesion_volume_ml", "source_format"],
                        lesion.record)
        info = record.iloc[0]
        modality = str(info["modality"])
        uri, z = lesion_figure(lesion.image, lesion.mask, modality)
        section.images.append({
            "src": uri, "alt": f"lesion {info['lesion']} with its mask",
            "caption": f"Lesion {info['lesion']} ({modality}, {_number(info['lesion_volume_ml'])} "
                       f"mL, {info['source_format']} input, de-identified working copy)"})
        if radiomics is None:
            section.notes.append("Radiomics not available for the cohort.")
            continue
        this = radiomics[(radiomics["patient"] == patient) & (radiomics["lesion"] == info["lesion"])]
        if this.empty:
            section.notes.append(f"Lesion {info['lesion']} has no radiomics row.")
            continue
        table_rows, plot_rows = [], []
        for name, label, same_modality in KEY_RADIOMICS:
            if name not in radiomics.columns:
                continue
            pool = radiomics[radiomics["modality"] == modality] if same_modality else radiomics
            cohort = pd.to_numeric(pool[name], errors="coerce").dropna().to_numpy(dtype=float)
            value = pd.to_numeric(pd.Series([this.iloc[0][name]]), errors="coerce").iloc[0]
            if not len(cohort) or _is_missing(value):
                continue
            value = float(value)
            scope = f"{len(cohort)} {modality} lesions" if same_modality else \
                f"{len(cohort)} lesions"
            table_rows.append([label, f"{value:.4g}", f"{np.median(cohort):.4g}",
                               f"{cohort.min():.4g} – {cohort.max():.4g}",
                               f"{percentile_among(cohort, [value])[0]:.0f}", scope])
            plot_rows.append((label, cohort, value))
        if table_rows:
            section.tables.append(Table(
                ["feature", "this lesion", "cohort median", "cohort range", "percentile",
                 "compared with"], table_rows, f"Lesion {info['lesion']}: key radiomic features "
                                               "(pyradiomics) against the cohort"))
            section.images.append({"src": radiomics_figure(plot_rows),
                                   "alt": "radiomic features against the cohort",
                                   "caption": "Each row: the cohort's lesions (grey) and this "
                                              "lesion (red)."})
    return section


# ---------------------------------------------------------------------------------------------
# QC and provenance.

def _identity_facts(path: Path | None) -> list[tuple[str, str]]:
    if path is None:
        return [("sample identity", "not checked: the calls were imported from a VCF")]
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read identity table ({err})", path=path) from None
    require_columns(table, ["status", "n_sites", "concordance"], path)
    if table.empty:
        raise InputError("identity table has no row", path=path)
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
               provenance: list[list[str]], config_hash: str | None) -> Section:
    section = Section("qc", "Quality control and provenance")
    section.facts += _identity_facts(identity)
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
                         _number(group["mean_depth"].iloc[0], 0),
                         *[_percent(by_depth.get(d), 1) for d in depths]])
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
    cancer_type = (pq.read_schema(therapies).metadata or {}).get(b"cancer_type", b"").decode()
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
                   config_hash),
    ]
    html = _render_html(patient, sections)
    with replaced_on_success(output) as temporary:
        temporary.write_text(html, encoding="utf-8")
    log.info("%s: report with %d sections (%d empty), %.0f KB", patient, len(sections),
             sum(s.empty is not None for s in sections), len(html.encode()) / 1024)
    return sections


# ---------------------------------------------------------------------------------------------
# Command line.

def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "patient-report", help="one self-contained HTML report for a patient from its tables")
    parser.add_argument("--patient", required=True, help="patient id")
    parser.add_argument("--drivers", required=True, help="drivers Parquet (score_drivers)")
    parser.add_argument("--therapies", required=True, help="therapies Parquet (match_therapies)")
    parser.add_argument("--tmb", required=True, help="TMB Parquet (compute_tmb)")
    parser.add_argument("--icb", required=True, help="immunotherapy predictions Parquet")
    parser.add_argument("--identity", help="identity TSV (check_sample_identity)")
    parser.add_argument("--coverage", help="coverage Parquet (summarize-coverage)")
    parser.add_argument("--lesion", nargs=3, action="append", default=[],
                        metavar=("IMAGE", "MASK", "INGEST_PARQUET"),
                        help="a de-identified lesion working copy (repeatable)")
    parser.add_argument("--radiomics", help="cohort radiomics Parquet")
    parser.add_argument("--no-imaging", action="store_true",
                        help="the cohort has no images (the imaging stage did not run)")
    parser.add_argument("--similar", help="similar-patients Parquet")
    parser.add_argument("--fusion", help="fused predictions Parquet (evaluate_fusion)")
    parser.add_argument("--driver-threshold", type=float, default=DEFAULT_DRIVER_THRESHOLD)
    parser.add_argument("--output", required=True, help="HTML to write")
    parser.set_defaults(func=_cmd_report)

    coverage = subparsers.add_parser(
        "summarize-coverage", help="a patient's mosdepth coverage per driver gene, as Parquet")
    coverage.add_argument("--patient", required=True)
    coverage.add_argument("--sample", nargs=4, action="append", required=True,
                          metavar=("SAMPLE", "TYPE", "REGIONS_BED", "THRESHOLDS_BED"),
                          help="a sample's mosdepth outputs (repeat for the normal)")
    coverage.add_argument("--output", required=True, help="Parquet to write")
    coverage.set_defaults(func=_cmd_coverage)


def _cmd_report(args) -> int:
    render_patient_report(
        args.patient, args.output, drivers=args.drivers, therapies=args.therapies, tmb=args.tmb,
        icb=args.icb, identity=args.identity, coverage=args.coverage,
        lesions=[Lesion(Path(i), Path(m), Path(r)) for i, m, r in args.lesion],
        imaging_run=not args.no_imaging, radiomics=args.radiomics, similar=args.similar,
        fusion=args.fusion, driver_threshold=args.driver_threshold)
    return 0


def _cmd_coverage(args) -> int:
    summarize_coverage(args.patient, args.output, [tuple(s) for s in args.sample])
    return 0
