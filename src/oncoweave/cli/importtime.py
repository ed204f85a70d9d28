"""`oncoweave benchmark-imports`: what each workflow script's top-level imports cost.

Parses each script's imports, times them with ``python -X importtime`` in fresh interpreters and
prints a Markdown table (import s, wall s, heavy libraries loaded); the measuring is
``oncoweave.core.importtime``.
"""

from __future__ import annotations

from pathlib import Path

from oncoweave.core.errors import InputError
from oncoweave.core.paths import REPO_ROOT


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "benchmark-imports",
        help="time each workflow script's top-level imports (python -X importtime), as Markdown")
    parser.add_argument("--scripts", default=str(REPO_ROOT / "workflow" / "scripts"),
                        help="folder of scripts (default: the checkout's workflow/scripts)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh interpreters per script; the median is reported (default 3)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table to PATH")
    parser.set_defaults(func=_cmd_benchmark_imports)


def _cmd_benchmark_imports(args) -> int:
    from oncoweave.core.importtime import markdown_table, measure_scripts

    folder = Path(args.scripts)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of scripts")
    if args.repeats < 1:
        raise InputError(f"--repeats must be at least 1, got {args.repeats}")
    table = markdown_table(measure_scripts(folder, repeats=args.repeats))
    print(table, end="")
    if args.markdown:
        Path(args.markdown).write_text(table)
    return 0
