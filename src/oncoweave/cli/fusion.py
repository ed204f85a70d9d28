"""`oncoweave` commands of fusion and retrieval."""

from __future__ import annotations

import importlib

# TODO(restructure): the argparse code still lives in these modules; it moves here.
STAGE_MODULES = (
    "oncoweave.fusion.patient_features",
    "oncoweave.fusion.retrieval",
    "oncoweave.fusion.models",
)


def register(subparsers) -> None:
    for name in STAGE_MODULES:
        importlib.import_module(name).register(subparsers)
