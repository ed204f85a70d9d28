"""The cohort report's figures (``snakemake --report``): the oncoprint, the cohort lollipops and
the VAF distributions, each one PNG drawn from the stages' Parquet tables.

The rules in workflow/rules/report.smk wrap each PNG in ``report(...)``. Nothing here reads the
sheets' free text or image headers: the figures carry only the pseudonymous patient ids the
tables already hold. matplotlib loads when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.drivers.defaults import DRIVER_GENES
from oncoweave.drivers.plots import draw_protein_track, pyplot
from oncoweave.fusion.feature_table import GERMLINE_GENES
from oncoweave.genome.protein import Domain, parse_hgvs_p
from oncoweave.report.patient_copy_number import CN_CALL_COLOURS, call_words
from oncoweave.variants.maf import DEFAULT_MAF_STATUSES, maf_alleles, variant_classification

# maftools' default non-synonymous classes (read.maf vc_nonSyn): what an oncoprint shows.
NONSILENT_CLASSES = (
    "Frame_Shift_Del", "Frame_Shift_Ins", "Splice_Site", "Translation_Start_Site",
    "Nonsense_Mutation", "Nonstop_Mutation", "In_Frame_Del", "In_Frame_Ins", "Missense_Mutation",
)
MULTI_HIT = "Multi_Hit"  # two or more non-silent mutations of one gene in one tumour (maftools)
CLASS_COLOURS = {
    "Missense_Mutation": "#33a02c", "Nonsense_Mutation": "#e31a1c",
    "Frame_Shift_Del": "#1f78b4", "Frame_Shift_Ins": "#6a3d9a", "In_Frame_Del": "#ffd92f",
    "In_Frame_Ins": "#b15928", "Splice_Site": "#ff7f00", "Translation_Start_Site": "#a6cee3",
    "Nonstop_Mutation": "#fb9a99", MULTI_HIT: "#000000",
}
# Copy-number calls an oncoprint cell shows (the patient report's colours), and those that count
# as the gene altered (cBioPortal's AMP and HOMDEL; a one-copy gain or loss is drawn lighter).
ONCOPRINT_CN_CALLS = ("amplification", "deep_deletion", "gain", "loss")
CN_ALTERED = ("amplification", "deep_deletion")
STATUS_COLOURS = {"somatic": "tab:red", "loh": "tab:purple", "tumour_only": "tab:orange",
                  "germline": "tab:grey"}


# ---------------------------------------------------------------------------------------------
# Which calls are shown.

def tumour_alterations(drivers: pd.DataFrame, genes: Sequence[str] = DRIVER_GENES) -> pd.DataFrame:
    """The cohort's non-silent tumour mutations in ``genes``: the MAF's calls (PASS somatic, loh
    and tumour_only), classified as the MAF classifies them, with the protein position.

    Columns: patient, gene, hgvs_p, variant_classification, protein_position (nullable),
    t_vaf, status, driver_score (NaN when the table has none).
    """
    keep = (drivers["filter"] == "PASS") & drivers["status"].isin(DEFAULT_MAF_STATUSES) \
        & drivers["gene"].isin(genes)
    calls = drivers[keep]
    classes = [variant_classification(row.consequence, maf_alleles(int(row.pos), row.ref,
                                                                   row.alt)[4])
               for row in calls.itertuples()]
    table = pd.DataFrame({
        "patient": calls["patient"].to_numpy(), "gene": calls["gene"].to_numpy(),
        "hgvs_p": calls["hgvs_p"].to_numpy(), "variant_classification": classes,
        "protein_position": pd.array([_protein_position(p) for p in calls["hgvs_p"]],
                                     dtype="Int64"),
        "t_vaf": calls["t_vaf"].to_numpy(dtype=float), "status": calls["status"].to_numpy(),
        "driver_score": (calls["driver_score"].to_numpy(dtype=float)
                         if "driver_score" in calls else np.full(len(calls), np.nan)),
    })
    return table[table["variant_classification"].isin(NONSILENT_CLASSES)].reset_index(drop=True)


def germline_pathogenic(drivers: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """PASS germline BRCA1/BRCA2 calls scored at or above ``threshold`` (patient, gene, hgvs_p)."""
    if "driver_score" not in drivers:
        return pd.DataFrame(columns=["patient", "gene", "hgvs_p"])
    keep = (drivers["filter"] == "PASS") & (drivers["status"] == "germline") \
        & drivers["gene"].isin(GERMLINE_GENES) & (drivers["driver_score"] >= threshold)
    return drivers.loc[keep, ["patient", "gene", "hgvs_p"]].reset_index(drop=True)


def _protein_position(hgvs_p) -> int | None:
    if hgvs_p is None or pd.isna(hgvs_p):
        return None
    try:
        return parse_hgvs_p(hgvs_p).position
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Oncoprint.

def oncoprint_matrix(alterations: pd.DataFrame, patients: Sequence[str],
                     genes: Sequence[str] = DRIVER_GENES) -> pd.DataFrame:
    """Genes x patients: the tumour's mutation class in that gene, ``Multi_Hit`` for two or more,
    '' for none. Every patient of the cohort is a column, mutated or not."""
    cells = alterations[alterations["gene"].isin(genes) & alterations["patient"].isin(patients)]
    labels = cells.groupby(["gene", "patient"])["variant_classification"].agg(
        lambda classes: classes.iloc[0] if len(classes) == 1 else MULTI_HIT)
    matrix = labels.unstack("patient") if len(labels) else pd.DataFrame()
    matrix = matrix.reindex(index=list(genes), columns=list(patients)).astype(object).fillna("")
    matrix.columns.name = matrix.index.name = None
    return matrix


def oncoprint_copy_number(copy_number: pd.DataFrame | None, patients: Sequence[str],
                          genes: Sequence[str] = DRIVER_GENES) -> pd.DataFrame:
    """Genes x patients: the tumour's copy-number call (COPY_NUMBER_SCHEMA rows) where it is
    amplification, deep_deletion, gain or loss; '' where neutral, copy-neutral LOH or not
    measured (and everywhere without a table)."""
    matrix = pd.DataFrame("", index=list(genes), columns=list(patients), dtype=object)
    if copy_number is None or copy_number.empty:
        return matrix
    shown = copy_number[copy_number["gene"].isin(genes) & copy_number["patient"].isin(patients)
                        & copy_number["call"].isin(ONCOPRINT_CN_CALLS)]
    for gene, patient, call in zip(shown["gene"], shown["patient"], shown["call"]):
        matrix.at[gene, patient] = call
    return matrix


def oncoprint_order(matrix: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Genes by the number of patients altered (most first), patients sorted so that those altered
    in the first gene come first, then the second, ... (the 'memo sort' of cBioPortal/maftools)."""
    altered = matrix != ""
    counts = altered.sum(axis=1)
    genes = sorted(matrix.index, key=lambda gene: -int(counts[gene]))  # stable: ties keep order
    unaltered = ~altered.loc[genes].to_numpy()  # genes x patients, True = not altered
    keys = {patient: tuple(unaltered[:, column]) for column, patient in enumerate(matrix.columns)}
    patients = sorted(matrix.columns, key=keys.__getitem__)  # stable: ties keep sheet order
    return genes, [str(patient) for patient in patients]


