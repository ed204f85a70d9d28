"""The patient report's copy-number section: one bar per gene (its log2 ratio, else its total copy
number, else its GISTIC level) coloured by the call, and a table of the calls with the copy-number
driver verdict in words, both from the patient's rows of the shard's copy-number driver table
(``CN_DRIVERS_SCHEMA``, rule call_copy_number_drivers), embedded as a base64 PNG."""

from __future__ import annotations

import base64
import io

import pandas as pd

from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA
from oncoweave.drivers.defaults import DRIVER_GENES
from oncoweave.report.patient_sections import Section, Table, as_number, as_text, is_missing
from oncoweave.variants.copy_number import CALL_LEVELS, LOG2_THRESHOLDS

# One colour per call, the oncoprint's too (dark: amplification / deep deletion; light: one copy).
CN_CALL_COLOURS = {"amplification": "#b2182b", "gain": "#f4a582", "neutral": "#bdbdbd",
                   "loss": "#92c5de", "deep_deletion": "#2166ac", "loh": "#9970ab"}
CN_CALL_WORDS = {"deep_deletion": "deep deletion", "loh": "copy-neutral LOH"}
CN_SOURCE_WORDS = {"gistic": "GISTIC 2 discrete call (published table)",
                   "segments": "segmented log2 ratio (.seg)", "cnvkit": "CNVkit from reads"}
NO_COPY_NUMBER_RUN = ("No copy-number data in this run (no copy_number table in the config, and no "
                      "read tumour for CNVkit).")
NO_COPY_NUMBER_PATIENT = ("No copy-number call for this patient: it has no tumour reads for CNVkit "
                          "and no sample in the run's copy-number table.")


def call_words(call: str) -> str:
    return CN_CALL_WORDS.get(call, call)


def _ordered(rows: pd.DataFrame) -> pd.DataFrame:
    """Driver genes in panel order first, then any other gene alphabetically."""
    rank = {gene: number for number, gene in enumerate(DRIVER_GENES)}
    key = rows["gene"].map(lambda gene: (rank.get(gene, len(rank)), gene))
    return rows.assign(_key=key).sort_values("_key", kind="stable").drop(columns="_key")


def copy_number_values(rows: pd.DataFrame) -> tuple[pd.Series, str]:
    """(per row, the value drawn; its axis label): the log2 ratio when every row has one, else
    the total copy number when every row has one, else the call's GISTIC level (-2..2)."""
    log2 = pd.to_numeric(rows["log2_ratio"], errors="coerce")
    if len(rows) and log2.notna().all():
        return log2.astype(float), "log2 copy ratio (tumour / normal)"
    total = pd.to_numeric(rows["total_copy_number"], errors="coerce")
    if len(rows) and total.notna().all():
        return total.astype(float), "total copy number"
    return rows["call"].map(CALL_LEVELS).astype(float), "GISTIC level (-2..2)"


def copy_number_figure(rows: pd.DataFrame) -> str:
    """A data: URI PNG, one bar per gene of ``rows`` coloured by its call."""
    from oncoweave.drivers.plots import pyplot

    plt = pyplot()
    values, label = copy_number_values(rows)
    genes = list(rows["gene"])
    colours = [CN_CALL_COLOURS.get(call, "black") for call in rows["call"]]
    total = label == "total copy number"
    base = 2.0 if total else 0.0  # bars start at the diploid level
    figure, axis = plt.subplots(figsize=(max(3.2, 0.6 * len(genes) + 1.6), 2.6))
    axis.bar(range(len(genes)), values.to_numpy() - base, bottom=base, color=colours,
             edgecolor="black", linewidth=0.5, width=0.7)
    axis.axhline(base, color="black", linewidth=0.8)
    axis.scatter(range(len(genes)), values.to_numpy(), color=colours, edgecolors="black",
                 linewidths=0.5, s=22, zorder=3)  # a neutral gene's bar has no height
    axis.set_xticks(range(len(genes)), genes, fontstyle="italic", fontsize=8,
                    rotation=90 if len(genes) > 8 else 0)
    axis.set_ylabel(label.split(" (")[0], fontsize=8)
    if label.startswith("log2"):  # the segment calls' cut-offs
        for cut in (LOG2_THRESHOLDS.amplification, LOG2_THRESHOLDS.gain, LOG2_THRESHOLDS.loss,
                    LOG2_THRESHOLDS.deep_deletion):
            axis.axhline(cut, color="0.5", linewidth=0.6, linestyle=":")
    axis.tick_params(axis="y", labelsize=7)
    if label.startswith("GISTIC"):
        axis.set_ylim(-2.4, 2.4)
        axis.set_yticks([-2, -1, 0, 1, 2])
    shown = [call for call in CN_CALL_COLOURS if call in set(rows["call"])]
    handles = [plt.Rectangle((0, 0), 1, 1, color=CN_CALL_COLOURS[call]) for call in shown]
    axis.legend(handles, [call_words(call) for call in shown], fontsize=7, frameon=False,
                loc="center left", bbox_to_anchor=(1.0, 0.5))
    axis.spines[["top", "right"]].set_visible(False)
    axis.set_title("Copy number per gene", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def copy_number_section(rows: pd.DataFrame | None) -> Section:
    """The section of the patient's CN_DRIVERS_SCHEMA rows; ``None``: the run has no copy
    number (one line says so), no rows: the table has no sample of the patient."""
    section = Section("copy_number", "Copy number")
    if rows is None:
        section.empty = NO_COPY_NUMBER_RUN
        return section
    if rows.empty:
        section.empty = NO_COPY_NUMBER_PATIENT
        return section
    missing = [name for name in CN_DRIVERS_SCHEMA.names if name not in rows]
    if missing:
        raise ValueError(f"copy-number rows lack column(s) {', '.join(missing)}")
    rows = _ordered(rows).reset_index(drop=True)
    table = []
    for row in rows.itertuples(index=False):
        driver = ("yes: " + row.alteration.replace("_", " ")) if row.driver else "no"
        if row.driver and row.origin == "germline":
            driver += " (germline second hit)"
        table.append([row.gene, call_words(row.call), as_number(row.log2_ratio),
                      as_text(None if is_missing(row.total_copy_number)
                              else int(row.total_copy_number)),
                      as_text(None if is_missing(row.minor_copy_number)
                              else int(row.minor_copy_number)),
                      CN_SOURCE_WORDS.get(row.source, row.source), driver, row.reason])
    label = copy_number_values(rows)[1]
    section.images.append({
        "src": copy_number_figure(rows), "alt": "copy number per gene",
        "caption": f"Per gene, {label}, coloured by the call" + (
            "; dotted: the log2 cut-offs of the calls." if label.startswith("log2") else ".")})
    section.tables.append(Table(["gene", "call", "log2 ratio", "total CN", "minor CN", "source",
                                 "copy-number driver", "why"], table,
                                "Copy-number calls and their driver verdicts"))
    drivers = rows[rows["driver"].astype(bool)]
    if len(drivers):
        section.facts.append(("copy-number drivers", "; ".join(
            f"{row.gene} {row.alteration.replace('_', ' ')}"
            for row in drivers.itertuples(index=False))))
    section.notes.append(
        "A copy-number driver is an EGFR amplification, or a tumour suppressor (TP53, BRCA1, "
        "BRCA2) lost on both alleles: a deep deletion, or one copy lost (or copy-neutral LOH) "
        "with a damaging PASS point call of the same gene as the second hit. A gain is low-level "
        "and not an amplification; '—' where the source gives no such value.")
    return section
