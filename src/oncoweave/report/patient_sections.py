"""The patient report's sections and their parts: the Section/Table model the template renders,
value formatting, and the driver, germline, therapy, TMB/ICB, fusion and similar-patient sections,
each made from that patient's rows of one stage table."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

import pandas as pd

from oncoweave.core.model_status import NOT_FITTED_KEY, task_reason_key
from oncoweave.drivers.defaults import DRIVER_GENES
from oncoweave.fusion.feature_table import GERMLINE_GENES, TUMOUR_STATUSES
from oncoweave.therapy.folding import fold_therapy_matches

# Hereditary cancer genes of the panel (ACMG secondary-findings list: hereditary breast/ovarian
# cancer, Li-Fraumeni): a damaging germline variant there means referral for genetic counselling.
COUNSELLING_GENES = frozenset({*GERMLINE_GENES, "TP53"})


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class FoldedRow:
    """A table row with the items behind it, folded beneath it in <details> (``summary``: the
    line shown while folded)."""
    cells: list[Any]
    summary: str
    details: list[list[Any]]


@dataclass
class FoldedTable:
    """A table whose rows each fold their items (a table of ``details_columns``) beneath them."""
    columns: list[str]
    rows: list[FoldedRow]
    details_columns: list[str]
    caption: str = ""


@dataclass
class Section:
    key: str
    title: str
    empty: str | None = None          # why there is nothing to show
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    folded_tables: list[FoldedTable] = field(default_factory=list)
    images: list[dict[str, str]] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def as_text(value: Any, missing: str = "—") -> str:
    return missing if is_missing(value) or value == "" else str(value)


def as_number(value: Any, digits: int = 2, missing: str = "—") -> str:
    return missing if is_missing(value) else f"{float(value):.{digits}f}"


def as_percent(value: Any, digits: int = 0) -> str:
    return "—" if is_missing(value) else f"{100 * float(value):.{digits}f} %"


def _protein_change(row: pd.Series) -> str:
    if not is_missing(row.get("hgvs_p")) and row.get("hgvs_p"):
        return str(row["hgvs_p"])
    if not is_missing(row.get("hgvs_c")) and row.get("hgvs_c"):
        return f"{row['hgvs_c']} ({as_text(row.get('consequence'))})"
    return (f"{row['chrom']}:{row['pos']} {row['ref']}>{row['alt']} "
            f"({as_text(row.get('consequence'))})")


def feature_reasons(top_features: str | None) -> str:
    """The top contributions of a driver score in words: '<reason> (raises the score, +4.34)'."""
    if is_missing(top_features) or not top_features:
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


def drivers_section(drivers: pd.DataFrame, threshold: float,
                    call_set_note: str | None = None) -> Section:
    section = Section("drivers", "Driver mutations")
    if call_set_note and drivers.empty:
        # Words, not "0 tumour calls scored": no calls is not the same as no drivers.
        section.empty = f"Nothing to score: {call_set_note}"
        return section
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
                f"{row['gene']} {_protein_change(row)} ({row['filter']}, "
                f"VAF {as_percent(row['t_vaf'], 1)})"
                for _, row in filtered.iterrows()))
    if drivers["pair_identity"].isin(["fail"]).any():
        section.alerts.append("The tumour/normal pair failed the identity check: the calls were "
                              "analysed as tumour-only (somatic and germline not separated).")
    if called.empty:
        section.empty = (f"No PASS tumour call reaches driver_score ≥ {threshold:g} "
                         f"({len(tumour)} tumour calls scored).")
        return section
    rows = [[row.gene, _protein_change(row), as_percent(row.t_vaf, 1),
             {"tumour_only": "tumour-only (no normal to tell)", "loh": "germline with LOH"}.get(
                 row.status, row.status),
             as_number(row.driver_score), as_text(row.clonality), feature_reasons(row.top_features)]
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
        rows.append([row.gene, _protein_change(row), as_percent(row.n_vaf, 1),
                     as_percent(row.t_vaf, 1), "with LOH in the tumour" if row.status == "loh"
                     else "heterozygous", as_number(row.driver_score),
                     feature_reasons(row.top_features), action])
        if row.gene in COUNSELLING_GENES:
            section.alerts.append(f"Germline {row.gene} {_protein_change(row)}: refer for "
                                  "genetic counselling.")
    section.tables.append(Table(["gene", "protein change", "normal VAF", "tumour VAF", "zygosity",
                                 "driver_score", "top contributing features", "action"], rows))
    return section


def therapies_section(therapies: pd.DataFrame, cancer_type: str | None) -> Section:
    """One row per alteration and drug at its best tier (``fold_therapy_matches``), tier I first,
    each with the evidence items behind it folded beneath in <details>."""
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
    folded = fold_therapy_matches(matched)
    section.notes.append(
        f"One row per alteration and drug ({len(folded)} rows from {len(matched)} evidence "
        "items), at the best AMP/ASCO/CAP tier of its evidence, tier I first; the disease, "
        "level and sources are the best item's, and every item is listed beneath the row. "
        "Tier IA/IB = evidence in this tumour type, IIC/IID = other tumour types or weaker "
        "evidence, III = preclinical or case reports. Resistance is named in 'direction' "
        "whenever any item says so.")
    rows = [FoldedRow(
        [row.biomarker + (" (germline)" if "germline" in _statuses(row.variant_status) else ""),
         row.drug, as_text(row.best_tier), as_text(row.best_evidence_level), row.directions,
         as_text(row.best_disease), _disease_match_words(row.best_disease_match),
         as_text(row.best_source_ids), row.n_evidence],
        f"{row.n_evidence} evidence item{'s' if row.n_evidence != 1 else ''} for "
        f"{row.biomarker} and {row.drug}",
        [[as_text(item["amp_tier"]), as_text(item["evidence_level"]),
          as_text(item["direction"]), as_text(item["disease"]),
          _disease_match_words(item["disease_match"]), as_text(item["drug"]),
          as_text(item["source_ids"]), as_text(item["match_reason"])]
         for item in row.evidence])
        for row in folded.itertuples()]
    section.folded_tables.append(FoldedTable(
        ["alteration", "drug", "best AMP/ASCO/CAP tier", "evidence level", "direction",
         "disease", "disease match", "sources", "evidence items"], rows,
        ["tier", "evidence level", "direction", "disease", "disease match", "drug as listed",
         "sources", "why it matched"]))
    return section


def _statuses(variant_status: Any) -> list[str]:
    return [] if is_missing(variant_status) else str(variant_status).split(", ")


def _disease_match_words(disease_match: Any) -> str:
    return {"exact": "this tumour type", "other": "another tumour type"}.get(
        disease_match, as_text(disease_match))


def tmb_icb_section(tmb: pd.DataFrame, icb: pd.DataFrame) -> Section:
    section = Section("tmb", "Tumour mutational burden and immunotherapy response")
    if tmb.empty:
        section.facts.append(("TMB", "not computed for this patient"))
    else:
        row = tmb.iloc[0]
        if bool(row["reportable"]):
            section.facts.append(("TMB", f"{as_number(row['tmb'], 1)} mutations/Mb "
                                         f"({row['tmb_source']})"))
        else:
            section.facts.append(("TMB", f"not reportable: {as_text(row['reason'])}"))
        section.facts.append(("callable territory", f"{as_number(row['callable_mb'], 3)} Mb; "
                              f"{row['somatic_coding_mutations']} somatic coding mutations"))
    if icb.empty:
        section.facts.append(("immunotherapy response", "no prediction for this patient"))
    else:
        row = icb.iloc[0]
        if is_missing(row["response_probability"]):
            section.facts.append(("immunotherapy-response probability", as_text(row["reason"])))
        else:
            section.facts.append((
                "immunotherapy-response probability",
                f"{as_percent(row['response_probability'])} (90 % bootstrap interval "
                f"{as_percent(row['low'])} – {as_percent(row['high'])})"))
            section.facts.extend(_icb_fallbacks(row))
        section.facts.append(("model", as_text(row["model"])))
    return section


def _icb_fallbacks(row: pd.Series) -> list[tuple[str, str]]:
    """What the ICB model stood in for this patient: the pan-cancer level, training medians."""
    facts = []
    if not is_missing(row.get("cancer_type_flag")):
        facts.append(("cancer type used", as_text(row["cancer_type_flag"])))
    imputed = row.get("imputed_features")
    if not is_missing(imputed) and imputed:
        facts.append(("imputed predictors", f"{imputed.replace(',', ', ')} (not in the clinical "
                      "sheet: the training cohort's median was used)"))
    return facts


def fusion_section(predictions: pd.DataFrame | None,
                   metadata: Mapping[str, str] | None = None) -> Section:
    """``metadata``: the predictions table's, which says why a task was not evaluated."""
    section = Section("fusion", "Fused risk and response prediction")
    metadata = metadata or {}
    if predictions is None:
        section.empty = ("Stage not run: the fusion evaluation (rule evaluate_fusion, "
                         "results/fusion/patient_predictions.parquet) is not part of this run.")
        return section
    if predictions.empty:
        section.empty = "The fusion evaluation made no prediction for this patient."
        return section
    row = predictions.iloc[0]
    if is_missing(row["risk"]):
        section.facts.append(("fused risk", _not_evaluated(metadata, "survival")))
    else:
        section.facts += [
            ("fused risk (out of fold; higher = worse)",
             f"higher than {as_number(row['risk'], 0)} % of the cohort's patients the model was "
             f"trained on; {as_text(row['risk_group'])}-risk group"),
            ("95 % interval (out-of-bag bootstrap refits)",
             f"{_ordinal(row['risk_lower'])} – {_ordinal(row['risk_upper'])} percentile "
             f"(median {_ordinal(row['risk_percentile'])})"),
        ]
    response = (_not_evaluated(metadata, "response")
                if is_missing(row["response_probability"]) else
                f"{as_percent(row['response_probability'])} (95 % interval "
                f"{as_percent(row['response_lower'])} – {as_percent(row['response_upper'])})")
    section.facts += [
        ("response probability", response),
        ("modalities used", as_text(row["modalities_used"])),
        ("modalities missing", as_text(row["modalities_missing"], "none")),
        ("model", as_text(row["model"])),
    ]
    return section


