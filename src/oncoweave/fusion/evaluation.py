"""The cohort's fusion evaluation: cross-validated early fusion of the patient feature table for
survival and response (rules ``evaluate_fusion_survival`` and ``evaluate_fusion_response``, one job
each, side by side), the modality ablation, per-patient fused predictions with intervals, and SHAP
feature attributions; rule ``evaluate_fusion`` joins the two tasks' shares
(:mod:`oncoweave.fusion.evaluation_files`).

Everything is computed from ``patient_features.parquet`` with :mod:`oncoweave.fusion.models`:

- ``survival/`` and ``response/``: :func:`oncoweave.fusion.cross_validation.ablation` on the same
  seeded stratified folds (or the user's split files), written by
  :func:`oncoweave.fusion.cross_validation.write_outputs` (predictions.parquet, metrics.json,
  plots). A task the cohort cannot support (no events, one
  response class, fewer patients of a class than folds) is skipped: its metrics.json says why and
  its plots show the reason, so a core sees it instead of a missing file.
- ``patient_predictions.parquet`` (PATIENT_PREDICTIONS_SCHEMA): each patient's out-of-fold fused
  risk as a percentile of the fold's training patients, with a 95 % interval from out-of-bag
  bootstrap refits, and the response probability likewise; which modalities the patient had.
- ``shap.parquet`` + ``shap_summary.png``: per-patient SHAP values of the fused survival model
  fitted on the whole cohort (xgboost's exact TreeSHAP, or coefficient x standardised value for
  the penalised Cox model), on the columns the model saw (screened columns or components).
- ``ablation.tsv``: both tasks' ablation tables side by side, for the cohort report.

The models (sklearn, xgboost) are imported by the functions that fit them; the output schemas
live in :mod:`oncoweave.fusion.schema`, so their readers import none of this.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from oncoweave.core.io import replaced_on_success
from oncoweave.core.model_status import task_reason_key
from oncoweave.core.tables import write_parquet
from oncoweave.core.threads import single_threaded_blas
from oncoweave.fusion.cross_validation import (
    PREDICTIONS_SCHEMA,
    RESPONSE_PREDICTIONS_SCHEMA,
    AblationResult,
    ablation,
    ablation_configs,
    write_outputs,
)
from oncoweave.fusion.evaluation_files import (
    ABLATION_PART_FILE,
    TASK_PREDICTIONS_FILE,
    combine_task_outputs,
    write_ablation_part,
)
from oncoweave.fusion.feature_table import ID_COLUMN, read_patient_features
from oncoweave.fusion.folds import split_folds
from oncoweave.fusion.modalities import ALL, ModalityMap, encode_features
from oncoweave.fusion.plots import PLOTS, message_plot, plot_shap_summary
from oncoweave.fusion.schema import PATIENT_PREDICTIONS_SCHEMA, SHAP_SCHEMA
from oncoweave.fusion.survival_metrics import percentile_among

log = logging.getLogger(__name__)

TIME, EVENT, RESPONSE = "os_months", "os_event", "response"
TASKS = ("survival", "response")



@dataclass(frozen=True)
class EvaluationSettings:
    n_folds: int = 5
    inner_folds: int = 3
    n_bootstrap: int = 200  # resamples for the metric CIs
    interval_refits: int = 50  # bootstrap refits behind each patient's interval
    model: str = "auto"  # candidates: auto | xgb | cox (see fusion.candidates)
    # Each modality alone and its blend with early fusion as candidates (False: early fusion only).
    single_modalities: bool = True
    splits: str = ""  # folder of splits_<k>.csv; "" = seeded stratified folds
    seed: int = 0

    @classmethod
    def from_config(cls, config: Mapping | None, seed: int) -> "EvaluationSettings":
        from oncoweave.core.settings import settings_from_config
        return settings_from_config(cls, {"seed": seed, **(config or {})}, "fusion evaluation",
                                    source="config fusion.evaluation")


@dataclass
class TaskOutcome:
    task: str
    result: AblationResult | None
    skipped: str  # why the task was not evaluated ("" when it was)
    final_model: object | None = None  # fused model refitted on every patient
    table: pd.DataFrame | None = None
    modality_map: ModalityMap | None = None  # the modalities the task's models use
    dropped: dict[str, str] | None = None  # modality -> why the task's models leave it out


# A modality enters a task's cross-validation when at least this many patients per fold have it:
# fewer (one lesion in a cohort, say) leave training folds where it is empty, and a model of it
# alone would have nothing to learn from.
MIN_PATIENTS_PER_FOLD = 2


def usable_modalities(rows: pd.DataFrame, modality_map: ModalityMap, n_folds: int
                      ) -> tuple[ModalityMap, dict[str, str]]:
    """The modalities enough of the task's patients have, and why each other one is left out."""
    needed = MIN_PATIENTS_PER_FOLD * n_folds
    kept, dropped = [], {}
    for name, columns in modality_map.items():
        present = int(rows[list(columns)].notna().any(axis=1).sum())
        if present >= needed:
            kept.append(name)
        else:
            dropped[name] = (f"{present} of {len(rows)} patients have {name} features; "
                             f"{n_folds}-fold cross-validation uses a modality at least "
                             f"{needed} patients have ({MIN_PATIENTS_PER_FOLD} per fold)")
    return modality_map.subset(kept), dropped


