"""Therapy evidence for copy-number driver calls (oncoweave.drivers.copy_number), as therapies rows.

A driver call meets an evidence item of its gene when:

- the call is an amplification and the item's matcher is ``amplification`` (CIViC EGFR
  AMPLIFICATION and COPY NUMBER VARIATION);
- the call is a biallelic loss and the item's matcher is ``deletion`` (CIViC DELETION / LOSS /
  BIALLELIC INACTIVATION names), or a gene-level loss-of-function item of a loss-of-function gene
  (matcher ``truncating_or_pathogenic``: CIViC BRCA1/2 LOSS-OF-FUNCTION, TP53 DELETERIOUS
  MUTATION, the curated PARP inhibitor rows): both alleles gone is loss of function.

Germline-only items need a germline origin (a germline second hit), as for point calls. The rows
fill THERAPIES_SCHEMA like a point call's (biomarker 'EGFR amplification', 'BRCA2 biallelic
loss'; no hgvs_p; variant_status the call's origin; match_reason the evidence variant and the
driver call's reason), are tiered by the same AMP/ASCO/CAP code and fold with the rest.
Non-driver calls (a gain, a loss without a second hit) are matched to nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from oncoweave.core.tables import require_columns
from oncoweave.therapy.evidence import LOSS_OF_FUNCTION_GENES
from oncoweave.therapy.therapy_table import THERAPIES_SCHEMA, evidence_fields, ordered_matches

CN_CALL_COLUMNS = ("patient", "gene", "driver", "alteration", "origin", "reason")
BIOMARKER_NAMES = {"amplification": "amplification", "biallelic_loss": "biallelic loss"}


def copy_number_calls_of(copy_number: pd.DataFrame,
                         patients: Iterable[str]) -> dict[str, list[dict]]:
    """patient -> its copy-number driver calls (CN_DRIVERS_SCHEMA rows with ``driver``)."""
    require_columns(copy_number, CN_CALL_COLUMNS)
    wanted = copy_number["patient"].isin(list(patients)) & copy_number["driver"].astype(bool)
    calls: dict[str, list[dict]] = {}
    for call in copy_number.loc[wanted, list(CN_CALL_COLUMNS)].to_dict("records"):
        calls.setdefault(call["patient"], []).append(call)
    return calls


def copy_number_reason(call: dict, evidence: dict) -> str | None:
    """Why the driver ``call`` meets ``evidence`` (gene already equal), or None."""
    if evidence["variant_origin"] == "germline" and call["origin"] != "germline":
        return None  # germline-only labels (talazoparib) do not cover a somatic loss
    matcher, alteration = evidence["matcher"], call["alteration"]
    if matcher == "amplification" and alteration == "amplification":
        return call["reason"]
    if alteration == "biallelic_loss" and (
            matcher == "deletion" or (matcher == "truncating_or_pathogenic"
                                      and call["gene"] in LOSS_OF_FUNCTION_GENES)):
        return f"{call['reason']} (loss of function)" if matcher != "deletion" else call["reason"]
    return None


def copy_number_rows(patient: str, calls: list[dict], evidence_by_gene: dict[str, list[dict]],
                     disease_match_of: Callable[[str], str]) -> list[dict]:
    """THERAPIES_SCHEMA rows of one patient's copy-number driver ``calls``; ``disease_match_of``
    gives an evidence disease's match to the patient's cancer type."""
    rows = []
    for call in calls:
        for evidence in evidence_by_gene.get(call["gene"], []):
            reason = copy_number_reason(call, evidence)
            if reason is not None:
                rows.append({
                    "patient": patient,
                    "biomarker": f"{call['gene']} {BIOMARKER_NAMES[call['alteration']]}",
                    "gene": call["gene"], "hgvs_p": None, "hgvs_c": None,
                    "variant_status": call["origin"],
                    **evidence_fields(evidence, disease_match_of(evidence["disease"])),
                    "match_reason": f"{evidence['variant']}: {reason}"})
    return rows


def match_copy_number(copy_number: pd.DataFrame, evidence: pd.DataFrame,
                      patients: Iterable[tuple[str, str | None]]) -> pd.DataFrame:
    """THERAPIES_SCHEMA rows of the copy-number driver calls alone of each (patient,
    cancer_type), best tier first (oncoweave.therapy.matching.match_patients with
    ``copy_number=`` gives them together with the point calls)."""
    from oncoweave.therapy.evidence import disease_match

    listed = list(patients)
    evidence_by_gene = {gene: rows.to_dict("records")
                        for gene, rows in evidence.groupby("gene", dropna=True)}
    calls_of = copy_number_calls_of(copy_number, [patient for patient, _ in listed])
    rows, positions = [], []
    for position, (patient, cancer_type) in enumerate(listed):
        found = copy_number_rows(patient, calls_of.get(patient, []), evidence_by_gene,
                                 lambda disease, kind=cancer_type: disease_match(disease, kind))
        rows += found
        positions += [position] * len(found)
    table = pd.DataFrame(rows, columns=THERAPIES_SCHEMA.names).assign(_position=positions)
    return ordered_matches(table).drop(columns="_position")
