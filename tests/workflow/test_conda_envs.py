"""Each rule's conda env holds what the rule runs: every third-party package its script imports
(directly or through the oncoweave modules it reaches, lazy imports included) and every command-line
tool its shell command or the package code calls. Conda channels are not reachable here, so this
static check is what CI can prove about `--sdm conda`."""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "workflow" / "rules"
PACKAGE_DIR = REPO / "src"

# Import name -> conda package, where they differ.
CONDA_NAME = {"sklearn": "scikit-learn", "yaml": "pyyaml", "SimpleITK": "simpleitk",
              "radiomics": "pyradiomics", "Bio": "biopython", "allel": "scikit-allel",
              "PIL": "pillow", "torch": "pytorch", "dicomanonymizer": "dicom-anonymizer",
              "cnvlib": "cnvkit", "skgenome": "cnvkit",
              "matplotlib": "matplotlib-base", "sksurv": "scikit-survival",
              "jinja2": "jinja2", "duckdb": "python-duckdb"}
# Command-line tools the rules or the package call -> their bioconda package.
TOOLS = {"bwa": "bwa", "samtools": "samtools", "bcftools": "bcftools", "tabix": "htslib",
         "bgzip": "htslib", "fastp": "fastp", "mosdepth": "mosdepth", "multiqc": "multiqc",
         "dwgsim": "dwgsim", "freebayes": "freebayes", "chromium": "chromium"}
# Imported only to run under Snakemake (the `snakemake` object of scripts) or installed with python.
PROVIDED = {"snakemake", "oncoweave", "setuptools", "pkg_resources", "_pytest", "pytest"}


def _rule_blocks() -> dict[str, str]:
    blocks = {}
    for path in sorted(RULES_DIR.glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", path.read_text(), flags=re.MULTILINE)
        for name, body in zip(parts[1::2], parts[2::2]):
            blocks[name] = body.split("\n\n\n")[0]
    return blocks


def _directive(body: str, name: str) -> str | None:
    match = re.search(rf"^    {name}:\n        \"([^\"]+)\"", body, flags=re.MULTILINE)
    return match.group(1) if match else None


def _env_packages(env_path: Path) -> set[str]:
    """Package names of a conda env file (conda and pip dependencies, versions dropped)."""
    names = set()
    for dependency in yaml.safe_load(env_path.read_text())["dependencies"]:
        for item in dependency["pip"] if isinstance(dependency, dict) else [dependency]:
            names.add(re.split(r"[ =<>!]", item.strip())[0].lower())
    return names


@cache
def _module_path(module: str) -> Path | None:
    base = PACKAGE_DIR.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


@cache
def _direct_needs(path: Path) -> tuple[frozenset[str], frozenset[str], frozenset[Path]]:
    """(third-party top-level imports, tools named in string literals, oncoweave module files
    imported) of one file, imports inside functions included."""
    imports, tools, modules = set(), set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in TOOLS:
            tools.add(node.value)
        for name in names:
            if name.split(".")[0] == "oncoweave":
                if (module_file := _module_path(name)) is not None:
                    modules.add(module_file)
            else:
                imports.add(name.split(".")[0])
    imports -= set(sys.stdlib_module_names) | PROVIDED
    return frozenset(imports), frozenset(tools), frozenset(modules)


def _needs_of_file(path: Path) -> tuple[set[str], set[str]]:
    """Imports and tools of a file and of every oncoweave module it reaches, at any depth."""
    imports, tools, seen, queue = set(), set(), {path}, [path]
    while queue:
        more_imports, more_tools, modules = _direct_needs(queue.pop())
        imports |= more_imports
        tools |= more_tools
        queue.extend(modules - seen)
        seen |= modules
    return imports, tools


def rule_needs() -> dict[str, tuple[Path, set[str]]]:
    """Rule -> (its conda env file, the conda packages it needs)."""
    needs = {}
    for rule, body in _rule_blocks().items():
        env = _directive(body, "conda")
        assert env, f"rule {rule} has no conda: env"
        packages = set()
        script = _directive(body, "script")
        if script:
            imports, tools = _needs_of_file((RULES_DIR / script).resolve())
            packages |= {CONDA_NAME.get(name, name).lower() for name in imports}
            packages |= {TOOLS[tool] for tool in tools}
        shell = body.split("    shell:", 1)[1] if "    shell:" in body else ""
        packages |= {TOOLS[word] for word in re.findall(r"[\w-]+", shell) if word in TOOLS}
        if "python" in shell:
            packages.add("python")
        needs[rule] = ((RULES_DIR / env).resolve(), packages)
    return needs


RULE_NEEDS = rule_needs()


@pytest.mark.parametrize("rule", sorted(RULE_NEEDS))
def test_rule_env_holds_what_the_rule_imports_and_calls(rule):
    env, needed = RULE_NEEDS[rule]
    missing = sorted(needed - _env_packages(env))
    assert not missing, f"rule {rule}: {env.name} lacks {', '.join(missing)}"