def feature_table(features: pd.DataFrame, groups: Mapping[str, Sequence[str]]
                  ) -> tuple[pd.DataFrame, ModalityMap]:
    """Numeric feature table indexed by patient, with the outcomes, and its modality map
    (non-numeric feature columns one-hot encoded, the map expanded to match)."""
    columns = [c for names in groups.values() for c in names]
    encoded_features, encoded = encode_features(features, columns)
    table = encoded_features.set_axis(features[ID_COLUMN].astype(str).to_numpy())
    table.index.name = ID_COLUMN
    outcomes = features.set_index(ID_COLUMN)[[TIME, EVENT, RESPONSE]]
    table = table.join(outcomes.set_axis(table.index))
    return table, ModalityMap({k: list(v) for k, v in groups.items() if v}).expanded(encoded)


OUTCOME_COLUMNS = {"survival": (TIME, EVENT), "response": (RESPONSE,)}


def _targets(rows: pd.DataFrame, task: str) -> list[np.ndarray]:
    """What the task's models are fitted on: [time, event] or [response]; the last one is the
    label the folds are stratified by."""
    return [rows[column].to_numpy(float if column == TIME else int)
            for column in OUTCOME_COLUMNS[task]]


def _task_rows(table: pd.DataFrame, task: str, n_folds: int) -> tuple[pd.DataFrame, str]:
    """The patients with this task's outcome, or the reason the task cannot be evaluated."""
    rows = table.dropna(subset=list(OUTCOME_COLUMNS[task]))
    if rows.empty:
        return rows, (f"no patient has a {task} outcome ("
                      f"{' and '.join(OUTCOME_COLUMNS[task])} in the clinical sheet)")
    counts = pd.Series(_targets(rows, task)[-1]).value_counts()
    names = ("censored", "events") if task == "survival" else ("non-responders", "responders")
    for value, name in enumerate(names):
        if counts.get(value, 0) < n_folds:
            return rows, (f"{counts.get(value, 0)} {name} among {len(rows)} patients with a "
                          f"{task} outcome: {n_folds}-fold stratified cross-validation needs "
                          f"at least {n_folds} {names[0]} and {n_folds} {names[1]}")
    return rows, ""


def evaluate_task(table: pd.DataFrame, modality_map: ModalityMap, task: str,
                  settings: EvaluationSettings) -> TaskOutcome:
    rows, skipped = _task_rows(table, task, settings.n_folds)
    if skipped:
        log.warning("%s not evaluated: %s", task, skipped)
        return TaskOutcome(task, None, skipped)
    from oncoweave.fusion.candidates import default_model_factory

    modality_map, dropped = usable_modalities(rows, modality_map, settings.n_folds)
    for name, reason in dropped.items():
        log.warning("%s: modality %s left out: %s", task, name, reason)
    if not len(modality_map):
        skipped = "no modality has enough patients: " + "; ".join(dropped.values())
        log.warning("%s not evaluated: %s", task, skipped)
        return TaskOutcome(task, None, skipped)
    target = _targets(rows, task)
    folds = split_folds(rows.index, settings.splits or None, settings.n_folds, settings.seed,
                        target[-1])
    factory = default_model_factory(task, settings.seed, settings.model, settings.inner_folds,
                                    settings.single_modalities)
    outcome = ({"time": TIME, "event": EVENT} if task == "survival" else {"response": RESPONSE})
    result = ablation(rows, modality_map, folds, factory,
                      configs=ablation_configs(list(modality_map)),
                      n_bootstrap=settings.n_bootstrap, seed=settings.seed, **outcome)
    with single_threaded_blas():
        final = factory(modality_map).fit(rows[modality_map.columns()], *target)
    return TaskOutcome(task, result, "", final, rows, modality_map, dropped)


