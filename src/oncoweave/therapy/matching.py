"""Therapy matching: a patient's actionable calls (and TMB) against the evidence table, with tiers.

Calls that count: PASS somatic, tumour_only and loh calls, and PASS germline calls that are
pathogenic in BRCA1/BRCA2 (PARP inhibitors are approved for germline carriers). "Pathogenic" is the
driver scorer's ``driver_score`` when the table has it, else a truncating consequence in a
loss-of-function gene. Resistance evidence is reported like sensitivity (T790M with erlotinib,
C797S with osimertinib); the report must not hide it. Copy-number driver calls (EGFR
amplification, biallelic BRCA1/2 loss), when given, are matched by
oncoweave.therapy.copy_number_matching into the same rows and tiers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from oncoweave.core.tables import read_parquet, require_columns
from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD
from oncoweave.therapy.copy_number_matching import copy_number_calls_of, copy_number_rows
from oncoweave.therapy.evidence import (
    EVIDENCE_SCHEMA,
    EXON_CODONS,
    LOSS_OF_FUNCTION_GENES,
    disease_match,
)
from oncoweave.therapy.therapy_table import THERAPIES_SCHEMA, evidence_fields, ordered_matches
from oncoweave.therapy.tmb import TMB_SCHEMA
from oncoweave.variants.statuses import TUMOUR_STATUSES

GERMLINE_ACTIONABLE_GENES = frozenset({"BRCA1", "BRCA2"})
MATCHED_STATUSES = frozenset(TUMOUR_STATUSES)
TRUNCATING = frozenset({"frameshift", "stop_gained", "splice_acceptor", "splice_donor",
                        "start_lost"})
PROTEIN_ALTERING = TRUNCATING | {"missense", "stop_lost", "inframe_deletion", "inframe_insertion",
                                 "inframe_altering"}
VARIANT_COLUMNS = ("patient", "gene", "hgvs_p", "hgvs_c", "consequence", "status", "filter")

_RESIDUES = re.compile(r"^p\.[A-Z*](\d+)(?:_[A-Z*](\d+))?")




def match_therapies(variants_df: pd.DataFrame, evidence_df: pd.DataFrame, *, patient: str,
                    cancer_type: str | None = None, tmb: float | None = None,
                    min_driver_score: float = DEFAULT_DRIVER_THRESHOLD,
                    copy_number: pd.DataFrame | None = None) -> pd.DataFrame:
    """THERAPIES_SCHEMA rows of ``patient``: each counted call (and a reportable ``tmb``, mut/Mb,
    and each copy-number driver call of ``copy_number``, CN_DRIVERS_SCHEMA rows) against each
    evidence row it satisfies, best tier first."""
    return match_patients(variants_df, evidence_df, [(patient, cancer_type, tmb)],
                          min_driver_score=min_driver_score, copy_number=copy_number)


def match_patients(variants_df: pd.DataFrame, evidence_df: pd.DataFrame,
                   patients: Sequence[tuple[str, str | None, float | None]], *,
                   min_driver_score: float = DEFAULT_DRIVER_THRESHOLD,
                   copy_number: pd.DataFrame | None = None) -> pd.DataFrame:
    """``match_therapies`` of each (patient, cancer_type, tmb) of ``patients``, concatenated in
    that order (the same rows as one call per patient), in one pass over the tables: the calls
    are grouped by patient once, and only those of a listed patient in a gene with evidence are
    looked at, so the cost grows with the calls and the matches, not with the patients."""

    require_columns(variants_df, VARIANT_COLUMNS)
    require_columns(evidence_df, EVIDENCE_SCHEMA.names)
    evidence_by_gene = {gene: rows.to_dict("records")
                        for gene, rows in evidence_df.groupby("gene", dropna=True)}
    tmb_evidence = evidence_df[evidence_df["matcher"] == "tmb_high"].to_dict("records")
    listed = list(dict.fromkeys(patient for patient, _, _ in patients))
    wanted = variants_df["patient"].isin(listed) & variants_df["gene"].isin(list(evidence_by_gene))
    columns = [*VARIANT_COLUMNS, *(["driver_score"] if "driver_score" in variants_df else [])]
    calls_of: dict[str, list[dict]] = {}
    for call in variants_df.loc[wanted, columns].to_dict("records"):
        if _counts(call, min_driver_score):
            calls_of.setdefault(call["patient"], []).append(call)
    cn_calls_of = copy_number_calls_of(copy_number, listed) if copy_number is not None else {}
    matches = functools.cache(disease_match)  # each (disease, cancer type) worked out once
    rows, positions = [], []
    for position, (patient, cancer_type, tmb) in enumerate(patients):
        count = len(rows)
        for call in calls_of.get(patient, []):
            for evidence in evidence_by_gene.get(call["gene"], []):
                reason = _call_matches(call, evidence, min_driver_score)
                if reason is not None:
                    rows.append(_therapy_row(patient, call, evidence, reason,
                                             matches(evidence["disease"], cancer_type)))
        rows += copy_number_rows(patient, cn_calls_of.get(patient, []), evidence_by_gene,
                                 functools.partial(_disease_match_of, matches, cancer_type))
        if tmb is not None:
            rows += [_tmb_row(patient, tmb, evidence, matches(evidence["disease"], cancer_type))
                     for evidence in tmb_evidence if tmb >= float(evidence["matcher_value"])]
        positions += [position] * (len(rows) - count)
    table = pd.DataFrame(rows, columns=THERAPIES_SCHEMA.names)
    return ordered_matches(table.assign(_position=positions)).drop(columns="_position")


def _disease_match_of(matches, cancer_type: str | None, disease: str) -> str:
    return matches(disease, cancer_type)


def _terms(call: dict) -> set[str]:
    return set((call["consequence"] or "").split("&")) if _present(call["consequence"]) else set()


def _present(value) -> bool:
    return value is not None and not pd.isna(value)


def _pathogenic(call: dict, min_driver_score: float, *, truncation_counts: bool) -> str | None:
    """Why the call is pathogenic (driver score, else truncation in a loss-of-function gene)."""
    score = call.get("driver_score")
    if _present(score):
        return f"driver_score {score:.2f} >= {min_driver_score}" if score >= min_driver_score \
            else None
    truncating = sorted(_terms(call) & TRUNCATING)
    if truncation_counts and truncating and call["gene"] in LOSS_OF_FUNCTION_GENES:
        return f"truncating ({'&'.join(truncating)}) in a loss-of-function gene"
    return None


def _counts(call: dict, min_driver_score: float) -> bool:
    if call["filter"] != "PASS" or not _present(call["gene"]):
        return False
    if call["status"] in MATCHED_STATUSES:
        return True
    return (call["status"] == "germline" and call["gene"] in GERMLINE_ACTIONABLE_GENES
            and _pathogenic(call, min_driver_score, truncation_counts=True) is not None)


def _residues(hgvs_p) -> tuple[int, int] | None:
    match = _RESIDUES.match(hgvs_p) if _present(hgvs_p) else None
    if match is None:
        return None
    return int(match[1]), int(match[2] or match[1])


def _in_exon(call: dict, exon: str) -> bool:
    residues = _residues(call["hgvs_p"])
    first, last = EXON_CODONS.get((call["gene"], int(exon)), (0, -1))
    return residues is not None and first <= residues[0] and residues[1] <= last


def _call_matches(call: dict, evidence: dict, min_driver_score: float) -> str | None:
    """Why ``call`` satisfies ``evidence`` (gene already equal), or None."""
    if evidence["variant_origin"] == "germline" and call["status"] == "somatic":
        return None  # germline-only labels (e.g. talazoparib) do not cover somatic calls
    matcher, value, hgvs_p = evidence["matcher"], evidence["matcher_value"], call["hgvs_p"]
    terms = _terms(call)
    if matcher == "protein":
        return f"exact protein change {value}" if hgvs_p == value else None
    if matcher == "codon":
        codon_change = _present(hgvs_p) and re.fullmatch(rf"p\.{value}[A-Z]", hgvs_p)
        return f"missense at codon {value}" if codon_change else None
    if matcher == "exon_deletion":
        hit = "inframe_deletion" in terms and _in_exon(call, value)
        return f"in-frame deletion in {call['gene']} exon {value}" if hit else None
    if matcher == "exon_insertion":
        hit = "inframe_insertion" in terms and _in_exon(call, value)
        return f"in-frame insertion in {call['gene']} exon {value}" if hit else None
    if matcher == "truncating_or_pathogenic":
        return _pathogenic(call, min_driver_score, truncation_counts=True)
    if matcher == "pathogenic":
        return _pathogenic(call, min_driver_score, truncation_counts=False)
    if matcher == "protein_altering":
        altering = sorted(terms & PROTEIN_ALTERING)
        return f"protein-altering ({'&'.join(altering)})" if altering else None
    return None  # tmb_high rows are matched on the patient's TMB, not on calls


def _flags(call: dict) -> str:
    if call["status"] in ("germline", "loh"):
        return ("; GERMLINE variant (in the normal too): confirm and refer for genetic "
                "counselling")
    if call["status"] == "tumour_only":
        return "; origin unknown (no matched normal)"
    return ""


def _therapy_row(patient: str, call: dict, evidence: dict, reason: str, match: str) -> dict:
    label = call["hgvs_p"] if _present(call["hgvs_p"]) else call["hgvs_c"]
    return {
        "patient": patient, "biomarker": f"{call['gene']} {label}", "gene": call["gene"],
        "hgvs_p": call["hgvs_p"] if _present(call["hgvs_p"]) else None,
        "hgvs_c": call["hgvs_c"] if _present(call["hgvs_c"]) else None,
        "variant_status": call["status"], **evidence_fields(evidence, match),
        "match_reason": f"{evidence['variant']}: {reason}{_flags(call)}",
    }


def _tmb_row(patient: str, tmb: float, evidence: dict, match: str) -> dict:
    return {
        "patient": patient, "biomarker": f"TMB {tmb:.1f} mut/Mb", "gene": None, "hgvs_p": None,
        "hgvs_c": None, "variant_status": None, **evidence_fields(evidence, match),
        "match_reason": f"TMB {tmb:.1f} mut/Mb >= {evidence['matcher_value']} mut/Mb",
    }


# ---------------------------------------------------------------------------------------------
# The patient's TMB, when the TMB stage says it may be acted on.

def reportable_tmb(tmb_parquet: str | Path, patient: str) -> float | None:
    """The patient's TMB from a TMB table when it is reportable, else None."""
    return reportable_tmbs(tmb_parquet).get(patient)


def reportable_tmbs(tmb_parquet: str | Path) -> dict[str, float]:
    """Patient -> TMB of every patient of a TMB table whose TMB is reportable (read once)."""
    df, _ = read_parquet(tmb_parquet, expected_schema=TMB_SCHEMA)
    rows = df[df["reportable"]]
    return {str(patient): float(tmb) for patient, tmb in zip(rows["patient"], rows["tmb"])}
