"""The package's layout rules: the import contracts in pyproject.toml, one command line, and modules
that say what they are for and stay small enough to read."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "src" / "oncoweave"
MAX_MODULE_LINES = 500
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is not installed (the test extra installs it)"
    result = subprocess.run([lint_imports, "--no-cache"], cwd=PACKAGE.parents[1],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_says_what_it_is_for_and_is_small(path):
    tree = ast.parse(path.read_text())
    docstring = ast.get_docstring(tree)
    assert docstring and docstring.strip(), f"{path.name}: no module docstring"
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines (at most {MAX_MODULE_LINES})"


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name != "cli"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_command_line_lives_in_cli_only(path):
    imported = {alias.name for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Import) for alias in node.names}
    assert "argparse" not in imported, f"{path.name} builds a command line outside oncoweave.cli"
