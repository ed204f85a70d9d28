"""The fusion stage's figures: ablation bars, Kaplan-Meier risk groups, td-AUC, ROC and
calibration curves of a cross-validated result, the SHAP summary, and message panels.

matplotlib (Agg) is imported by the functions that draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from oncoweave.core.io import replaced_on_success
from oncoweave.fusion.survival_metrics import calibration_bins, survival_array

if TYPE_CHECKING:
    from oncoweave.fusion.cross_validation import AblationResult

# The PNGs of a result, per task (rule evaluate_fusion lists them as outputs).
PLOTS = {"survival": ("ablation.png", "km_risk_groups.png", "td_auc.png"),
         "response": ("ablation.png", "roc.png", "calibration.png")}


def plot_results(result: AblationResult, output_dir: Path) -> list[Path]:
    """The PNGs of a result: ablation bars and, for survival, Kaplan-Meier curves by predicted
    risk group and td-AUC over time; for response, ROC and calibration curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawers = {"ablation.png": _plot_ablation, "km_risk_groups.png": _plot_km,
               "td_auc.png": _plot_td_auc, "roc.png": _plot_roc,
               "calibration.png": _plot_calibration}
    written = []
    for name in PLOTS[result.task]:
        figure, axis = plt.subplots(figsize=(6, 4.5))
        drawers[name](axis, result, result.best_model)
        figure.tight_layout()
        with replaced_on_success(output_dir / name) as temporary:
            figure.savefig(temporary, dpi=100, format="png")
        plt.close(figure)
        written.append(output_dir / name)
    return written


def _plot_ablation(axis, result: AblationResult, best: str) -> None:
    metric = "cindex" if result.task == "survival" else "auroc"
    summary = result.summary.iloc[::-1]
    axis.barh(summary["model"], summary[f"{metric}_mean"], xerr=summary[f"{metric}_sd"],
              color=["tab:red" if m == best else "tab:blue" for m in summary["model"]])
    axis.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    axis.set_xlim(0.3, 1.0)
    axis.set_xlabel(f"{'Harrell C-index' if metric == 'cindex' else 'AUROC'} "
                    "(per-fold mean ± sd)")
    axis.set_title("Modality ablation")


def _plot_km(axis, result: AblationResult, best: str) -> None:
    from sksurv.compare import compare_survival
    from sksurv.nonparametric import kaplan_meier_estimator
    predictions = result.predictions[result.predictions["model"] == best]
    for group, colour in (("low", "tab:blue"), ("high", "tab:red")):
        rows = predictions[predictions["risk_group"] == group]
        if len(rows):
            times, survival = kaplan_meier_estimator(rows["event"].astype(bool),
                                                     rows["time"].astype(float))
            axis.step(times, survival, where="post", color=colour,
                      label=f"{group} risk (n={len(rows)})")
    title = f"Out-of-fold risk groups, model '{best}'"
    if predictions["risk_group"].nunique() == 2:
        _, p_value = compare_survival(
            survival_array(predictions["time"], predictions["event"]),
            predictions["risk_group"].to_numpy())
        title += f"\nlog-rank p = {p_value:.2g}"
    axis.set(xlabel="time", ylabel="survival probability", ylim=(0, 1.02), title=title)
    axis.legend()


def _plot_td_auc(axis, result: AblationResult, best: str) -> None:
    for name in result.summary["model"]:
        folds = result.per_fold[result.per_fold["model"] == name]
        curves = [(np.asarray(t), np.asarray(a)) for t, a in
                  zip(folds["td_auc_times"], folds["td_auc_values"]) if len(t) > 1]
        if not curves:
            continue
        # The folds' evaluation times differ: average their curves on the common time range.
        grid = np.linspace(max(t[0] for t, _ in curves), min(t[-1] for t, _ in curves), 25)
        mean = np.mean([np.interp(grid, t, a) for t, a in curves], axis=0)
        axis.plot(grid, mean, linewidth=2.5 if name == best else 1.2, label=name)
    axis.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="time", ylabel="cumulative/dynamic AUC (mean over folds)",
             title="Time-dependent AUC")
    axis.legend(fontsize=7)


def _plot_roc(axis, result: AblationResult, best: str) -> None:
    from sklearn.metrics import roc_curve
    for name in result.summary["model"]:
        rows = result.predictions[result.predictions["model"] == name]
        fpr, tpr, _ = roc_curve(rows["response"], rows["probability"])
        axis.plot(fpr, tpr, linewidth=2.5 if name == best else 1.2, label=name)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="false positive rate", ylabel="true positive rate",
             title="ROC, pooled out-of-fold")
    axis.legend(fontsize=7)


def _plot_calibration(axis, result: AblationResult, best: str) -> None:
    rows = result.predictions[result.predictions["model"] == best]
    bins = calibration_bins(rows["response"], rows["probability"])
    axis.plot(bins["mean_predicted"], bins["observed_fraction"], marker="o", label=best)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axis.set(xlabel="mean predicted probability", ylabel="observed fraction of responders",
             title="Calibration, pooled out-of-fold (quantile bins)")
    axis.legend()


def message_plot(path: Path, message: str) -> None:
    """A panel stating ``message`` (why a task was not evaluated) in place of a figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 2.5))
    axis.axis("off")
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    with replaced_on_success(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)


def plot_shap_summary(shap: pd.DataFrame, path: Path, skipped: str, top: int = 15) -> None:
    """Mean |SHAP| of the ``top`` features, coloured by modality."""
    if shap.empty:
        message_plot(path, f"no SHAP values: survival not evaluated\n{skipped}")
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    importance = (shap.assign(magnitude=shap["shap"].abs())
                  .groupby(["feature", "modality"], as_index=False)["magnitude"].mean()
                  .nlargest(top, "magnitude").iloc[::-1])
    colours = dict(zip(sorted(shap["modality"].unique()), plt.get_cmap("tab10").colors))
    figure, axis = plt.subplots(figsize=(7, 0.3 * len(importance) + 1.5))
    axis.barh(importance["feature"], importance["magnitude"],
              color=[colours[m] for m in importance["modality"]])
    for modality, colour in colours.items():
        axis.barh([], [], color=colour, label=modality)
    axis.set(xlabel="mean |SHAP| (log hazard)", title="Fused survival model: top features")
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    with replaced_on_success(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
