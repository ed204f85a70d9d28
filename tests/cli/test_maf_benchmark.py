"""The MAF-cohort benchmark's working directory: a MAF, sheets the workflow accepts, outcomes with
events, and the MAF settings in its config."""

from __future__ import annotations

import pandas as pd
import yaml

from oncoweave.cli.maf_benchmark import write_maf_run
from oncoweave.core.paths import REPO_ROOT
from oncoweave.core.sheets import load_clinical, load_samples
from oncoweave.variants.maf_import import maf_barcodes

SCHEMAS = REPO_ROOT / "workflow" / "schemas"


def test_every_barcode_is_a_patient_with_outcomes(tmp_path):
    config_file = write_maf_run(tmp_path, 30, seed=2, territory_mb=38.0)
    config = yaml.safe_load(config_file.read_text())
    assert config["tmb"]["maf_territory_mb"] == 38.0
    barcodes = maf_barcodes(config["maf"])
    samples = load_samples(config["samples"], SCHEMAS / "samples.schema.yaml", maf=config["maf"],
                           maf_barcodes=barcodes)
    assert sorted(samples["patient"]) == sorted(barcodes) and len(barcodes) == 30
    clinical = load_clinical(config["clinical"], SCHEMAS / "clinical.schema.yaml")
    assert sorted(clinical["patient"]) == sorted(barcodes)
    events = pd.to_numeric(clinical["os_event"])
    assert 0 < events.sum() < 30 and (pd.to_numeric(clinical["os_months"]) > 0).all()
    again = write_maf_run(tmp_path / "again", 30, seed=2, territory_mb=38.0)
    assert (again.parent / "clinical.tsv").read_bytes() == (
        config_file.parent / "clinical.tsv").read_bytes()