def _chosen(model) -> object:
    """The candidate an InnerCVSelection chose (unfitted), else the model itself."""
    from oncoweave.fusion.models import InnerCVSelection

    if hasattr(model, "chosen_estimator_"):  # a BlendedSelection: the blend it made
        return model.chosen_estimator_
    if isinstance(model, InnerCVSelection):
        return model.candidates[model.chosen_]
    return model


def _model_name(model) -> str:
    return getattr(model, "chosen_", type(model).__name__)


def out_of_bag_intervals(outcome: TaskOutcome, n_refits: int, seed: int) -> pd.DataFrame:
    """Per patient: median and 2.5 / 97.5 percentiles over bootstrap refits of the chosen fused
    candidate of the risk percentile (survival) or probability (response), from the refits
    whose resample left the patient out."""
    from sklearn.base import clone

    rows = outcome.table
    X = rows[outcome.modality_map.columns()]
    candidate = _chosen(outcome.final_model)
    rng = np.random.default_rng([seed, 11])
    scores = {patient: [] for patient in rows.index}
    target = _targets(rows, outcome.task)
    for _ in range(n_refits):
        sample = rng.integers(0, len(rows), len(rows))
        out_of_bag = np.setdiff1d(np.arange(len(rows)), sample)
        if not len(out_of_bag) or len(set(target[-1][sample])) < 2:
            continue  # a resample without both outcomes cannot be fitted
        with single_threaded_blas():
            model = clone(candidate).fit(X.iloc[sample], *(t[sample] for t in target))
            if outcome.task == "survival":
                values = percentile_among(model.predict_risk(X.iloc[sample]),
                                           model.predict_risk(X.iloc[out_of_bag]))
            else:
                values = model.predict_proba(X.iloc[out_of_bag])[:, 1]
        for index, value in zip(out_of_bag, values):
            scores[rows.index[index]].append(float(value))
    summary = {patient: (np.percentile(v, [50, 2.5, 97.5]) if v else [np.nan] * 3)
               for patient, v in scores.items()}
    return pd.DataFrame.from_dict(summary, orient="index", columns=["median", "lower", "upper"])


def modalities_present(table: pd.DataFrame, modality_map: ModalityMap) -> pd.DataFrame:
    """Per patient, the modalities with at least one value and those with none."""
    present = pd.DataFrame({name: table[list(columns)].notna().any(axis=1)
                            for name, columns in modality_map.items()})
    return pd.DataFrame({
        "modalities_used": present.apply(lambda r: ", ".join(n for n in r.index if r[n]), axis=1),
        "modalities_missing": present.apply(lambda r: ", ".join(n for n in r.index if not r[n]),
                                            axis=1)})


def _fused_predictions(result: AblationResult) -> pd.DataFrame:
    """The out-of-fold predictions of the all-modality model, indexed by patient."""
    predictions = result.predictions
    return predictions[predictions["model"] == ALL].set_index("id")


def task_patient_predictions(table: pd.DataFrame, modality_map: ModalityMap,
                             outcome: TaskOutcome, settings: EvaluationSettings) -> pd.DataFrame:
    """PATIENT_PREDICTIONS_SCHEMA rows, one per patient of ``table``, with only ``outcome``'s
    task filled in (the other task's columns NaN, its risk group empty); ``model`` names the
    task's fused model ("survival: <candidate>"), empty when the task was skipped. The two
    tasks' rows become the cohort's table in :func:`.evaluation_files.combine_task_predictions`.
    """
    out = pd.DataFrame(index=table.index)
    for column in PATIENT_PREDICTIONS_SCHEMA.names[1:]:
        out[column] = np.nan
    out["risk_group"] = ""
    out["model"] = ""
    if outcome.result is not None:
        fused = _fused_predictions(outcome.result)
        oob = out_of_bag_intervals(outcome, settings.interval_refits, settings.seed)
        if outcome.task == "survival":
            out.loc[fused.index, "risk"] = fused["risk_percentile"]
            out.loc[fused.index, "risk_group"] = fused["risk_group"]
            out.loc[oob.index, ["risk_percentile", "risk_lower", "risk_upper"]] = oob[
                ["median", "lower", "upper"]].to_numpy()
        else:
            out.loc[fused.index, "response_probability"] = fused["probability"]
            out.loc[oob.index, ["response_lower", "response_upper"]] = oob[
                ["lower", "upper"]].to_numpy()
        out["model"] = f"{outcome.task}: {_model_name(outcome.final_model)}"
    out[["modalities_used", "modalities_missing"]] = modalities_present(table, modality_map)
    return out.rename_axis("patient").reset_index()[PATIENT_PREDICTIONS_SCHEMA.names]


