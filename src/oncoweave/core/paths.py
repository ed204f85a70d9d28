"""Where the workflow's own files are: the checkout the package runs from, and paths as outputs
record them."""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root when the package is used from a checkout (editable install).
REPO_ROOT = Path(__file__).resolve().parents[3]

#: How a recorded path inside the checkout (e.g. the shipped driver model) starts.
CHECKOUT_PREFIX = "<oncoweave>/"


def recorded_path(path: str | Path) -> str:
    """``path`` as an output records it, so that two runs' files compare byte for byte: relative
    to the working directory when inside it (e.g. ``results/drivers/model``), else
    ``<oncoweave>/...`` when inside the checkout (``<oncoweave>/resources/models/driver``), else
    absolute (a user's file elsewhere). Links are not followed."""
    absolute = Path(os.path.abspath(path))
    for root, prefix in ((Path.cwd(), ""), (REPO_ROOT, CHECKOUT_PREFIX)):
        if absolute.is_relative_to(root):
            return prefix + absolute.relative_to(root).as_posix()
    return absolute.as_posix()
