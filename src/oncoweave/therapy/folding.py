"""Therapy matches folded to one row per alteration and drug, in the manner of PCGR's report.

``match_therapies`` writes one row per call x evidence item, so a BRCA1 frameshift gets a dozen
Olaparib rows, one per tumour type and study. ``fold_therapy_matches`` makes them one row per
patient, alteration (the ``biomarker``: gene and protein change, or TMB) and drug, with its best
AMP/ASCO/CAP tier (``therapy_table.TIER_ORDER``), the best item's evidence level, disease and sources,
every direction the items take (resistance is never folded out of sight), the item count, and
the items themselves, best first, as a nested list for the report's details.

Drugs are compared as a set: "Cisplatin, Carboplatin", "Carboplatin, Cisplatin" and
"Carboplatin + Cisplatin" are one therapy. The evidence tables do not say whether a multi-drug
entry is a combination or alternatives, so the folded row keeps the best item's separator.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from oncoweave.core.tables import require_columns
from oncoweave.therapy.evidence import DISEASE_MATCHES
from oncoweave.therapy.therapy_table import THERAPIES_SCHEMA, TIER_ORDER

# The evidence item's fields kept in the nested list, in this order.
EVIDENCE_ITEM_FIELDS = ("drug", "amp_tier", "evidence_level", "direction", "disease",
                        "disease_match", "source_ids", "match_reason")
FOLDED_COLUMNS = ("patient", "biomarker", "gene", "hgvs_p", "hgvs_c", "variant_status", "drug",
                  "best_tier", "best_evidence_level", "directions", "best_disease",
                  "best_disease_match", "best_source_ids", "n_evidence", "evidence")

_DRUG_SEPARATOR = re.compile(r"\s*[+,]\s*")
_LEVELS = "ABCDE"


def drug_key(drug: Any) -> tuple[str, ...] | None:
    """The drugs of an entry as a sorted set of case-folded names; None for no drug."""
    if _missing(drug) or not str(drug).strip():
        return None
    return tuple(sorted({part.casefold() for part in _DRUG_SEPARATOR.split(str(drug).strip())
                         if part}))


def drug_label(drug: Any) -> str | None:
    """The entry's drugs in sorted order, joined as the source joined them (' + ' or ', ')."""
    if drug_key(drug) is None:
        return None
    parts = {part.casefold(): part for part in _DRUG_SEPARATOR.split(str(drug).strip()) if part}
    separator = " + " if "+" in str(drug) else ", "
    return separator.join(parts[key] for key in sorted(parts))


def fold_therapy_matches(matches: pd.DataFrame) -> pd.DataFrame:
    """FOLDED_COLUMNS rows: one per patient, biomarker and drug set of ``matches``
    (THERAPIES_SCHEMA rows), best tier first, then gene, biomarker and drug."""
    require_columns(matches, THERAPIES_SCHEMA.names)
    groups: dict[tuple, list[dict]] = {}
    for item in matches.to_dict("records"):
        key = (item["patient"], item["biomarker"], drug_key(item["drug"]))
        groups.setdefault(key, []).append(item)
    rows = [_folded_row(sorted(items, key=_item_rank)) for items in groups.values()]
    table = pd.DataFrame(rows, columns=list(FOLDED_COLUMNS))
    if table.empty:
        return table
    order = sorted(range(len(rows)), key=lambda index: _row_rank(rows[index]))
    return table.iloc[order].reset_index(drop=True)


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, tuple, dict)) and pd.isna(value))


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _tier_rank(tier: Any) -> int:
    # No tier (no_approved_therapy) after every tier.
    return len(TIER_ORDER) if _missing(tier) else TIER_ORDER.get(tier, len(TIER_ORDER))


def _item_rank(item: dict) -> tuple:
    """Best evidence first: tier, level, this tumour type before others, then text for a
    deterministic order among equals."""
    level = _text(item["evidence_level"])
    match = _text(item["disease_match"])
    return (_tier_rank(item["amp_tier"]), _LEVELS.index(level) if level in _LEVELS else 99,
            DISEASE_MATCHES.index(match) if match in DISEASE_MATCHES else 99,
            _text(item["disease"]), _text(item["direction"]), _text(item["source_ids"]),
            _text(item["drug"]), _text(item["match_reason"]))


def _row_rank(row: dict) -> tuple:
    return (_text(row["patient"]), _tier_rank(row["best_tier"]), _missing(row["gene"]),
            _text(row["gene"]), _text(row["biomarker"]), drug_key(row["drug"]) or ())


def _distinct(values) -> list[str]:
    return list(dict.fromkeys(str(value) for value in values if not _missing(value)))


def _folded_row(items: list[dict]) -> dict:
    """One folded row from a group's items, best first."""
    best = items[0]
    return {
        "patient": best["patient"], "biomarker": best["biomarker"], "gene": best["gene"],
        "hgvs_p": best["hgvs_p"], "hgvs_c": best["hgvs_c"],
        "variant_status": ", ".join(_distinct(item["variant_status"] for item in items)) or None,
        "drug": drug_label(best["drug"]), "best_tier": best["amp_tier"],
        "best_evidence_level": best["evidence_level"],
        # In the order of each direction's best item: "sensitivity; resistance".
        "directions": "; ".join(_distinct(item["direction"] for item in items)),
        "best_disease": best["disease"], "best_disease_match": best["disease_match"],
        "best_source_ids": best["source_ids"], "n_evidence": len(items),
        "evidence": [{name: None if _missing(item[name]) else item[name]
                      for name in EVIDENCE_ITEM_FIELDS} for item in items],
    }
