"""The few lines every workflow script shares: logging into the rule's log, one-line errors."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from oncoweave.core.errors import InputError

log = logging.getLogger("oncoweave")
T = TypeVar("T")


def run_step(snakemake: Any, step: Callable[[], object]) -> None:
    """Run ``step`` inside a Snakemake ``script:`` job.

    Log records (and anything a library prints to stderr) go to the rule's log file. Bad input
    (InputError) ends the job with one line naming the file, written to the log and to the terminal,
    instead of a traceback; Snakemake then removes the job's outputs, so nothing partial is left.
    A rule's ``params.label`` (e.g. "config/samples.tsv, row 3 (sample P1-T)") prefixes that line.
    """
    terminal = sys.stderr
    log_path = snakemake.log[0] if snakemake.log else None
    handle = open(log_path, "w") if log_path else terminal
    sys.stderr = handle
    logging.basicConfig(level=logging.INFO, stream=handle, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        step()
    except InputError as err:
        label = snakemake.params.get("label")
        message = f"error in rule {snakemake.rule}: {label + ': ' if label else ''}{err}"
        log.error(message)
        print(message, file=terminal)
        sys.exit(1)
    finally:
        handle.flush()


def log_to_stderr() -> None:
    """INFO logging to stderr for a command run by hand (a workflow job logs through run_step)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def each_patient(rows: Sequence[T], key: str = "patient") -> Iterator[T]:
    """Yield a shard job's rows one by one, logging '[k/n] <patient>' and the seconds each took,
    so a long shard shows its progress in the rule's log."""
    total = len(rows)
    for number, row in enumerate(rows, start=1):
        name = row[key] if isinstance(row, Mapping) else row
        started = time.perf_counter()
        log.info("[%d/%d] %s", number, total, name)
        yield row
        log.info("[%d/%d] %s done in %.2f s", number, total, name, time.perf_counter() - started)
