"""The one-line errors of the jobs that failed in this run, found in their logs under logs/.

A job stopped by bad input writes one line to its log (oncoweave.cli.glue.run_step:
'<time> ERROR oncoweave: error in rule R: <file>: row N ...', or the command line's
'oncoweave <command>: error: ...'). Snakemake ends a failed run with its own blocks; the workflow's
``onerror:`` (workflow/rules/errors.smk) repeats these lines after them, once each. Standard
library only: imported at parse time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# run_step's log line: logging's '%(asctime)s %(levelname)s %(name)s: %(message)s'.
_RULE_ERROR = re.compile(r" ERROR oncoweave: error in rule (?P<rule>[\w.-]+): (?P<message>.+)$")
# The command line's (and the planning checks') line: 'oncoweave[ <command>]: error: <message>'.
_CLI_ERROR = re.compile(r"^oncoweave(?: [\w-]+)?: error: (?P<message>.+)$")
# An error line is written last; a log's tail holds it (a job's log may be long).
TAIL_BYTES = 64 * 1024


def failed_job_errors(log_dir: str | Path, since: float) -> list[str]:
    """'oncoweave: error: <message> (rule R; log <path>)' for each error line of a log under
    ``log_dir`` written at or after ``since`` (seconds since the epoch), oldest log first, each
    message once."""
    logs = []
    for folder, _, names in os.walk(log_dir):
        for name in names:
            path = os.path.join(folder, name)
            try:
                modified = os.stat(path).st_mtime
            except OSError:  # removed meanwhile
                continue
            if modified >= since:
                logs.append((modified, path))
    lines, seen = [], set()
    for _, path in sorted(logs):
        for message, rule in _error_lines(path):
            if message not in seen:
                seen.add(message)
                where = f"rule {rule}; log {path}" if rule else f"log {path}"
                lines.append(f"oncoweave: error: {message} ({where})")
    return lines


def _error_lines(path: str) -> list[tuple[str, str | None]]:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        match = _RULE_ERROR.search(line)
        if match:
            found.append((match["message"], match["rule"]))
            continue
        match = _CLI_ERROR.match(line)
        if match:
            found.append((match["message"], None))
    return found
