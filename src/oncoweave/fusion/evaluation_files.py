"""Each fusion task's share of the cohort tables and their join (rule ``evaluate_fusion``) into
``patient_predictions.parquet`` and ``ablation.tsv``, with pandas and pyarrow only.

Each task (rules ``evaluate_fusion_survival`` / ``evaluate_fusion_response``) writes, next to its
predictions and metrics, ``patient_predictions.parquet`` (PATIENT_PREDICTIONS_SCHEMA with only its
own columns filled) and ``ablation.parquet`` (its ablation columns, prefixed with the task). The
join reads only these files, so it needs neither the feature table nor the models.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.io import replaced_on_success
from oncoweave.core.model_status import task_reason_key
from oncoweave.core.tables import read_parquet, write_parquet
from oncoweave.fusion.schema import PATIENT_PREDICTIONS_SCHEMA

TASK_PREDICTIONS_FILE = "patient_predictions.parquet"
ABLATION_PART_FILE = "ablation.parquet"
# The columns each task's own predictions fill in the cohort's table.
TASK_COLUMNS = {"survival": ["risk", "risk_lower", "risk_upper", "risk_percentile", "risk_group"],
                "response": ["response_probability", "response_lower", "response_upper"]}
ABLATION_COLUMNS = {"survival": ["cindex_mean", "cindex_sd", "cindex_ci95", "td_auc_mean",
                                 "ibs_mean"],
                    "response": ["auroc_mean", "auroc_sd", "auprc_mean", "brier_mean"]}


def write_ablation_part(task: str, summary: pd.DataFrame | None, path: Path) -> None:
    """The task's columns of ablation.tsv, one row per modality configuration, at full
    precision (no columns when the task was skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if summary is None:
        part = pd.DataFrame(index=pd.Index([], name="model", dtype=object))
    else:
        part = summary.set_index("model")[ABLATION_COLUMNS[task]].copy()
        if "cindex_ci95" in part:
            part["cindex_ci95"] = [f"{low:.3f}-{high:.3f}" for low, high in part["cindex_ci95"]]
        part.columns = [f"{task}_{c}" for c in part.columns]
    with replaced_on_success(path) as temporary:
        pq.write_table(pa.Table.from_pandas(part), temporary)


def combine_task_outputs(output_dir: str | Path, predictions_path: str | Path,
                         tasks: Sequence[str]) -> pd.DataFrame:
    """Join the tasks' shares under ``output_dir/<task>/``: ``predictions_path``
    (PATIENT_PREDICTIONS_SCHEMA, each task's columns from its own file) and
    ``output_dir/ablation.tsv``; returns the predictions."""
    output_dir = Path(output_dir)
    shares = {task: read_parquet(output_dir / task / TASK_PREDICTIONS_FILE,
                               expected_schema=PATIENT_PREDICTIONS_SCHEMA) for task in tasks}
    predictions, metadata = shares[tasks[0]]
    predictions = predictions.copy()
    reasons = {}
    for task, (share, share_metadata) in shares.items():
        if not share["patient"].equals(predictions["patient"]):
            raise InputError(f"the {task} evaluation has other patients than the "
                             f"{tasks[0]} evaluation (rerun both)",
                             path=output_dir / task / TASK_PREDICTIONS_FILE)
        for column in TASK_COLUMNS[task]:
            predictions[column] = share[column].to_numpy()
        if task_reason_key(task) in share_metadata:
            reasons[task_reason_key(task)] = share_metadata[task_reason_key(task)]
    predictions["model"] = ["; ".join(name for name in names if name) for names in zip(
        *(share["model"] for share, _ in shares.values()))]
    provenance = {k: v for k, v in metadata.items()
                  if k != "oncoweave_version" and k not in map(task_reason_key, tasks)}
    write_parquet(predictions, predictions_path, PATIENT_PREDICTIONS_SCHEMA,
                  {**provenance, **reasons})
    _write_ablation_table([output_dir / task / ABLATION_PART_FILE for task in tasks],
                          output_dir / "ablation.tsv")
    return predictions


def _write_ablation_table(parts: Sequence[Path], path: Path) -> None:
    """One row per modality configuration: each task's per-fold metrics (none when skipped)."""
    frames = [pd.read_parquet(part) for part in parts]
    frames = [frame for frame in frames if len(frame.columns)]
    table = (pd.concat(frames, axis=1) if frames
             else pd.DataFrame(index=pd.Index([], name="model")))
    with replaced_on_success(path) as temporary:
        table.rename_axis("model").reset_index().to_csv(temporary, sep="\t", index=False,
                                                        float_format="%.3f")


def survival_cindex_by_model(metrics_path: str | Path) -> dict[str, float]:
    """{model: per-fold mean C-index} of the survival ablation in ``metrics_path``."""
    metrics = json.loads(Path(metrics_path).read_text())
    if "skipped" in metrics:
        raise InputError(f"survival was not evaluated: {metrics['skipped']}", path=metrics_path)
    return {row["model"]: row["cindex_mean"] for row in metrics["ablation"]}
