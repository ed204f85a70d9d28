"""The driver stage's constants and defaults, importable for nothing (standard library only): the
genes it scores, the likely-driver threshold, the training seed, and where its resources and
shipped model are."""

from __future__ import annotations

from oncoweave.core.paths import REPO_ROOT

DRIVER_GENES = ("TP53", "BRCA1", "BRCA2", "EGFR")
# driver_score from which a call is a likely driver (therapy matching, the reports, predict).
DEFAULT_DRIVER_THRESHOLD = 0.5
SEED = 20240611
DRIVERS_RESOURCE_DIR = REPO_ROOT / "resources" / "drivers"
SHIPPED_MODEL_DIR = REPO_ROOT / "resources" / "models" / "driver"
