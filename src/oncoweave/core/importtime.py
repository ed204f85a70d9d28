"""What a script's imports cost: its top-level import statements, timed in a fresh interpreter.

A workflow script is thin glue, so the time it spends before its first line of science is mostly its
imports. ``script_imports`` reads a script's top-level ``import``/``from ... import`` statements
(``snakemake``, ``__future__`` and relative imports left out), ``measure_imports`` runs them with
``python -X importtime -c`` in a fresh subprocess (repeated; the median is kept) and reports the
cumulative import time, the wall time of a plain ``python -c`` of the same imports, and which heavy
libraries they loaded.
"""

from __future__ import annotations

import ast
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Libraries worth knowing a step pulls in (each costs tenths of a second or more to import).
HEAVY_LIBRARIES = ("pandas", "numpy", "pyarrow", "scipy", "sklearn", "xgboost", "torch", "monai",
                   "matplotlib", "pysam", "SimpleITK", "radiomics")

#: Top-level modules whose imports a script gets from Snakemake, not from Python.
SKIPPED_MODULES = ("snakemake", "__future__")

# Written to stderr just before the measured imports, so interpreter start-up imports don't count.
_MARKER = "@@oncoweave-importtime-start@@"
_PREFIX = "import time:"


@dataclass
class ImportTiming:
    """One script's imports: median seconds (cumulative import time, wall) and heavy libraries."""

    name: str
    statements: list[str]
    import_s: float = float("nan")
    wall_s: float = float("nan")
    heavy: list[str] = field(default_factory=list)
    error: str = ""


def script_imports(path: str | Path) -> list[str]:
    """The script's top-level import statements as source lines, in order.

    Only statements directly in the module body count (imports inside functions are the lazy ones
    this measures the absence of); ``snakemake`` and ``__future__`` imports and relative imports
    are left out.
    """
    tree = ast.parse(Path(path).read_text(), filename=str(path))
    statements = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a for a in node.names if a.name.split(".")[0] not in SKIPPED_MODULES]
            if names:
                statements.append(ast.unparse(ast.Import(names=names)))
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module or node.module.split(".")[0] in SKIPPED_MODULES:
                continue
            statements.append(ast.unparse(node))
    return statements


def parse_importtime(stderr: str) -> tuple[int, set[str]]:
    """Total cumulative µs of the top-level imports after the marker, and every module imported.

    ``-X importtime`` writes ``import time: <self> | <cumulative> | <indent><module>``; a top-level
    import has no indent. Lines before the marker (interpreter start-up) are ignored.
    """
    lines = stderr.splitlines()
    if _MARKER in lines:
        lines = lines[lines.index(_MARKER) + 1:]
    total, modules = 0, set()
    for line in lines:
        if not line.startswith(_PREFIX):
            continue
        parts = line[len(_PREFIX):].split("|", 2)
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line: "self [us] | cumulative | imported package"
        name = parts[2][1:]
        modules.add(name.strip())
        if not name.startswith(" "):
            total += int(parts[1])
    return total, modules


def _import_code(statements: list[str], marker: bool) -> str:
    head = [f"import sys; sys.stderr.write({_MARKER!r} + '\\n'); sys.stderr.flush()"] if marker else []
    return "\n".join(head + statements)


def measure_imports(statements: list[str], name: str = "", repeats: int = 3,
                    python: str | None = None, cwd: str | Path | None = None,
                    timeout: float = 300) -> ImportTiming:
    """Time ``statements`` in ``repeats`` fresh interpreters each way; medians, heavy libraries.

    A failing import is reported in ``error`` (its last line of stderr) rather than raised, so one
    broken script does not hide the others' numbers.
    """
    python = python or sys.executable
    timing = ImportTiming(name=name, statements=list(statements))
    import_us, walls, loaded = [], [], set()
    for _ in range(max(1, repeats)):
        result = subprocess.run([python, "-X", "importtime", "-c", _import_code(statements, True)],
                                check=False, capture_output=True, text=True, cwd=cwd,
                                timeout=timeout)
        if result.returncode != 0:
            tail = [line for line in result.stderr.splitlines()
                    if line.strip() and not line.startswith(_PREFIX)]
            timing.error = tail[-1] if tail else f"exit status {result.returncode}"
            return timing
        total, modules = parse_importtime(result.stderr)
        import_us.append(total)
        loaded |= modules
        start = time.perf_counter()
        subprocess.run([python, "-c", _import_code(statements, False)], capture_output=True,
                       cwd=cwd, timeout=timeout, check=False)
        walls.append(time.perf_counter() - start)
    timing.import_s = statistics.median(import_us) / 1e6
    timing.wall_s = statistics.median(walls)
    timing.heavy = [lib for lib in HEAVY_LIBRARIES if lib in loaded]
    return timing


def measure_scripts(folder: str | Path, repeats: int = 3, python: str | None = None,
                    cwd: str | Path | None = None) -> list[ImportTiming]:
    """One ImportTiming per ``*.py`` script in ``folder``, sorted by name."""
    return [measure_imports(script_imports(path), name=path.name, repeats=repeats, python=python,
                            cwd=cwd)
            for path in sorted(Path(folder).glob("*.py"))]


def markdown_table(timings: list[ImportTiming]) -> str:
    """``script | import s | wall s | heavy libraries loaded`` as a Markdown table."""
    rows = ["| script | import s | wall s | heavy libraries loaded |", "|---|---:|---:|---|"]
    for t in timings:
        if t.error:
            rows.append(f"| `{t.name}` | – | – | import failed: {t.error.replace('|', '/')} |")
        else:
            rows.append(f"| `{t.name}` | {t.import_s:.2f} | {t.wall_s:.2f} | "
                        f"{', '.join(t.heavy) or 'none'} |")
    return "\n".join(rows) + "\n"
