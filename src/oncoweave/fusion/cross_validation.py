"""Cross-validated evaluation of the early-fusion models: out-of-fold predictions, per-fold
metrics, the modality ablation, and its outputs.

:func:`cross_validate_survival` / :func:`cross_validate_response` give out-of-fold predictions
and per-fold metrics; :func:`ablation` runs every modality alone, all of them (early fusion) and
all-but-one. Per-fold Harrell's C mean and sd are what MCAT and most papers report; the 95 %
interval is a seeded bootstrap of that mean over the validation patients.

Outputs (:func:`write_outputs`): ``predictions.parquet`` (PREDICTIONS_SCHEMA or
RESPONSE_PREDICTIONS_SCHEMA), ``metrics.json`` (every number, the settings, seeds, versions)
and PNG plots (:mod:`oncoweave.fusion.plots`). Runtimes are logged, not written: two runs write
identical files (the job's benchmark file has its wall time).
"""

from __future__ import annotations

import json
import logging
import platform
import time as clock
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from oncoweave import __version__
from oncoweave.core.io import replaced_on_success
from oncoweave.core.tables import schema_field, write_parquet
from oncoweave.core.threads import single_threaded_blas
from oncoweave.fusion.defaults import BOOTSTRAP_RESAMPLES
from oncoweave.fusion.folds import Fold
from oncoweave.fusion.modalities import ALL, ModalityMap
from oncoweave.fusion.plots import plot_results
from oncoweave.fusion.survival_metrics import (
    bootstrap_ci,
    bootstrap_cis,
    breslow_survival,
    calibration_bins,
    harrell_c,
    integrated_brier,
    percentile_among,
    response_metrics,
    time_dependent_auc,
)

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

log = logging.getLogger(__name__)

PREDICTIONS_SCHEMA = pa.schema([
    schema_field("id", pa.string(), "Patient id"),
    schema_field("model", pa.string(), "Modalities the model saw: one name, 'all' (early fusion) "
                 "or 'all-minus-<name>'"),
    schema_field("fold", pa.int64(), "Cross-validation fold whose validation set held the patient"),
    schema_field("risk", pa.float64(), "Predicted log hazard ratio (higher = earlier event) from "
                 "the fold's model; scales differ between folds"),
    schema_field("risk_group", pa.string(), "high or low: above or below the median risk the "
                 "fold's model gives its own training patients"),
    schema_field("risk_percentile", pa.float64(), "Percent of the fold's training patients the "
                 "fold's model gives a lower risk (ties half): comparable across folds"),
    schema_field("time", pa.float64(), "Observed follow-up (event or censoring time)"),
    schema_field("event", pa.int64(), "1 = event observed, 0 = censored"),
])
RESPONSE_PREDICTIONS_SCHEMA = pa.schema([
    schema_field("id", pa.string(), "Patient id"),
    schema_field("model", pa.string(), "Modalities the model saw: one name, 'all' (early fusion) "
                 "or 'all-minus-<name>'"),
    schema_field("fold", pa.int64(), "Cross-validation fold whose validation set held the patient"),
    schema_field("probability", pa.float64(), "Predicted probability of response"),
    schema_field("response", pa.int64(), "Observed response: 1 responder, 0 non-responder"),
])


# ---------------------------------------------------------------------------------------------
# Cross-validation and ablation.