def shap_values(outcome: TaskOutcome) -> pd.DataFrame:
    """SHAP_SCHEMA rows of the fused survival model refitted on every patient."""
    if outcome.result is None:
        return pd.DataFrame(columns=SHAP_SCHEMA.names)
    X = outcome.table[outcome.modality_map.columns()]
    contributions, reduced = _contributions(outcome.final_model, X)
    if contributions is None:
        return pd.DataFrame(columns=SHAP_SCHEMA.names)
    modality_of = {c: name for name, columns in outcome.modality_map.items() for c in columns}
    long = contributions.stack()
    values = reduced.stack(future_stack=True).reindex(long.index)
    frame = pd.DataFrame({"shap": long, "value": values}).rename_axis(
        ["patient", "feature"]).reset_index()
    # A principal component "<modality>_pcNN" belongs to its modality.
    frame["modality"] = [modality_of.get(f, f.rsplit("_pc", 1)[0]) for f in frame["feature"]]
    return frame[SHAP_SCHEMA.names]


def _contributions(model, X: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Per patient and model column, its additive share of the model's score (log hazard or
    logit), and the column values; (None, X) for a model without features."""
    from oncoweave.fusion.candidates import Blend
    from oncoweave.fusion.models import (
        InnerCVSelection,
        NoFeatures,
        PenalisedCox,
        Reduced,
        XGBSurvival,
    )

    if isinstance(model, InnerCVSelection):
        return _contributions(model.model_, X)  # the chosen candidate, refitted on every patient
    if isinstance(model, Reduced):
        return _contributions(model.model_, model.reducer_.transform(X))
    if isinstance(model, NoFeatures):
        return None, X
    if isinstance(model, Blend):
        # Its score is the mean of (s_i - c_i) / sd_i: each part's shares, scaled.
        parts = [_contributions(part, X) for part in model.models_]
        shares = [share / (len(parts) * scale) for (share, _), scale
                  in zip(parts, model.scales_) if share is not None]
        if not shares:
            return None, X
        # Both parts may use a column (a modality alone and early fusion): add their shares.
        total = pd.concat(shares, axis=1).T.groupby(level=0, sort=False).sum(min_count=1).T
        values = pd.concat([v for _, v in parts], axis=1)
        return total, values.loc[:, ~values.columns.duplicated()][total.columns]
    if isinstance(model, XGBSurvival):  # XGBResponse too: margin (logit) contributions
        import xgboost

        matrix = xgboost.DMatrix(X[model.feature_names_in_].to_numpy(float))
        shares = model.model_.get_booster().predict(matrix, pred_contribs=True)[:, :-1]
        return pd.DataFrame(shares, index=X.index, columns=model.feature_names_in_), X
    if isinstance(model, PenalisedCox):
        imputer, scaler, cox = (step for _, step in model.model_.steps)
        standardised = scaler.transform(imputer.transform(X[model.feature_names_in_]
                                                          .to_numpy(float)))
        return pd.DataFrame(standardised * cox.coef_[:, -1], index=X.index,
                            columns=model.feature_names_in_), X
    raise TypeError(f"no SHAP values for {type(model).__name__}")


# ---------------------------------------------------------------------------------------------
# Outputs.

def evaluate_fusion_task(features_path: str | Path, task: str, output_dir: str | Path,
                         settings: EvaluationSettings,
                         provenance: Mapping[str, str] | None = None) -> dict:
    """One task's outputs (rule ``evaluate_fusion_<task>``); returns its ablation summary, or
    {"skipped": reason}.

    Under ``output_dir/<task>/``: predictions.parquet, metrics.json and the plots, and the
    task's share of the cohort tables (:mod:`.evaluation_files`); survival also writes
    ``output_dir/shap.parquet`` and ``shap_summary.png``. The task runs on one thread (see
    oncoweave.core.threads): the two tasks run side by side as two jobs.
    """
    from oncoweave.core.threads import single_threaded_openmp

    if task not in TASKS:
        raise ValueError(f"unknown fusion task {task!r} (one of {', '.join(TASKS)})")
    with single_threaded_openmp():
        return _evaluate_fusion_task(features_path, task, Path(output_dir), settings,
                                     provenance)


def _evaluate_fusion_task(features_path: str | Path, task: str, output_dir: Path,
                          settings: EvaluationSettings,
                          provenance: Mapping[str, str] | None) -> dict:
    features, groups, metadata = read_patient_features(features_path)
    table, modality_map = feature_table(features, groups)
    log.info("%s: %d patients; modalities: %s", task, len(table),
             ", ".join(f"{n} ({len(c)} columns)" for n, c in modality_map.items()))
    provenance = {"input": Path(features_path).name,
                  "config_hash": metadata.get("config_hash", ""), **(provenance or {})}
    outcome = evaluate_task(table, modality_map, task, settings)
    task_dir = output_dir / task
    if outcome.result is None:
        write_skipped(task_dir, task, outcome.skipped, settings)
        summary = {"skipped": outcome.skipped}
    else:
        metrics = write_outputs(outcome.result, task_dir,
                                {**settings.__dict__, "task": task,
                                 "n_patients": len(outcome.table),
                                 "chosen_on_all_patients": _model_name(outcome.final_model),
                                 "modalities_left_out": outcome.dropped or {}},
                                provenance)
        summary = metrics["ablation"]
    # Why a task has no predictions, for the reports (e.g. survival_not_fitted).
    reason = {task_reason_key(task): outcome.skipped} if outcome.skipped else {}
    write_parquet(task_patient_predictions(table, modality_map, outcome, settings),
                  task_dir / TASK_PREDICTIONS_FILE, PATIENT_PREDICTIONS_SCHEMA,
                  {**provenance, **reason})
    write_ablation_part(task, outcome.result.summary if outcome.result else None,
                        task_dir / ABLATION_PART_FILE)
    if task == "survival":
        shap = shap_values(outcome)
        write_parquet(shap, output_dir / "shap.parquet", SHAP_SCHEMA, provenance)
        plot_shap_summary(shap, output_dir / "shap_summary.png", outcome.skipped)
    return summary


def evaluate_patient_features(features_path: str | Path, output_dir: str | Path,
                              predictions_path: str | Path, settings: EvaluationSettings,
                              provenance: Mapping[str, str] | None = None,
                              n_jobs: int = 1) -> dict:
    """Both tasks and the cohort tables (what rules evaluate_fusion_survival,
    evaluate_fusion_response and evaluate_fusion write); returns {task: metrics or skip reason}.

    ``n_jobs``: processes for the tasks, each on one thread; the outputs are the same for any
    n_jobs (the tasks are independent and seeded)."""
    output_dir = Path(output_dir)
    if n_jobs < 2:
        summary = {task: evaluate_fusion_task(features_path, task, output_dir, settings,
                                              provenance) for task in TASKS}
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Forked before any model has run, so no OpenMP pool exists yet to be copied
        # half-initialised.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(min(n_jobs, len(TASKS)), mp_context=context) as pool:
            futures = {task: pool.submit(evaluate_fusion_task, features_path, task, output_dir,
                                         settings, provenance) for task in TASKS}
            summary = {task: future.result() for task, future in futures.items()}
    combine_task_outputs(output_dir, predictions_path, TASKS)
    return summary


def write_skipped(task_dir: Path, task: str, reason: str, settings: EvaluationSettings) -> None:
    """An empty predictions.parquet, metrics.json with the reason, and each plot as a panel
    that states it."""
    schema = PREDICTIONS_SCHEMA if task == "survival" else RESPONSE_PREDICTIONS_SCHEMA
    write_parquet(pd.DataFrame(columns=schema.names), task_dir / "predictions.parquet", schema,
                  {"task": task, "skipped": reason})
    with replaced_on_success(task_dir / "metrics.json") as temporary:
        temporary.write_text(json.dumps({"task": task, "skipped": reason,
                                         "settings": settings.__dict__}, indent=2) + "\n")
    for name in PLOTS[task]:
        message_plot(task_dir / name, f"{task} not evaluated:\n{reason}")
