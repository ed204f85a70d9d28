"""A model step that cannot be fitted on this cohort says so in its outputs instead of failing the run.

A cohort without outcomes, without an observed event or with too few patients is a legal input:
its model steps write a "not fitted" bundle (``configs/metadata.json`` with ``"fitted": false`` and
the reason, no weights) and tables with no rows whose Parquet metadata carries the reason under
NOT_FITTED_KEY. The steps downstream and the reports read the reason and show it where the
model's output would be. Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oncoweave.core.io import directory_replaced_on_success

# The key of a not-fitted reason in a bundle's metadata.json and in a table's Parquet metadata.
NOT_FITTED_KEY = "not_fitted"
BUNDLE_METADATA = Path("configs") / "metadata.json"


def write_not_fitted_bundle(directory: str | Path, reason: str,
                            metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Replace ``directory`` with a bundle that holds only configs/metadata.json saying why the
    model was not fitted (``metadata``: versions, seed, settings); return that metadata."""
    record = {**metadata, "fitted": False, NOT_FITTED_KEY: reason}
    with directory_replaced_on_success(directory) as temporary:
        (temporary / BUNDLE_METADATA).parent.mkdir(parents=True)
        (temporary / BUNDLE_METADATA).write_text(json.dumps(record, indent=1) + "\n")
    return record


def task_reason_key(task: str) -> str:
    """The metadata key of why a task (survival, response) was not evaluated: survival_not_fitted."""
    return f"{task}_{NOT_FITTED_KEY}"


def not_fitted_reason(metadata: Mapping[Any, Any] | None) -> str | None:
    """The reason a table's producer was not fitted (Parquet metadata, str or bytes keys), or
    None when it was fitted."""
    if not metadata:
        return None
    value = metadata.get(NOT_FITTED_KEY, metadata.get(NOT_FITTED_KEY.encode()))
    if isinstance(value, bytes):
        value = value.decode()
    return value or None
