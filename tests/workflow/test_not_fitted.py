"""Cohorts the outcome models cannot be fitted on are legal and run through `all`: a header-only
clinical sheet (no outcome at all) and a one-patient cohort whose patient is censored. The fusion
network writes a not-fitted bundle and an empty representation that say why, the evaluation skips
its tasks with the reason, retrieval falls back to the features (or says there is no one to compare
with), and every patient's report renders with the reason in words where the section would be.

Both cohorts are small MAF cohorts (no reads, no images): about half a minute each. A third, with
one response class and one lesion, checks the response task, the encoder and the imaging modality
are left out with their reasons while survival is still evaluated."""

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


@pytest.fixture(scope="module")
def one_class_one_lesion(tmp_path_factory):
    """12 MAF patients with outcomes, every response PD, and one lesion for the first patient: the
    response task, the encoder and the imaging modality cannot be learnt; survival can."""
    import numpy as np
    import pandas as pd
    import SimpleITK as sitk
    import yaml

    from oncoweave.toy.images import lesion_phantom

    workdir = make_workdir(tmp_path_factory.mktemp("one_class_one_lesion"))
    patients = write_maf_cohort(workdir / "config", 12, seed=5)
    clinical = pd.read_csv(workdir / "config/clinical.tsv", sep="\t", dtype=str,
                           keep_default_na=False)
    clinical.assign(response="PD").to_csv(workdir / "config/clinical.tsv", sep="\t", index=False)
    image, mask = lesion_phantom(0.6, np.random.default_rng(3))
    (workdir / "images").mkdir()
    sitk.WriteImage(image, str(workdir / "images/ct.nii.gz"))
    sitk.WriteImage(mask, str(workdir / "images/mask.nii.gz"))
    (workdir / "config/images.tsv").write_text(
        "patient\tlesion\timage\tmask\tmodality\tlabel\n"
        f"{patients[0]}\tL1\timages/ct.nii.gz\timages/mask.nii.gz\tCT\t1\n")
    config = yaml.safe_load((workdir / "config/config.yaml").read_text())
    config["fusion"]["network"] = {"epochs": 5}
    config["fusion"]["evaluation"] = {"n_folds": 2, "inner_folds": 2, "n_bootstrap": 5,
                                      "interval_refits": 2}
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_snakemake(workdir, "--cores", "2")
    return workdir, patients


def test_one_response_class_skips_the_response_task_and_says_why(one_class_one_lesion):
    workdir, patients = one_class_one_lesion
    reason = ("0 responders among 12 patients with a response outcome: 2-fold stratified "
              "cross-validation needs at least 2 non-responders and 2 responders")
    metrics = json.loads((workdir / "results/fusion/evaluation/response/metrics.json").read_text())
    assert metrics["skipped"] == reason
    predictions, metadata = read_parquet(workdir / "results/fusion/patient_predictions.parquet")
    assert metadata[task_reason_key("response")] == reason
    assert predictions["response_probability"].isna().all()
    assert predictions["risk"].notna().all(), "survival is still evaluated"
    text = _report_text(report_index(workdir)[patients[1]])
    assert f"response probability not evaluated for this cohort: {reason}" in text


def test_one_lesion_is_analysed_but_not_learnt_from(one_class_one_lesion):
    workdir, patients = one_class_one_lesion
    radiomics, _ = read_parquet(workdir / "results/cohort/radiomics.parquet")
    assert list(radiomics["patient"]) == [patients[0]]
    bundle = json.loads((workdir / "results/imaging/encoder/configs/metadata.json").read_text())
    reason = "the cohort has 1 lesion; the encoder learns from at least 2"
    assert bundle["fitted"] is False and bundle[NOT_FITTED_KEY] == reason
    deep, deep_metadata = read_parquet(workdir / "results/cohort/deep_features.parquet")
    assert deep.empty and deep_metadata[NOT_FITTED_KEY] == reason
    survival = json.loads((workdir / "results/fusion/evaluation/survival/metrics.json")
                          .read_text())
    left_out = survival["settings"]["modalities_left_out"]
    assert left_out["radiomics"].startswith("1 of 12 patients have radiomics features; 2-fold "
                                            "cross-validation uses a modality at least 4")
    assert left_out["deep"].startswith("0 of 12 patients have deep features")
    assert "Lesion L1" in _report_text(report_index(workdir)[patients[0]])
    assert "Lesion L1" not in _report_text(report_index(workdir)[patients[1]])
