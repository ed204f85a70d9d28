"""Import cost: the script-import parser, `oncoweave benchmark-imports`, and the lean-import guards
(science modules that must not pull heavy libraries at import)."""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from oncoweave.cli.main import main
from oncoweave.core.importtime import parse_importtime, script_imports


def test_script_imports_reads_top_level_imports_only(tmp_path):
    script = tmp_path / "step.py"
    script.write_text(textwrap.dedent('''\
        """A step."""
        from __future__ import annotations
        import os, snakemake
        from pathlib import Path
        from snakemake.io import Namedlist
        from . import sibling
        from oncoweave.core.tables import read_parquet as read, write_parquet


        def main():
            import pandas
            return pandas


        main()
        '''))
    assert script_imports(script) == [
        "import os",
        "from pathlib import Path",
        "from oncoweave.core.tables import read_parquet as read, write_parquet",
    ]


def test_parse_importtime_sums_top_level_after_the_marker():
    stderr = textwrap.dedent("""\
        import time: self [us] | cumulative | imported package
        import time:       500 |        500 | site
        @@oncoweave-importtime-start@@
        import time:       100 |        100 |   _json
        import time:       200 |        300 | json
        import time:        50 |         50 | os.path
        """)
    total, modules = parse_importtime(stderr)
    assert total == 350
    assert modules == {"_json", "json", "os.path"}


def test_benchmark_imports_on_a_trivial_script(tmp_path, capsys):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "trivial.py").write_text("import os\nimport snakemake\n\nprint(os.sep)\n")
    (scripts / "broken.py").write_text("import no_such_module_anywhere\n")
    table = tmp_path / "imports.md"
    assert main(["benchmark-imports", "--scripts", str(scripts), "--repeats", "1",
                 "--markdown", str(table)]) == 0
    printed = capsys.readouterr().out
    assert table.read_text() == printed
    assert printed.splitlines()[0] == "| script | import s | wall s | heavy libraries loaded |"
    row = next(line for line in printed.splitlines() if "`trivial.py`" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert re.fullmatch(r"\d+\.\d\d", cells[1]) and float(cells[2]) > 0
    assert cells[3] == "none"
    broken = next(line for line in printed.splitlines() if "`broken.py`" in line)
    assert "import failed" in broken and "no_such_module_anywhere" in broken


def test_benchmark_imports_rejects_a_missing_folder(tmp_path, capsys):
    assert main(["benchmark-imports", "--scripts", str(tmp_path / "absent")]) == 2
    assert "no such folder" in capsys.readouterr().err


MODEL_LIBRARIES = ("sklearn", "xgboost", "scipy", "torch", "monai", "matplotlib")
IMAGING_LIBRARIES = ("torch", "monai", "SimpleITK", "radiomics", "matplotlib", "sklearn")

# What each group of modules must NOT have loaded once imported: the heavy libraries are imported
# inside the functions that use them. Where a step reads Parquet, pandas/pyarrow are expected.
LEAN_IMPORTS = {
    "genomic steps": (["oncoweave.variants.classify", "oncoweave.variants.identity",
                       "oncoweave.genome.reference", "oncoweave.genome.transcripts",
                       "oncoweave.genome.sequence", "oncoweave.genome.gene_models",
                       "oncoweave.genome.protein"],
                      ("pandas", "pyarrow", "numpy", "pysam") + MODEL_LIBRARIES),
    "variant tables": (["oncoweave.variants.cohort", "oncoweave.variants.coverage",
                        "oncoweave.variants.schema"], MODEL_LIBRARIES),
    "drivers": (["oncoweave.drivers.features", "oncoweave.drivers.model",
                 "oncoweave.drivers.scoring", "oncoweave.drivers.plots",
                 "oncoweave.drivers.evaluation", "oncoweave.drivers.training"], MODEL_LIBRARIES),
    "therapy": (["oncoweave.therapy.matching", "oncoweave.therapy.evidence",
                 "oncoweave.therapy.tmb", "oncoweave.therapy.icb_tables"], MODEL_LIBRARIES),
    "ICB training": (["oncoweave.therapy.icb_training"], ("xgboost", "torch", "matplotlib")),
    "sheets": (["oncoweave.core.sheets"], ("jsonschema", "snakemake", "yaml") + MODEL_LIBRARIES),
    # Parse-time checks: standard library only.
    "planning checks": (["oncoweave.core.clinical_codes", "oncoweave.core.config_check",
                         "oncoweave.core.job_errors"],
                        ("pandas", "pyarrow", "numpy", "jsonschema", "yaml") + MODEL_LIBRARIES),
    "imaging": (["oncoweave.imaging.ingest", "oncoweave.imaging.radiomics",
                 "oncoweave.imaging.radiomics_checks", "oncoweave.imaging.encoder_inputs",
                 "oncoweave.imaging.encoder", "oncoweave.imaging.deep_features",
                 "oncoweave.imaging.lesion_crops", "oncoweave.imaging.lesion_classifier",
                 "oncoweave.imaging.lesion_maps", "oncoweave.imaging.lesion_map_files",
                 "oncoweave.imaging.segmenter", "oncoweave.imaging.segmenter_cv"],
                IMAGING_LIBRARIES),
    "fusion tables": (["oncoweave.fusion.patient_features", "oncoweave.fusion.feature_table",
                       "oncoweave.fusion.retrieval", "oncoweave.fusion.evaluation",
                       "oncoweave.fusion.cross_validation", "oncoweave.fusion.plots"],
                      MODEL_LIBRARIES),
    "reports": (["oncoweave.report.patient", "oncoweave.report.cohort_figures",
                 "oncoweave.report.cohort_tables"], MODEL_LIBRARIES),
    # `oncoweave --help` builds the parser from every command module: none may load a table library.
    "command line": (["oncoweave.cli.main"] + [f"oncoweave.cli.{name}" for name in (
        "genome", "variants", "drivers", "therapy", "imaging", "fusion", "report", "toy",
        "benchmark", "scale", "importtime")], ("pandas", "pyarrow", "numpy") + MODEL_LIBRARIES),
}


@pytest.mark.parametrize("group", sorted(LEAN_IMPORTS))
def test_science_modules_do_not_import_heavy_libraries(group):
    modules, forbidden = LEAN_IMPORTS[group]
    code = "\n".join([f"import {name}" for name in modules] + [
        "import json, sys",
        f"print(json.dumps([lib for lib in {list(forbidden)!r} if lib in sys.modules]))"])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [], (
        f"{group}: importing {', '.join(modules)} loads heavy libraries")
