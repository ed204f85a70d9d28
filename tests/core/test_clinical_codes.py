"""Clinical codes: one rule for the planning-time sheet check and the patient features."""

import math
from pathlib import Path

import pandas as pd
import pytest
from helpers import REPO

from oncoweave.core.clinical_codes import cell_problem, coded_value, parse_stage
from oncoweave.core.errors import InputError
from oncoweave.core.sheets import check_known_patients, load_clinical
from oncoweave.fusion.patient_features import clinical_features

CLINICAL_SCHEMA = REPO / "workflow" / "schemas" / "clinical.schema.yaml"
HEADER = "patient\tage\tsex\tstage\tos_months\tos_event\tresponse\n"
GOOD = "P1\t61\tF\tIIIA\t12\t1\tCR\n"


@pytest.mark.parametrize("column, cell, expected", [
    ("sex", "Female", 1.0), ("sex", " m ", 0.0), ("response", "pd", 0.0), ("response", "PR", 1.0),
    ("os_event", "1", 1.0), ("sex", "X", None), ("response", "responder", None),
])
def test_coded_value(column, cell, expected):
    assert coded_value(cell, column) == expected
    assert math.isnan(coded_value("", column))


def test_parse_stage_and_cell_problem():
    assert parse_stage("Stage IIB") == 2.0 and parse_stage("V") is None
    assert cell_problem("stage", "V") == "'V' is not a stage (0, I-IV with optional A-C, or 1-4)"
    assert cell_problem("response", "responder") == (
        "'responder' is not one of 1, 0, CR, PR (1), SD, PD (0) (leave it empty when unknown)")
    assert cell_problem("stage", "") is None and cell_problem("treatment", "anything") is None
    # 100 years of follow-up is the bound; the schema judges a cell that is not a number.
    assert cell_problem("os_months", "1200") is None and cell_problem("os_months", "") is None
    assert cell_problem("os_months", "1200.5").startswith("'1200.5' is above 1,200 months")
    assert cell_problem("os_months", "twelve") is None


@pytest.mark.parametrize("row, expected", [
    ("P2\t50\tF\tII\t3\t0\tresponder\n",
     "row 2 (line 3): column 'response': 'responder' is not one of 1, 0, CR, PR (1), SD, PD (0) "
     "(leave it empty when unknown)"),
    ("P2\t50\tunknown\tII\t3\t0\tPD\n",
     "row 2 (line 3): column 'sex': 'unknown' is not one of F/female, M/male (leave it empty "
     "when unknown)"),
    ("P2\t50\tF\tlimited\t3\t0\tPD\n",
     "row 2 (line 3): column 'stage': 'limited' is not a stage (0, I-IV with optional A-C, or 1-4)"),
    ("P2\t50\tF\tII\t1e300\t0\tPD\n",
     "row 2 (line 3): column 'os_months': '1e300' is above 1,200 months (100 years): not a "
     "plausible survival or follow-up time (days instead of months, or a corrupt cell?)"),
])
def test_load_clinical_refuses_what_the_features_cannot_read(tmp_path, row, expected):
    sheet = tmp_path / "clinical.tsv"
    sheet.write_text(HEADER + GOOD + row)
    with pytest.raises(InputError) as planning:
        load_clinical(sheet, CLINICAL_SCHEMA)
    assert str(planning.value) == f"{sheet}: {expected}"
    # The feature builder, given the sheet as a table, says the very same.
    table = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    with pytest.raises(InputError) as features:
        clinical_features(table, ["P1", "P2"], str(sheet))
    assert str(features.value) == str(planning.value)


def test_check_known_patients_names_the_row(tmp_path):
    sheet = Path(tmp_path / "clinical.tsv")
    sheet.write_text(HEADER + GOOD + GOOD.replace("P1", "P9"))
    clinical = load_clinical(sheet, CLINICAL_SCHEMA)
    check_known_patients(clinical, sheet, ["P1", "P9"], "config/samples.tsv")
    with pytest.raises(InputError) as caught:
        check_known_patients(clinical, sheet, ["P1"], "config/samples.tsv")
    assert str(caught.value) == (f"{sheet}: row 2 (line 3): column 'patient': 'P9' is not in the "
                                 "sample sheet config/samples.tsv")