def cross_validate_survival(table: pd.DataFrame, modality_map: ModalityMap, time: str,
                            event: str, folds: Sequence[Fold],
                            model_factory: Callable[[ModalityMap], BaseEstimator]
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-fold predictions and per-fold metrics of ``model_factory(modality_map)``.

    ``table`` is indexed by patient id and holds the features and the ``time`` / ``event``
    columns. Returns (predictions [id, fold, risk, risk_group, risk_percentile, time, event],
    per-fold metrics
    [fold, n_train, n_val, events_val, cindex, td_auc, ibs, td_auc_times, td_auc_values,
    chosen, inner_scores]; each fold's fit time is logged).
    """
    X = table[modality_map.columns()]
    predictions, per_fold = [], []
    for fold in folds:
        started = clock.perf_counter()
        train, val = list(fold.train), list(fold.val)
        t_train, e_train = table.loc[train, time].to_numpy(float), table.loc[train, event]
        t_val, e_val = table.loc[val, time].to_numpy(float), table.loc[val, event]
        e_train, e_val = e_train.to_numpy(int), e_val.to_numpy(int)
        with single_threaded_blas():
            model = model_factory(modality_map).fit(X.loc[train], t_train, e_train)
        risk_train, risk_val = model.predict_risk(X.loc[train]), model.predict_risk(X.loc[val])
        times, auc, mean_auc = time_dependent_auc(t_train, e_train, t_val, e_val, risk_val)
        survival = breslow_survival(t_train, e_train, risk_train, risk_val, times)
        per_fold.append({
            "fold": fold.index, "n_train": len(train), "n_val": len(val),
            "events_val": int(e_val.sum()), "cindex": harrell_c(t_val, e_val, risk_val),
            "td_auc": mean_auc, "ibs": integrated_brier(t_train, e_train, t_val, e_val, survival,
                                                        times),
            "td_auc_times": times.tolist(), "td_auc_values": auc.tolist(),
            **_selection(model)})
        predictions.append(pd.DataFrame({
            "id": val, "fold": fold.index, "risk": risk_val,
            "risk_group": np.where(risk_val > np.median(risk_train), "high", "low"),
            "risk_percentile": percentile_among(risk_train, risk_val),
            "time": t_val, "event": e_val}))
        log.info("fold %d: C-index %.3f (%s, %.1f s)", fold.index, per_fold[-1]["cindex"],
                 per_fold[-1]["chosen"], clock.perf_counter() - started)
    return pd.concat(predictions, ignore_index=True), pd.DataFrame(per_fold)


def cross_validate_response(table: pd.DataFrame, modality_map: ModalityMap, response: str,
                            folds: Sequence[Fold],
                            model_factory: Callable[[ModalityMap], BaseEstimator]
                            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-fold probabilities [id, fold, probability, response] and per-fold AUROC, AUPRC and
    Brier of ``model_factory(modality_map)`` (a fit(X, y) / predict_proba model)."""
    X = table[modality_map.columns()]
    predictions, per_fold = [], []
    for fold in folds:
        started = clock.perf_counter()
        train, val = list(fold.train), list(fold.val)
        y_train, y_val = table.loc[train, response].to_numpy(int), table.loc[val, response]
        y_val = y_val.to_numpy(int)
        with single_threaded_blas():
            model = model_factory(modality_map).fit(X.loc[train], y_train)
        probability = model.predict_proba(X.loc[val])[:, 1]
        both_classes = len(set(y_val)) == 2
        metrics = (response_metrics(y_val, probability) if both_classes
                   else {"auroc": np.nan, "auprc": np.nan, "brier": np.nan})
        per_fold.append({"fold": fold.index, "n_train": len(train), "n_val": len(val),
                         "responders_val": int(y_val.sum()), **metrics, **_selection(model)})
        predictions.append(pd.DataFrame({"id": val, "fold": fold.index,
                                         "probability": probability, "response": y_val}))
        log.info("fold %d: AUROC %.3f (%s, %.1f s)", fold.index, metrics["auroc"],
                 per_fold[-1]["chosen"], clock.perf_counter() - started)
    return pd.concat(predictions, ignore_index=True), pd.DataFrame(per_fold)


def _selection(model) -> dict:
    return {"chosen": getattr(model, "chosen_", type(model).__name__),
            "inner_scores": getattr(model, "inner_scores_", {})}


def ablation_configs(modalities: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each modality alone, all together ('all'), and all but each ('all-minus-<name>', when
    that is not already a single modality)."""
    modalities = tuple(modalities)
    configs = {name: (name,) for name in modalities}
    if len(modalities) > 1:
        configs[ALL] = modalities
    if len(modalities) > 2:
        configs.update({f"all-minus-{name}": tuple(m for m in modalities if m != name)
                        for name in modalities})
    return configs


@dataclass
class AblationResult:
    task: str  # "survival" or "response"
    summary: pd.DataFrame  # one row per config, best first
    per_fold: pd.DataFrame  # the per-fold metrics of every config ("model" column)
    predictions: pd.DataFrame  # the out-of-fold predictions of every config ("model" column)
    settings: dict = field(default_factory=dict)

    @property
    def best_model(self) -> str:
        """The model reports lead with: 'all' (early fusion) when it was run, else the best."""
        return ALL if ALL in set(self.summary["model"]) else self.summary["model"].iloc[0]


def ablation(table: pd.DataFrame, modality_map: ModalityMap, folds: Sequence[Fold],
             model_factory: Callable[[ModalityMap], BaseEstimator], *, time: str | None = None,
             event: str | None = None, response: str | None = None,
             configs: Mapping[str, Sequence[str]] | None = None,
             n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> AblationResult:
    """Cross-validate every config of :func:`ablation_configs` (survival with ``time`` and
    ``event``, response with ``response``) on the same folds; summary best first."""
    task = "response" if response is not None else "survival"
    configs = configs or ablation_configs(list(modality_map))
    summaries, all_folds, all_predictions = [], [], []
    for name, modalities in configs.items():
        log.info("%s: %s", name, ", ".join(modalities))
        started = clock.perf_counter()
        subset = modality_map.subset(modalities)
        if task == "survival":
            predictions, per_fold = cross_validate_survival(table, subset, time, event, folds,
                                                            model_factory)
            summary = summarise_survival(predictions, per_fold, n_bootstrap, seed)
        else:
            predictions, per_fold = cross_validate_response(table, subset, response, folds,
                                                            model_factory)
            summary = summarise_response(predictions, per_fold, n_bootstrap, seed)
        summaries.append({"model": name, "modalities": list(modalities),
                          "n_features": len(subset.columns()), **summary})
        log.info("%s: done in %.1f s", name, clock.perf_counter() - started)
        all_folds.append(per_fold.assign(model=name))
        all_predictions.append(predictions.assign(model=name))
    key = "cindex_mean" if task == "survival" else "auroc_mean"
    summary = pd.DataFrame(summaries).sort_values(key, ascending=False, kind="stable")
    return AblationResult(task, summary.reset_index(drop=True),
                          pd.concat(all_folds, ignore_index=True),
                          pd.concat(all_predictions, ignore_index=True),
                          {"n_bootstrap": n_bootstrap, "seed": seed})


def mean_fold_cindex(fold, time, event, risk) -> float:
    """Mean over folds of each fold's Harrell's C (folds' risk scales may differ)."""
    return float(np.mean([harrell_c(time[fold == k], event[fold == k], risk[fold == k])
                          for k in np.unique(fold)]))


def summarise_survival(predictions: pd.DataFrame, per_fold: pd.DataFrame,
                       n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Per-fold mean and sd of C-index, td-AUC and IBS; a bootstrap 95 % CI of the mean C over
    the validation patients; the pooled out-of-fold C (as MCAT's cindex_pooled_all_folds)."""
    columns = [predictions[c].to_numpy() for c in ("fold", "time", "event", "risk")]
    interval = bootstrap_ci(mean_fold_cindex, *columns, n_bootstrap=n_bootstrap, seed=seed)
    return {"cindex_mean": float(per_fold["cindex"].mean()),
            "cindex_sd": float(per_fold["cindex"].std(ddof=1)),
            "cindex_ci95": interval["ci95"],
            "cindex_pooled": harrell_c(*columns[1:]),
            "td_auc_mean": float(per_fold["td_auc"].mean()),
            "td_auc_sd": float(per_fold["td_auc"].std(ddof=1)),
            "ibs_mean": float(per_fold["ibs"].mean()),
            "ibs_sd": float(per_fold["ibs"].std(ddof=1)),
            "cindex_folds": [round(float(c), 4) for c in per_fold["cindex"]]}


def summarise_response(predictions: pd.DataFrame, per_fold: pd.DataFrame,
                       n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Per-fold mean and sd of AUROC, AUPRC and Brier; pooled out-of-fold values (probabilities
    share one scale) with bootstrap 95 % CIs; pooled calibration bins."""
    y, p = predictions["response"].to_numpy(int), predictions["probability"].to_numpy(float)
    summary = {}
    # One set of resamples for the three metrics: the rows each metric's own seeded
    # bootstrap_ci would draw, so the intervals are those of three separate calls.
    intervals = bootstrap_cis(response_metrics, y, p, n_bootstrap=n_bootstrap, seed=seed)
    for metric in ("auroc", "auprc", "brier"):
        summary[f"{metric}_mean"] = float(per_fold[metric].mean())
        summary[f"{metric}_sd"] = float(per_fold[metric].std(ddof=1))
        pooled = intervals[metric]
        summary[f"{metric}_pooled"] = pooled["estimate"]
        summary[f"{metric}_pooled_ci95"] = pooled["ci95"]
    summary["calibration"] = calibration_bins(y, p)
    summary["auroc_folds"] = [round(float(v), 4) for v in per_fold["auroc"]]
    return summary


# ---------------------------------------------------------------------------------------------
# Outputs.

def write_outputs(result: AblationResult, output_dir: str | Path, settings: Mapping,
                  provenance: Mapping[str, str] | None = None) -> dict:
    """predictions.parquet, metrics.json and the plots into ``output_dir``; returns the metrics."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    schema = PREDICTIONS_SCHEMA if result.task == "survival" else RESPONSE_PREDICTIONS_SCHEMA
    write_parquet(result.predictions[schema.names], output_dir / "predictions.parquet", schema,
                  {"task": result.task, **(provenance or {})})
    metrics = {"task": result.task, "settings": dict(settings), "versions": versions(),
               "ablation": _records(result.summary),
               "per_fold": _records(result.per_fold)}
    with replaced_on_success(output_dir / "metrics.json") as temporary:
        temporary.write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")
    plot_results(result, output_dir)
    return metrics


def versions() -> dict[str, str]:
    import sklearn
    import sksurv
    import xgboost

    return {"oncoweave": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "scikit-survival": sksurv.__version__, "xgboost": xgboost.__version__}


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", double_precision=6))


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def format_report(result: AblationResult, output_dir: str | Path) -> str:
    """What `oncoweave fusion` prints: the per-fold metric of the headline model, the ablation."""
    metric = "cindex" if result.task == "survival" else "auroc"
    best = result.best_model
    folds = result.per_fold[result.per_fold["model"] == best]
    outcome_count = "events_val" if result.task == "survival" else "responders_val"
    lines = [f"Per-fold {metric} of model '{best}':",
             folds[["fold", "n_val", outcome_count, metric, "chosen"]].to_string(
                 index=False, float_format="%.4f"), "", "Ablation (per-fold mean ± sd):"]
    extra = ["td_auc_mean", "ibs_mean"] if result.task == "survival" else ["auprc_mean",
                                                                          "brier_mean"]
    table = result.summary[["model", "n_features", f"{metric}_mean", f"{metric}_sd", *extra]]
    lines += [table.to_string(index=False, float_format="%.4f"), "",
              f"wrote {Path(output_dir) / 'predictions.parquet'}, metrics.json and plots"]
    return "\n".join(lines)

