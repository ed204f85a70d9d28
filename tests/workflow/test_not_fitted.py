"""Cohorts the outcome models cannot be fitted on are legal and run through `all`: a header-only
clinical sheet (no outcome at all) and a one-patient cohort whose patient is censored. The fusion
network writes a not-fitted bundle and an empty representation that say why, the evaluation skips
its tasks with the reason, retrieval falls back to the features (or says there is no one to compare
with), and every patient's report renders with the reason in words where the section would be.

Both cohorts are small MAF cohorts (no reads, no images): about half a minute each."""

from __future__ import annotations

import html
import json
import re

import pytest

from helpers import make_workdir, report_index, run_snakemake, write_maf_cohort
from oncoweave.core.model_status import NOT_FITTED_KEY, task_reason_key
from oncoweave.core.tables import read_parquet

pytestmark = pytest.mark.workflow


def _report_text(path) -> str:
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", html.unescape(text))


@pytest.fixture(scope="module", params=[("header", 20), ("censored", 1)],
                ids=["header-only clinical sheet", "one censored patient"])
def cohort(request, tmp_path_factory):
    clinical, n_patients = request.param
    workdir = make_workdir(tmp_path_factory.mktemp(f"not_fitted_{clinical}"))
    patients = write_maf_cohort(workdir / "config", n_patients, seed=11, clinical=clinical)
    run_snakemake(workdir, "--cores", "2")
    return workdir, patients, clinical


def test_the_fusion_network_writes_a_bundle_that_says_why_it_was_not_fitted(cohort):
    workdir, patients, clinical = cohort
    bundle = workdir / "results" / "fusion" / "model"
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert metadata["fitted"] is False
    expected = ("no patient has a survival outcome" if clinical == "header" else
                "no observed event among the 1 patients with follow-up")
    assert expected in metadata[NOT_FITTED_KEY]
    assert metadata["seed"] == 20241201 and metadata["pytorch_version"]
    assert not (bundle / "models" / "model.pt").exists()
    embedding, embedding_metadata = read_parquet(workdir / "results/fusion/embedding.parquet")
    assert embedding.empty and embedding_metadata[NOT_FITTED_KEY] == metadata[NOT_FITTED_KEY]
    assert "not fitted" in (workdir / "logs/train_fusion/model.log").read_text()


def test_the_evaluation_skips_each_task_with_its_reason(cohort):
    workdir, patients, clinical = cohort
    predictions, metadata = read_parquet(workdir / "results/fusion/patient_predictions.parquet")
    assert sorted(predictions["patient"]) == sorted(patients)
    assert predictions["risk"].isna().all() and predictions["response_probability"].isna().all()
    for task in ("survival", "response"):
        skipped = json.loads((workdir / f"results/fusion/evaluation/{task}/metrics.json")
                             .read_text())["skipped"]
        assert metadata[task_reason_key(task)] == skipped
    if clinical == "header":
        assert metadata[task_reason_key("survival")].startswith("no patient has a survival")


def test_retrieval_falls_back_to_the_features_or_says_there_is_no_one_to_compare(cohort):
    workdir, patients, clinical = cohort
    similar, metadata = read_parquet(workdir / "results/fusion/similar_patients.parquet")
    assert metadata["representation"] == ""
    if len(patients) == 1:
        assert similar.empty and "no other patient to compare with" in metadata[NOT_FITTED_KEY]
    else:
        assert sorted(similar["patient"].unique()) == sorted(patients)
        assert "no patient has a survival outcome" in metadata["representation_not_fitted"]


def test_every_report_renders_with_the_reasons_in_words(cohort):
    workdir, patients, clinical = cohort
    reports = report_index(workdir)
    assert sorted(reports) == sorted(patients)
    text = _report_text(reports[patients[0]])
    assert "fused risk not evaluated for this cohort: " in text
    assert "response probability not evaluated for this cohort: " in text
    if len(patients) == 1:
        assert "No similar patient: the cohort has 1 patient: no other patient to compare with" \
            in text
    else:
        assert "by their standardised features (the fusion network was not fitted: no patient " \
               "has a survival outcome" in text
