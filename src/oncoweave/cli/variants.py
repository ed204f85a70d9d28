"""`oncoweave` commands of the variants stage."""

from __future__ import annotations

import importlib

# TODO(restructure): the argparse code still lives in these modules; it moves here.
STAGE_MODULES = (
    "oncoweave.variants.inputs",
    "oncoweave.variants.identity",
    "oncoweave.variants.classify",
    "oncoweave.variants.export",
    "oncoweave.variants.cohort",
    "oncoweave.variants.caller_evaluation",
)


def register(subparsers) -> None:
    for name in STAGE_MODULES:
        importlib.import_module(name).register(subparsers)
