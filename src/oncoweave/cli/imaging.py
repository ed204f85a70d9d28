"""`oncoweave` commands of imaging."""

from __future__ import annotations

import importlib

# TODO(restructure): the argparse code still lives in these modules; it moves here.
STAGE_MODULES = (
    "oncoweave.imaging.ingest",
    "oncoweave.imaging.radiomics",
    "oncoweave.imaging.deep_features",
)


def register(subparsers) -> None:
    for name in STAGE_MODULES:
        importlib.import_module(name).register(subparsers)
