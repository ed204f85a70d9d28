"""The therapy stage's table: its schema (one row per matched call x evidence item), the AMP/ASCO/CAP
tier order every stage and report sorts by, and the helpers that fill and order its rows for the
point-mutation matcher (``therapy.matching``) and the copy-number one (``therapy.copy_number_matching``).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from oncoweave.core.tables import schema_field
from oncoweave.therapy.evidence import DISEASE_MATCHES

# AMP/ASCO/CAP tiers, strongest first: the one ranking every stage and report sorts by.
TIER_ORDER = {"IA": 0, "IB": 1, "IIC": 2, "IID": 3, "III": 4}

THERAPIES_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id"),
    schema_field("biomarker", pa.string(), "What matched: 'EGFR p.L858R', 'TMB 12.0 mut/Mb'"),
    schema_field("gene", pa.string(), "Gene of the call; null for TMB", True),
    schema_field("hgvs_p", pa.string(), "Protein change of the call", True),
    schema_field("hgvs_c", pa.string(), "Coding DNA change of the call", True),
    schema_field("variant_status", pa.string(),
                 "Call status (somatic, germline, loh, tumour_only); null for TMB", True),
    schema_field("drug", pa.string(), "Drug(s); null when no therapy is approved", True),
    schema_field("evidence_level", pa.string(), "CIViC evidence level A-E", True),
    schema_field("amp_tier", pa.string(), "AMP/ASCO/CAP tier (IA, IB, IIC, IID, III) given the "
                 "disease match; null for no_approved_therapy", True),
    schema_field("direction", pa.string(), "sensitivity, resistance, reduced_sensitivity or "
                 "no_approved_therapy"),
    schema_field("disease", pa.string(), "Disease of the evidence"),
    schema_field("disease_match", pa.string(), "Evidence disease vs the patient's cancer type: " +
                 ", ".join(DISEASE_MATCHES)),
    schema_field("source_ids", pa.string(), "Evidence ids: CIViC:EID, PMID:, FDA: label"),
    schema_field("match_reason", pa.string(), "Why the call matched, and flags (germline ...)"),
])


def evidence_fields(evidence: dict, match: str) -> dict:
    """The therapies-row fields an evidence item gives, its tier by the disease ``match``."""
    tier = evidence["amp_tier_same_disease" if match == "exact" else "amp_tier_other_disease"]
    return {"drug": evidence["drug"], "evidence_level": evidence["evidence_level"],
            "amp_tier": tier, "direction": evidence["direction"],
            "disease": evidence["disease"], "disease_match": match,
            "source_ids": evidence["source_ids"]}


def ordered_matches(table: pd.DataFrame) -> pd.DataFrame:
    """Per listed patient (``_position``, in listing order): best tier first, then level; one row
    per biomarker x evidence (several tumour samples of a patient carry the same call)."""
    table = table.drop_duplicates(ignore_index=True)
    rank = table["amp_tier"].map(TIER_ORDER).fillna(len(TIER_ORDER))
    order = table.assign(_rank=rank).sort_values(
        ["_position", "_rank", "evidence_level", "biomarker", "drug"], na_position="last",
        kind="stable").index
    return table.loc[order].reset_index(drop=True)
