"""Scoring many variants at once gives what scoring each row on its own gave: scores, top
contributions (names, values, order, merged entries) and the reasons in words."""

import json

import numpy as np
import pandas as pd
import pytest

from oncoweave.drivers.defaults import SHIPPED_MODEL_DIR
from oncoweave.drivers.features import annotate_genomic, describe, feature_table
from oncoweave.drivers.model import DriverModel
from oncoweave.drivers.scoring import (
    TOP_CONTRIBUTIONS,
    _descending_order,
    _json_number,
    saturation_positions,
    score_annotations,
)


@pytest.fixture(scope="module")
def model():
    return DriverModel.load(SHIPPED_MODEL_DIR)


def per_row_top_reasons(contributions: pd.Series, values: pd.Series, annotation: dict,
                        knowledge) -> list[dict]:
    """The per-row reference: sort one row's |contributions| with pandas, merge equal words."""
    merged: dict[str, dict] = {}
    for name in contributions.abs().sort_values(ascending=False).index:
        reason = describe(name, values[name], annotation, knowledge)
        entry = merged.setdefault(reason, {"feature": name, "value": _json_number(values[name]),
                                           "contribution": 0.0, "reason": reason})
        if entry["feature"] != name:
            entry["feature"] += f",{name}"
        entry["contribution"] += float(contributions[name])
    ranked = sorted(merged.values(), key=lambda e: abs(e["contribution"]), reverse=True)
    return [{**e, "contribution": round(e["contribution"], 4)} for e in ranked[:TOP_CONTRIBUTIONS]]


def test_descending_order_is_pandas_sort_values_ties_and_nan_included():
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(size=(300, 23)), 1).astype(np.float32)  # many ties
    values[rng.random(values.shape) < 0.3] = 0
    values[5, [2, 9]] = np.nan
    order = _descending_order(np.abs(values))
    for row in range(len(values)):
        expected = pd.Series(np.abs(values[row])).sort_values(ascending=False).index
        assert order[row].tolist() == expected.tolist()


def test_scores_and_reasons_match_per_row_scoring(model, knowledge):
    structure = knowledge.genes["TP53"]
    contig = structure.transcript.contig
    annotations = []
    for position in saturation_positions(structure)[:900]:
        chrom, genomic = knowledge.contig_map.to_genomic(contig, position)
        ref = knowledge.fasta.fetch(contig, position - 1, position).upper()
        for alt in "ACGT".replace(ref, ""):
            annotations.append(annotate_genomic(chrom, genomic, ref, alt, knowledge))
    frame = pd.DataFrame(annotations)
    frame = pd.concat([frame, frame.iloc[::7]])  # repeated annotations, scored once
    frame.index = np.arange(len(frame)) * 2  # any index is kept
    scored = score_annotations(frame, model, knowledge)
    assert scored.index.equals(frame.index)

    features = feature_table(frame, knowledge)
    contributions = model.contributions(features)
    np.testing.assert_array_equal(scored["driver_score"].to_numpy(),
                                  model.predict_proba(features))
    for (index, row), annotation in zip(contributions.iterrows(), frame.to_dict("records")):
        top = per_row_top_reasons(row, features.loc[index], annotation, knowledge)
        assert scored.at[index, "top_features"] == json.dumps(top)
        assert scored.at[index, "driver_reasons"] == "; ".join(
            f"{t['reason']} ({'+' if t['contribution'] >= 0 else '-'})" for t in top)
    merged = scored["top_features"].str.contains('"feature": "[a-z_0-9]+,', regex=True)
    assert merged.any()  # rows with features merged under one phrase were compared too
