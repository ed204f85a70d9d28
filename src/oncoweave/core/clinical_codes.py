"""The codes of the clinical sheet (sex, stage, os_event, response), the plausible range of
os_months, and how a cell is read.

One rule, applied twice: at planning time (oncoweave.core.sheets.load_clinical, so a bad cell stops
the run before any job, naming the sheet, row and column) and where the features are built
(oncoweave.fusion.patient_features). Standard library only: the Snakefile imports it at parse time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

SEX_FEMALE = {"f": 1.0, "female": 1.0, "w": 1.0, "woman": 1.0, "m": 0.0, "male": 0.0,
              "man": 0.0}
RESPONSE_CODES = {"1": 1, "0": 0, "cr": 1, "pr": 1, "sd": 0, "pd": 0}
OS_EVENT_CODES = {"0": 0, "1": 1}
STAGE_ROMAN = {"0": 0, "I": 1, "II": 2, "III": 3, "IV": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_STAGE = re.compile(r"^(?:STAGE\s*)?(IV|III|II|I|0|[1-4])(?:[A-C][0-9]?)?$")

# Coded column -> (codes, how the allowed values are written in errors).
CODED_COLUMNS: dict[str, tuple[Mapping[str, float], str]] = {
    "sex": (SEX_FEMALE, "F/female, M/male"),
    "os_event": (OS_EVENT_CODES, "0, 1"),
    "response": (RESPONSE_CODES, "1, 0, CR, PR (1), SD, PD (0)"),
}
# The columns whose cells these rules judge, in the order a row is checked.
CHECKED_COLUMNS = ("stage", "sex", "os_months", "os_event", "response")
# The longest plausible survival or follow-up time: 100 years. A larger os_months is a unit
# mistake (days) or a corrupt cell (1e300), never a patient; it would dominate a survival model.
OS_MONTHS_MAX = 1200.0


def parse_stage(cell: str) -> float | None:
    """'IIIA' -> 3.0, 'Stage IV' -> 4.0, '2' -> 2.0, '' -> NaN; None when unrecognised."""
    if cell == "":
        return math.nan
    match = _STAGE.match(cell.strip().upper())
    return float(STAGE_ROMAN[match[1]]) if match else None


def stage_problem(cell: str) -> str:
    """The error message for a cell that parse_stage does not recognise."""
    return f"{cell!r} is not a stage (0, I-IV with optional A-C, or 1-4)"


def coded_value(cell: str, column: str) -> float | None:
    """The code of a cell of a coded column (sex, os_event, response); NaN when empty, None when
    it is not one of the column's codes (case and surrounding blanks do not matter)."""
    if cell == "":
        return math.nan
    value = CODED_COLUMNS[column][0].get(cell.strip().lower())
    return None if value is None else float(value)


def coded_problem(cell: str, column: str) -> str:
    """The error message for a cell that coded_value does not recognise."""
    return (f"{cell!r} is not one of {CODED_COLUMNS[column][1]} (leave it empty when "
            "unknown)")


def os_months_problem(cell: str) -> str | None:
    """Why an os_months cell is implausible (above OS_MONTHS_MAX), or None; a cell that is not a
    number is left to the schema (planning) or the number parser (features)."""
    try:
        value = float(cell)
    except ValueError:
        return None
    if value > OS_MONTHS_MAX:
        return (f"{cell!r} is above {OS_MONTHS_MAX:,.0f} months (100 years): not a plausible "
                "survival or follow-up time (days instead of months, or a corrupt cell?)")
    return None


def cell_problem(column: str, cell: str) -> str | None:
    """Why this cell of a checked column cannot be read, or None when it can (or is empty)."""
    if column == "os_months":
        return os_months_problem(cell) if cell else None
    if column == "stage":
        return stage_problem(cell) if parse_stage(cell) is None else None
    if column in CODED_COLUMNS:
        return coded_problem(cell, column) if coded_value(cell, column) is None else None
    return None
