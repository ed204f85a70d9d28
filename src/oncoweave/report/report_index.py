"""The index of the patient reports: which shard folder holds each patient's HTML report.

Reports are written per shard (``results/report/<shard>/<patient>.html``); ``index.html`` beside
them links every patient's report by id and ``index.tsv`` is the same list for scripts.
Standard library only: the page names patient ids and paths, nothing from the sheets.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from oncoweave.core.io import replaced_on_success

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>oncoweave: patient reports</title>
<style>body{{font-family:sans-serif;margin:2em}} td{{padding:0 1em}}</style></head>
<body><h1>Patient reports</h1><p>{count} patients. Each link opens one self-contained report.</p>
<table><tr><th>patient</th><th>report</th></tr>
{rows}
</table></body></html>
"""


def report_paths(shards: Mapping[str, Sequence[str]]) -> list[tuple[str, str, str]]:
    """(patient, shard, report path relative to results/report/), sorted by patient."""
    return sorted((patient, shard, f"{shard}/{patient}.html")
                  for shard, patients in shards.items() for patient in patients)


def write_report_index(shards: Mapping[str, Sequence[str]], html_path: str | Path,
                       tsv_path: str | Path) -> list[tuple[str, str, str]]:
    """Write index.html (links) and index.tsv (patient, shard, report) of the patient reports."""
    entries = report_paths(shards)
    rows = "\n".join(f'<tr><td>{html.escape(patient)}</td><td><a href="{html.escape(path)}">'
                     f"{html.escape(path)}</a></td></tr>" for patient, _, path in entries)
    with replaced_on_success(html_path) as temporary:
        temporary.write_text(PAGE.format(count=len(entries), rows=rows))
    with replaced_on_success(tsv_path) as temporary:
        temporary.write_text("patient\tshard\treport\n"
                             + "".join(f"{p}\t{s}\tresults/report/{r}\n" for p, s, r in entries))
    return entries
