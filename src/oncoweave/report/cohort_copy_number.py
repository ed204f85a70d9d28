"""The cohort's copy number in one table: per gene, how many patients are amplified, gained, lost,
deep-deleted or copy-neutral LOH among those measured, from a COPY_NUMBER_SCHEMA table (the
workflow's results/cohort/copy_number.parquet, or any published table read by
``oncoweave copy-number summary``), and the cohort report's page of it."""

from __future__ import annotations

import pandas as pd

from oncoweave.core.tables import require_columns
from oncoweave.report.cohort_tables import html_page
from oncoweave.variants.copy_number import CN_CALLS

SUMMARY_CALLS = ("amplification", "gain", "loss", "deep_deletion", "loh")
SUMMARY_COLUMNS = ("gene", "patients_measured", *SUMMARY_CALLS, "altered", "altered_percent")


def copy_number_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per gene: patients measured, patients per call (amplification, gain, loss,
    deep_deletion, loh), ``altered`` (amplified or deep-deleted: cBioPortal's AMP and HOMDEL) and
    its share of those measured, in percent; most altered first (then most amplified, then by
    name). A patient counts once per gene, at its strongest call."""
    require_columns(table, ["patient", "gene", "call"])
    unknown = sorted(set(table["call"]) - set(CN_CALLS))
    if unknown:
        raise ValueError(f"unknown copy-number call(s) {', '.join(unknown)}")
    strength = {"amplification": 0, "deep_deletion": 1, "gain": 2, "loss": 3, "loh": 4,
                "neutral": 5}
    calls = (table.assign(_rank=table["call"].map(strength))
             .sort_values("_rank", kind="stable").drop_duplicates(["patient", "gene"]))
    counts = pd.crosstab(calls["gene"], calls["call"]).reindex(columns=list(SUMMARY_CALLS),
                                                               fill_value=0)
    measured = calls.groupby("gene")["patient"].nunique()
    summary = counts.assign(patients_measured=measured.reindex(counts.index)).reset_index()
    summary = summary.rename(columns={"index": "gene"}) if "gene" not in summary else summary
    summary["altered"] = summary["amplification"] + summary["deep_deletion"]
    summary["altered_percent"] = (100 * summary["altered"] / summary["patients_measured"]).round(1)
    summary = summary.sort_values(["altered", "amplification", "gene"],
                                  ascending=[False, False, True], kind="stable")
    summary = summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)
    summary.columns.name = None
    return summary.astype({name: "int64" for name in
                           ("patients_measured", *SUMMARY_CALLS, "altered")})


def summary_lines(summary: pd.DataFrame, top: int = 10) -> list[str]:
    """The ``top`` genes in words: 'ERBB2: amplified 33, gained 12, ... of 480 patients'."""
    words = {"amplification": "amplified", "gain": "gained", "loss": "lost",
             "deep_deletion": "deep-deleted", "loh": "copy-neutral LOH"}
    lines = []
    for row in summary.head(top).itertuples(index=False):
        parts = [f"{words[call]} {getattr(row, call)}" for call in SUMMARY_CALLS
                 if getattr(row, call)]
        lines.append(f"{row.gene}: {', '.join(parts) or 'no change'} of {row.patients_measured} "
                     f"patients (amplified or deep-deleted: {row.altered_percent:g} %)")
    return lines


def copy_number_page(table: pd.DataFrame, source: str = "") -> str:
    """The cohort report's page: the per-gene summary, every gene of the table."""
    summary = copy_number_summary(table)
    patients = table["patient"].nunique()
    origin = f" from {source}" if source else ""
    return html_page("Copy number per gene", [
        ("Per gene", f"{patients} patients × {len(summary)} genes{origin}. Per gene, the patients "
         "measured and how many are amplified, gained (one copy), lost (one copy), deep-deleted "
         "(both copies) or copy-neutral LOH; 'altered' counts amplifications and deep deletions "
         "(cBioPortal's AMP and HOMDEL), most altered first.", summary),
    ])
