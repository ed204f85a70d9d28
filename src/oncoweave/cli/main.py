"""`oncoweave <command> ...`: the command line over the package.

Each command lives in its stage's module, which exposes ``register(subparsers)`` that adds a
sub-parser and sets ``func`` (a callable taking the parsed args and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from oncoweave import __version__
from oncoweave.core.errors import InputError

# Modules that contribute commands, in the order `--help` lists them.
COMMAND_MODULES = (
    "oncoweave.cli.genome",
    "oncoweave.cli.variants",
    "oncoweave.cli.drivers",
    "oncoweave.cli.therapy",
    "oncoweave.cli.copy_number",
    "oncoweave.cli.imaging",
    "oncoweave.cli.fusion",
    "oncoweave.cli.report",
    "oncoweave.cli.toy",
    "oncoweave.cli.benchmark",
    "oncoweave.cli.scale",
    "oncoweave.cli.importtime",
)


def build_parser(modules: tuple[str, ...] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncoweave", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"oncoweave {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None, modules: tuple[str, ...] | None = None) -> int:
    """Run one command; `modules` narrows the parser to some stages' commands (and imports)."""
    args = build_parser(modules or COMMAND_MODULES).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        # Bad input: one line naming the file (and row), no traceback.
        print(f"oncoweave {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
