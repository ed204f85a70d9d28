"""Where the workflow's own files are: the checkout the package runs from."""

from __future__ import annotations

from pathlib import Path

#: Repository root when the package is used from a checkout (editable install).
REPO_ROOT = Path(__file__).resolve().parents[3]