def oncoprint_layout(alterations: pd.DataFrame, copy_number: pd.DataFrame | None,
                     patients: Sequence[str], genes: Sequence[str] = DRIVER_GENES
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(mutation matrix, copy-number matrix), genes x patients in the oncoprint's order: genes
    and patients sorted by :func:`oncoprint_order` over the cells altered by a mutation, an
    amplification or a deep deletion."""
    matrix = oncoprint_matrix(alterations, patients, genes)
    cn = oncoprint_copy_number(copy_number, patients, genes)
    gene_order, patient_order = oncoprint_order(matrix.where(matrix != "",
                                                             cn.where(cn.isin(CN_ALTERED), "")))
    return matrix.loc[gene_order, patient_order], cn.loc[gene_order, patient_order]


def plot_oncoprint(alterations: pd.DataFrame, germline: pd.DataFrame, patients: Sequence[str],
                   path: str | Path, *, threshold: float,
                   genes: Sequence[str] = DRIVER_GENES,
                   copy_number: pd.DataFrame | None = None) -> pd.DataFrame:
    """The oncoprint PNG; returns the mutation matrix it drew (genes x patients, in the drawn
    order; :func:`oncoprint_layout` gives its copy-number matrix too).

    A cell's colour is the tumour's mutation class; with ``copy_number`` (COPY_NUMBER_SCHEMA
    rows), an amplification or deep deletion fills the cell dark red or dark blue, a gain or loss
    lighter, and a mutation of that cell is a bar inside it (as maftools draws both). A white dot
    marks a cell with a likely driver (``driver_score`` >= threshold), a black triangle a
    germline pathogenic BRCA1/2 call. Above: non-silent mutations per tumour; right: the share of
    patients altered per gene (a mutation, an amplification or a deep deletion).
    """
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    if not len(patients):
        raise InputError("the cohort has no patients to draw")
    matrix, cn = oncoprint_layout(alterations, copy_number, patients, genes)
    gene_order, patient_order = list(matrix.index), list(matrix.columns)
    altered = matrix.where(matrix != "", cn.where(cn.isin(CN_ALTERED), ""))
    likely = set(alterations.loc[alterations["driver_score"] >= threshold, ["gene", "patient"]]
                 .itertuples(index=False, name=None))
    carriers = set(germline[["gene", "patient"]].itertuples(index=False, name=None))
    counts = alterations.groupby("patient").size().reindex(patient_order, fill_value=0)

    width = min(max(8.0, 2.5 + 0.35 * len(patient_order)), 40)
    figure = plt.figure(figsize=(width, 1.6 + 0.45 * len(gene_order) + 1.2))
    grid = figure.add_gridspec(2, 2, height_ratios=[1, max(len(gene_order), 1) * 0.7],
                               width_ratios=[5, 1],
                               hspace=0.05, wspace=0.03)
    top, cells, side = (figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[1, 0]),
                        figure.add_subplot(grid[1, 1]))
    if len(patient_order) <= 200:
        top.bar(range(len(patient_order)), counts.to_numpy(), color="tab:grey", width=0.8)
    else:  # one polygon instead of thousands of bars
        top.fill_between(range(len(patient_order)), counts.to_numpy(), step="mid",
                         color="tab:grey")
    top.set_xlim(-0.5, len(patient_order) - 0.5)
    top.set_ylabel("mutations", fontsize=8)
    top.set_xticks([])
    top.spines[["top", "right"]].set_visible(False)
    colours = {**CLASS_COLOURS, **{call: CN_CALL_COLOURS[call] for call in ONCOPRINT_CN_CALLS}}
    names = list(colours)
    # A cell with a copy-number call is filled by it; its mutation, if any, is a bar inside.
    base = cn.where(cn != "", matrix)
    codes = base.apply(lambda column: column.map(
        lambda label: names.index(label) + 1 if label in colours else 0)).to_numpy(int)
    palette = ListedColormap(["#e6e6e6"] + [colours[name] for name in names])
    cells.imshow(codes, cmap=palette, vmin=-0.5, vmax=len(names) + 0.5, aspect="auto",
                 interpolation="nearest")
    inner = (cn != "").to_numpy() & (matrix != "").to_numpy()
    if inner.any():
        from matplotlib.collections import PatchCollection

        rows, columns = np.nonzero(inner)
        cells.add_collection(PatchCollection(
            [plt.Rectangle((x - 0.4, y - 0.18), 0.8, 0.36) for y, x in zip(rows, columns)],
            facecolors=[CLASS_COLOURS[matrix.iat[y, x]] for y, x in zip(rows, columns)],
            edgecolors="none", zorder=2))
    if len(patient_order) <= 200:  # white gaps between cells while they are wide enough
        cells.vlines(np.arange(-0.5, len(patient_order)), -0.5, len(gene_order) - 0.5,
                     color="white", linewidth=2)
        cells.hlines(np.arange(-0.5, len(gene_order)), -0.5, len(patient_order) - 0.5,
                     color="white", linewidth=3)
    column_of = {patient: x for x, patient in enumerate(patient_order)}
    row_of = {gene: y for y, gene in enumerate(gene_order)}
    for marks, offset, style in ((likely, (0, 0), dict(marker="o", color="white", s=16,
                                                        edgecolors="black", linewidths=0.5)),
                                 (carriers, (-0.3, -0.27), dict(marker="v", color="black", s=16))):
        shown = [(column_of[p] + offset[0], row_of[g] + offset[1]) for g, p in marks
                 if p in column_of and g in row_of]
        if shown:
            cells.scatter(*zip(*shown), zorder=3, **style)
    cells.set_xlim(-0.5, len(patient_order) - 0.5)
    cells.set_ylim(len(gene_order) - 0.5, -0.5)
    if len(patient_order) <= 200:  # beyond that the ids are unreadable
        cells.set_xticks(range(len(patient_order)), patient_order, rotation=90, fontsize=7)
    else:
        cells.set_xticks([])
        cells.set_xlabel(f"{len(patient_order)} patients", fontsize=8)
    cells.set_yticks(range(len(gene_order)), gene_order, fontsize=9, fontstyle="italic")
    cells.tick_params(length=0)
    for spine in cells.spines.values():
        spine.set_visible(False)
    share = (altered != "").mean(axis=1) * 100
    side.barh(range(len(gene_order)), share.to_numpy(), color="tab:grey", height=0.7)
    side.set_ylim(len(gene_order) - 0.5, -0.5)
    side.set_yticks([])
    side.set_xlabel("% patients altered" if copy_number is not None else "% patients",
                    fontsize=8)
    side.spines[["top", "right"]].set_visible(False)
    for y, value in enumerate(share.to_numpy()):
        side.text(value + 1, y, f"{value:.0f}%", va="center", fontsize=7)
    side.set_xlim(0, 130)
    drawn = set(np.unique(matrix.to_numpy())) | set(np.unique(cn.to_numpy()))
    shown = [name for name in colours if name in drawn]
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[name]) for name in shown]
    handles += [plt.Line2D([], [], marker="o", color="white", markeredgecolor="black",
                           linestyle="", markersize=5),
                plt.Line2D([], [], marker="v", color="black", linestyle="", markersize=5)]
    labels = [call_words(name) if name in CN_CALL_COLOURS else name.replace("_", " ")
              for name in shown] + [
        f"likely driver (score ≥ {threshold:g})", "germline pathogenic (BRCA1/2)"]
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7,
                  frameon=False, bbox_to_anchor=(0.45, 0.0))
    figure.subplots_adjust(left=0.08, right=0.97, top=0.95, bottom=0.3)
    top.set_title(f"Oncoprint: {', '.join(gene_order)} in {len(patient_order)} patients",
                  fontsize=10)
    _save(figure, path)
    return matrix


# ---------------------------------------------------------------------------------------------
# Lollipops.

def protein_lengths(fasta: str | Path) -> dict[str, int]:
    """Gene -> residues of the canonical protein (records named '<GENE>_<transcript>')."""
    from Bio import SeqIO

    with open(fasta) as handle:
        lengths = {record.id.split("_")[0]: len(str(record.seq).rstrip("*"))
                   for record in SeqIO.parse(handle, "fasta")}
    if not lengths:
        raise InputError("no protein sequences", path=fasta)
    return lengths


def lollipop_sites(alterations: pd.DataFrame, gene: str) -> pd.DataFrame:
    """Per residue of ``gene``: tumours mutated there, the most frequent class, the changes."""
    rows = alterations[(alterations["gene"] == gene) & alterations["protein_position"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=["protein_position", "tumours", "variant_classification",
                                     "changes", "max_driver_score"])
    sites = rows.groupby("protein_position").agg(
        tumours=("patient", "nunique"),
        variant_classification=("variant_classification", lambda c: c.value_counts().index[0]),
        changes=("hgvs_p", lambda c: "/".join(dict.fromkeys(v.removeprefix("p.") for v in c))),
        max_driver_score=("driver_score", "max"),
    ).reset_index()
    return sites.astype({"protein_position": "int64"})


def plot_lollipop(alterations: pd.DataFrame, gene: str, protein_length: int,
                  domains: Iterable[Domain], path: str | Path, *, threshold: float,
                  n_patients: int, max_labels: int = 10) -> pd.DataFrame:
    """The cohort's observed non-silent mutations of ``gene`` along its protein (PNG).

    Stem height: tumours mutated at the residue; head colour: its most frequent class; labels:
    the changes at the residues with a likely driver (then the most recurrent), at most
    ``max_labels``. Returns the sites drawn.
    """
    plt = pyplot()
    sites = lollipop_sites(alterations, gene)
    mutated = alterations.loc[alterations["gene"] == gene, "patient"].nunique()
    figure, axis = plt.subplots(figsize=(12, 3.6))
    height = max(int(sites["tumours"].max()) if len(sites) else 1, 1)
    for site in sites.itertuples():
        axis.vlines(site.protein_position, 0, site.tumours, color="grey", linewidth=0.8)
        axis.plot(site.protein_position, site.tumours, "o", markersize=7,
                  color=CLASS_COLOURS.get(site.variant_classification, "grey"),
                  markeredgecolor="black", markeredgewidth=0.4)
    labelled = sites.assign(likely=sites["max_driver_score"] >= threshold).sort_values(
        ["likely", "tumours", "protein_position"], ascending=[False, False, True])
    for site in labelled.head(max_labels).itertuples():
        axis.annotate(site.changes, (site.protein_position, site.tumours), rotation=45,
                      xytext=(2, 6), textcoords="offset points", fontsize=7)
    draw_protein_track(axis, sorted(domains, key=lambda d: d.start), protein_length,
                       bar_bottom=-0.3 * height, bar_height=0.18 * height,
                       label_rows=[(-0.34 - 0.12 * row) * height for row in (0, 1)],
                       label_va="top")  # names on two alternating rows: no overlap
    axis.add_patch(plt.Rectangle((1, -0.26 * height), protein_length - 1, 0.1 * height,
                                 color="lightgrey", zorder=0))
    if sites.empty:
        axis.text(protein_length / 2, height / 2, "no non-silent tumour mutation in the cohort",
                  ha="center", fontsize=9)
    axis.set_ylim(-0.62 * height, height * 1.6 + 0.5)
    axis.set_yticks(range(0, height + 1, max(1, height // 5)))
    axis.set_xlabel(f"{gene} residue (canonical protein, {protein_length} aa)")
    axis.set_ylabel("tumours mutated")
    axis.set_title(f"{gene}: {int((alterations['gene'] == gene).sum())} non-silent mutations "
                   f"in {mutated} of {n_patients} tumours")
    shown = [name for name in CLASS_COLOURS if name in set(sites["variant_classification"])]
    if shown:
        axis.legend([plt.Line2D([], [], marker="o", linestyle="", color=CLASS_COLOURS[name])
                     for name in shown], [name.replace("_", " ") for name in shown],
                    loc="upper right", fontsize=7, ncol=2)
    axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    _save(figure, path)
    return sites


# ---------------------------------------------------------------------------------------------
# VAF distributions.

def vaf_calls(variants: pd.DataFrame) -> pd.DataFrame:
    """PASS calls of every status with their tumour VAF and the patient's purity."""
    return variants.loc[variants["filter"] == "PASS",
                        ["patient", "gene", "status", "t_vaf", "purity"]].reset_index(drop=True)


def plot_vaf_distribution(variants: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Left: tumour VAF histogram of the cohort's PASS calls by status. Right: per patient, its
    tumour calls' VAFs (somatic, loh, tumour_only) with purity / 2, the VAF a clonal heterozygous
    mutation in a diploid region has. Returns the calls drawn."""
    plt = pyplot()
    calls = vaf_calls(variants)
    patients = sorted(calls["patient"].unique())
    figure, (histogram, strips) = plt.subplots(
        1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1, max(1.2, len(patients) / 6)]})
    bins = np.linspace(0, 1, 41)
    statuses = [s for s in STATUS_COLOURS if (calls["status"] == s).any()]
    if statuses:
        histogram.hist([calls.loc[calls["status"] == s, "t_vaf"] for s in statuses], bins=bins,
                       stacked=True, color=[STATUS_COLOURS[s] for s in statuses],
                       label=[f"{s} ({int((calls['status'] == s).sum())})" for s in statuses])
        histogram.legend(fontsize=8)
    else:
        histogram.text(0.5, 0.5, "no PASS call", ha="center", transform=histogram.transAxes)
    histogram.set_xlabel("tumour VAF")
    histogram.set_ylabel("PASS calls")
    histogram.set_title("Cohort, by call status")
    rng = np.random.default_rng(0)  # jitter only; seeded so the figure is reproducible
    tumour = calls[calls["status"] != "germline"]
    for x, patient in enumerate(patients):
        rows = tumour[tumour["patient"] == patient]
        strips.scatter(x + rng.uniform(-0.25, 0.25, len(rows)), rows["t_vaf"], s=12,
                       c=[STATUS_COLOURS[s] for s in rows["status"]], alpha=0.8, linewidths=0)
        purity = calls.loc[calls["patient"] == patient, "purity"].dropna()
        if len(purity):
            strips.hlines(purity.iloc[0] / 2, x - 0.4, x + 0.4, color="black", linewidth=1.2)
    strips.set_xticks(range(len(patients)), patients, rotation=90, fontsize=7)
    strips.set_xlim(-0.6, len(patients) - 0.4)
    strips.set_ylim(0, 1.02)
    strips.set_ylabel("tumour VAF")
    strips.set_title("Tumour calls per patient (bar: purity / 2)")
    for axis in (histogram, strips):
        axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    _save(figure, path)
    return calls


def _save(figure, path: str | Path) -> None:
    plt = pyplot()
    with replaced_on_success(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png", bbox_inches="tight")
    plt.close(figure)
