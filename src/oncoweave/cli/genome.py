"""`oncoweave` commands of the reference genome."""

from __future__ import annotations

import importlib

# TODO(restructure): the argparse code still lives in these modules; it moves here.
STAGE_MODULES = (
    "oncoweave.genome.reference",
    "oncoweave.genome.transcripts",
)


def register(subparsers) -> None:
    for name in STAGE_MODULES:
        importlib.import_module(name).register(subparsers)