def _not_evaluated(metadata: Mapping[str, str], task: str) -> str:
    reason = metadata.get(task_reason_key(task))
    if reason:
        return f"not evaluated for this cohort: {reason}"
    return f"not evaluated for this cohort (see results/fusion/evaluation/{task}/metrics.json)"


def _ordinal(value: Any) -> str:
    """62 -> '62nd', 11 -> '11th'; '—' when missing."""
    if is_missing(value):
        return "—"
    number = int(round(float(value)))
    teens = 10 <= number % 100 <= 20
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _outcome(os_months: Any, os_event: Any, response: Any) -> str:
    if is_missing(os_months):
        survival = "survival unknown"
    elif not is_missing(os_event) and int(os_event) == 1:
        survival = f"died at {as_number(os_months, 1)} months"
    else:
        survival = f"alive at {as_number(os_months, 1)} months (censored)"
    responded = ("response unknown" if is_missing(response) else
                 "responded (CR/PR)" if int(response) == 1 else "did not respond (SD/PD)")
    return f"{survival}; {responded}"


def similar_section(similar: pd.DataFrame | None,
                    metadata: Mapping[str, str] | None = None) -> Section:
    """``metadata``: the retrieval table's, which says when no learned representation was used."""
    section = Section("similar", "Most similar patients")
    not_fitted = (metadata or {}).get("representation_not_fitted")
    if similar is None:
        section.empty = "Stage not run: similar-patient retrieval is not part of this run."
        return section
    if similar.empty:
        reason = (metadata or {}).get(NOT_FITTED_KEY)
        section.empty = (f"No similar patient: {reason}." if reason else
                         "No similar patient: no other patient shares a modality with this one.")
        return section
    if not_fitted:
        section.notes.append("Nearest patients in the cohort by their standardised features (the "
                             f"fusion network was not fitted: {not_fitted}), with what they "
                             "share and their outcomes.")
    else:
        section.notes.append("Nearest patients in the cohort by the fused representation (or "
                             "the standardised features), with what they share and their "
                             "outcomes.")
    rows = [[int(row.rank), row.neighbour, as_number(row.distance),
             as_text(row.shared_drivers, "none"), as_text(row.shared_therapies, "none"),
             as_text(row.imaging_traits), as_text(row.clinical_match),
             _outcome(row.neighbour_os_months, row.neighbour_os_event, row.neighbour_response),
             as_text(row.modalities_used)]
            for row in similar.sort_values("rank").itertuples()]
    section.tables.append(Table(["rank", "patient", "distance", "shared drivers",
                                 "shared therapies", "imaging", "clinical", "outcome",
                                 "compared on"], rows))
    return section
