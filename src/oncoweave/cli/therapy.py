"""`oncoweave` commands of therapy matching, TMB and ICB response."""

from __future__ import annotations

import importlib

# TODO(restructure): the argparse code still lives in these modules; it moves here.
STAGE_MODULES = (
    "oncoweave.therapy.evidence",
    "oncoweave.therapy.tmb",
    "oncoweave.therapy.matching",
    "oncoweave.therapy.icb",
)


def register(subparsers) -> None:
    for name in STAGE_MODULES:
        importlib.import_module(name).register(subparsers)
