"""The driver stage's figures: the model's reliability plot, the per-gene saturation lollipops,
and the protein track (domain bars and names) the cohort report's lollipops draw too.

matplotlib loads when a figure is drawn, not on import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from oncoweave.drivers.features import DriverKnowledge
    from oncoweave.genome.protein import Domain


def pyplot():
    """matplotlib.pyplot on the Agg backend: figures are written to files, never shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_protein_track(axis: Axes, domains: Iterable[Domain], protein_length: int, *,
                       bar_bottom: float, bar_height: float, label_rows: Sequence[float],
                       label_va: str = "baseline") -> None:
    """Green bars of the protein's domains from ``bar_bottom``, each named below its bar on
    ``label_rows`` in turn (two rows keep neighbouring names apart); x spans residues 0..L+1."""
    from matplotlib.patches import Rectangle

    for number, domain in enumerate(domains):
        axis.add_patch(Rectangle((domain.start, bar_bottom), domain.end - domain.start,
                                 bar_height, color="tab:green", alpha=0.6))
        axis.text((domain.start + domain.end) / 2, label_rows[number % len(label_rows)],
                  domain.name, ha="center", va=label_va, fontsize=6)
    axis.set_xlim(0, protein_length + 1)


def reliability_plot(labels, scores, path: str | Path) -> None:
    from sklearn.calibration import CalibrationDisplay

    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5, 5))
    CalibrationDisplay.from_predictions(labels, scores, n_bins=10, strategy="quantile", ax=axis,
                                        name="driver_score (grouped CV)")
    axis.set_title("Driver score reliability, ClinVar-labelled rows")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def lollipop_plots(saturation: pd.DataFrame, knowledge: DriverKnowledge,
                   directory: str | Path) -> list[Path]:
    """Per gene: the highest missense / truncating score at each residue, with the domains."""
    plt = pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for gene, rows in saturation.groupby("gene"):
        figure, axis = plt.subplots(figsize=(12, 3.5))
        for consequence, colour in (("missense", "tab:blue"), ("stop_gained", "tab:red")):
            best = rows[rows["consequence"] == consequence].groupby(
                "protein_position")["driver_score"].max()
            axis.vlines(best.index.astype(int), 0, best.to_numpy(), colour, linewidth=0.4,
                        alpha=0.6)
            axis.scatter(best.index.astype(int), best.to_numpy(), s=3, color=colour,
                         label=f"{consequence} (max per residue)")
        draw_protein_track(axis, knowledge.domains.get(gene, []),
                           knowledge.genes[gene].protein_length, bar_bottom=-0.12,
                           bar_height=0.08, label_rows=(-0.2,))
        axis.set_ylim(-0.25, 1.05)
        axis.set_xlabel(f"{gene} residue")
        axis.set_ylabel("driver_score")
        axis.set_title(f"{gene}: in-silico saturation (every SNV of the canonical CDS)")
        axis.legend(loc="upper right", fontsize=7)
        figure.tight_layout()
        path = directory / f"{gene}_saturation_lollipop.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written
