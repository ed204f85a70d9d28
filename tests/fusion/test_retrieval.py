"""Similar-patient retrieval: planted neighbours, NaN-aware distances, explanations, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_patient_features import (
    build_from,
    drivers_table,
    run_cli,
    therapies_tables,
    therapy,
    write_cohort,
)

from oncoweave.core.errors import InputError
from oncoweave.core.tables import read_parquet
from oncoweave.fusion.feature_table import modality_map, write_patient_features
from oncoweave.fusion.patient_distance import rms_difference, rms_differences
from oncoweave.fusion.retrieval import (
    SIMILAR_PATIENTS_SCHEMA,
    SimilarPatients,
    similar_patients_table,
    write_similar_patients,
)
from oncoweave.therapy.matching import THERAPIES_SCHEMA


@pytest.fixture
def cohort(tmp_path) -> dict:
    return write_cohort(tmp_path / "cohort")


@pytest.fixture
def features(cohort) -> pd.DataFrame:
    return build_from(cohort)


@pytest.fixture
def model(features) -> SimilarPatients:
    therapies = pd.concat(therapies_tables().values(), ignore_index=True)
    return SimilarPatients().fit(features, modality_map(features.columns),
                                 drivers=drivers_table(), therapies=therapies)


def tiny_features(radiomic_copies: int = 4) -> pd.DataFrame:
    """A, B, C with one genomic column and `radiomic_copies` identical radiomic columns; D with
    only a clinical value (shared with C alone)."""
    table = pd.DataFrame({"patient": ["A", "B", "C", "D"], "os_months": np.nan,
                          "os_event": pd.array([None] * 4, dtype="Int64"),
                          "response": pd.array([None] * 4, dtype="Int64"),
                          "gen_x": [0.0, 0.0, 1.0, np.nan]})
    radiomics = pd.DataFrame({f"rad_f{copy}": [-1.0, 1.0, 0.0, np.nan]
                              for copy in range(radiomic_copies)})
    return pd.concat([table, radiomics, pd.DataFrame({"clin_age": [np.nan, np.nan, 50.0, 60.0]})],
                     axis=1)


# ---------------------------------------------------------------------------------------------
# Distances.

def test_planted_near_duplicate_is_the_first_neighbour(model):
    assert model.kneighbors("P1", 1)[0].patient == "P2"
    assert model.kneighbors("P2", 1)[0].patient == "P1"
    first = model.kneighbors("P1", 3)
    assert [n.rank for n in first] == [1, 2, 3]
    assert first[0].distance < first[1].distance <= first[2].distance
    assert first[0].modalities_used == ("genomic", "radiomics", "deep", "clinical")


def test_distance_is_the_mean_of_modality_rms_differences():
    table = tiny_features()
    model = SimilarPatients().fit(table, modality_map(table.columns))
    distance, used = model.distances("A")
    # z-scores: gen_x (-0.71, -0.71, 1.41); each rad column (-1.22, 1.22, 0).
    assert distance[1] == pytest.approx((0 + 2 * np.sqrt(1.5)) / 2)
    assert distance[2] == pytest.approx((3 / np.sqrt(2) + np.sqrt(1.5)) / 2)
    assert np.isnan(distance[0]) and np.isinf(distance[3])  # itself; nothing shared with D
    assert used[1] == ("genomic", "radiomics") and used[3] == ()


def test_a_wide_block_does_not_dominate():
    narrow, wide = tiny_features(4), tiny_features(300)
    narrow_model = SimilarPatients().fit(narrow, modality_map(narrow.columns))
    wide_model = SimilarPatients().fit(wide, modality_map(wide.columns))
    np.testing.assert_allclose(wide_model.distances("A")[0], narrow_model.distances("A")[0])


def test_a_pair_sharing_no_modality_is_never_neighbours():
    table = tiny_features()
    model = SimilarPatients().fit(table, modality_map(table.columns))
    only = model.kneighbors("D", 3)
    assert [(n.patient, n.modalities_used) for n in only] == [("C", ("clinical",))]
    assert only[0].distance == pytest.approx(2.0)  # z 1 vs -1
    assert "D" not in [n.patient for n in model.kneighbors("A", 3)]


def test_patient_without_imaging_is_matched_on_genomics_and_clinical(model):
    neighbours = model.kneighbors("P4", 5)
    # P5 has no clinical row and P6 only empty cells: genomics alone is shared with them.
    assert {n.patient: n.modalities_used for n in neighbours} == {
        "P1": ("genomic", "clinical"), "P2": ("genomic", "clinical"),
        "P3": ("genomic", "clinical"), "P5": ("genomic",), "P6": ("genomic",)}
    assert all(np.isfinite(n.distance) for n in neighbours)


def test_never_its_own_neighbour(model):
    table = similar_patients_table(model, k=5)
    assert len(table) == 6 * 5
    assert (table["patient"] != table["neighbour"]).all()
    with pytest.raises(InputError, match="not its own neighbour"):
        model.explain("P1", "P1")


def test_ties_are_broken_by_patient_id_and_runs_repeat():
    table = pd.DataFrame({"patient": ["Z", "Y", "X", "W"], "os_months": np.nan,
                          "os_event": pd.array([None] * 4, dtype="Int64"),
                          "response": pd.array([None] * 4, dtype="Int64"),
                          "gen_x": [0.0, 1.0, 1.0, 5.0]})
    model = SimilarPatients().fit(table, modality_map(table.columns))
    assert [n.patient for n in model.kneighbors("W", 3)] == ["X", "Y", "Z"]
    assert [n.patient for n in model.kneighbors("X", 2)] == ["Y", "Z"]  # Y at 0, then Z
    shuffled = table.iloc[[2, 0, 3, 1]]
    again = SimilarPatients().fit(shuffled, modality_map(shuffled.columns))
    key = ["patient", "rank"]
    pd.testing.assert_frame_equal(
        similar_patients_table(model, 3).sort_values(key, ignore_index=True),
        similar_patients_table(again, 3).sort_values(key, ignore_index=True))


@pytest.mark.parametrize("layout", ["C", "F"])
def test_all_patients_at_once_are_the_one_by_one_neighbours_bit_for_bit(layout, monkeypatch):
    # The table is made for blocks of patients at a time (row blocks of the distance matrix, the
    # k nearest by partition): the same neighbours, ties and distance bits as one patient at a
    # time, whether numpy sums the squares pairwise (C order) or column by column (F order).
    rng = np.random.default_rng(5)
    values = rng.normal(size=(40, 11)).round(1)  # rounded: many equal distances
    values[rng.random(values.shape) < 0.15] = np.nan
    values[3] = np.nan  # nothing to compare: never a neighbour
    values[7] = values[8] = values[9]
    table = pd.DataFrame({"patient": [f"Q{n:02d}" for n in rng.permutation(40)],
                          "os_months": np.nan, "gen_a": rng.integers(0, 2, 40).astype(float),
                          "clin_age": np.where(rng.random(40) < 0.3, np.nan,
                                               rng.integers(40, 80, 40).astype(float))})
    representation = np.asfortranarray(values) if layout == "F" else np.ascontiguousarray(values)
    complete = np.where(np.isnan(representation), 0.5, representation)  # no gap to mask
    for blocks in ({}, {"representation": representation}, {"representation": complete}):
        model = SimilarPatients().fit(table, modality_map(table.columns),
                                      blocks.get("representation"))
        for block in model.blocks_.values():
            queries = np.array([0, 3, 7, 39])
            together = rms_differences(block, queries)
            every = np.arange(len(block))  # as modality_distances indexes the block
            for row, i in zip(together, queries):
                np.testing.assert_array_equal(row, rms_difference(block[every], block[i]))
        for k in (1, 3, 45):
            one_by_one = [(p, model.kneighbors(p, k)) for p in model.patients_]
            monkeypatch.setattr("oncoweave.fusion.patient_distance.BLOCK_ELEMENTS", 97)
            assert list(model.kneighbors_all(k)) == one_by_one
            monkeypatch.undo()
            assert list(model.kneighbors_all(k)) == one_by_one
        assert list(model.kneighbors_all(2, ["Q05", "Q05"])) == [
            ("Q05", model.kneighbors("Q05", 2))] * 2


def test_representation_replaces_the_features(features):
    ids = list(features["patient"])
    embedding = np.zeros((6, 2))
    embedding[ids.index("P6")] = [0.1, 0.0]  # P6 next to P1, the rest far
    embedding[ids.index("P2")] = [5.0, 5.0]
    embedding[ids.index("P3")] = [-3.0, 4.0]
    embedding[ids.index("P4")] = [9.0, 0.0]
    embedding[ids.index("P5")] = [0.0, -7.0]
    model = SimilarPatients().fit(features, modality_map(features.columns), embedding)
    nearest = model.kneighbors("P1", 2)
    assert [n.patient for n in nearest] == ["P6", "P3"]
    assert nearest[0].modalities_used == ("representation",)
    assert nearest[0].distance == pytest.approx(0.1 / np.sqrt(2))  # RMS over 2 coordinates
    frame = pd.DataFrame({"patient": ids[::-1], "e0": embedding[::-1, 0],
                          "e1": embedding[::-1, 1]})
    by_id = SimilarPatients().fit(features, modality_map(features.columns), frame)
    assert [n.patient for n in by_id.kneighbors("P1", 2)] == ["P6", "P3"]
    with pytest.raises(InputError, match=r"representation must be \(n patients = 6, d\)"):
        SimilarPatients().fit(features, modality_map(features.columns), embedding[:5])


# ---------------------------------------------------------------------------------------------
# Explanations.

def test_explanation_names_shared_driver_drug_imaging_clinical_and_outcome(model):
    why = model.explain("P1", "P2")
    assert why["shared_drivers"] == ["BRCA1 p.E23Vfs*17 (germline)", "TP53 p.R175H"]
    assert why["shared_therapies"] == ["Olaparib (tier IA)"]  # talazoparib is P1's alone
    assert why["imaging_traits"][:2] == [
        "both CT", "both large lesions (voxel volume in the cohort's top 33%)"]
    assert why["imaging_traits"][2].startswith("similar texture (RMS z-difference 0.0")
    assert why["clinical_match"] == ["same cancer type (Breast Cancer)", "same stage (III)",
                                     "both female", "similar age (50 vs 52)"]
    assert (why["neighbour_os_months"], why["neighbour_os_event"],
            why["neighbour_response"]) == (28.0, 0, 1)


def test_same_gene_other_change_and_differing_tiers(features):
    therapies = pd.DataFrame([therapy("P1", "TP53", "p.R175H", "Drug X", "IIC"),
                              therapy("P4", "TP53", "p.R273H", "Drug X", "IA"),
                              therapy("P4", "TP53", "p.R273H", "Drug Y", "IA", "resistance"),
                              therapy("P1", "TP53", "p.R175H", "Drug Y", "IA", "resistance")],
                             columns=THERAPIES_SCHEMA.names)
    model = SimilarPatients().fit(features, modality_map(features.columns),
                                  drivers=drivers_table(), therapies=therapies)
    why = model.explain("P1", "P4")
    assert why["shared_drivers"] == ["TP53 (p.R175H vs p.R273H)"]
    assert why["shared_therapies"] == ["Drug Y resistance (tier IA)", "Drug X (tier IIC vs IA)"]
    assert why["imaging_traits"] == []  # P4 has no image
    assert why["neighbour_os_months"] is None and why["neighbour_response"] is None


def test_without_drivers_table_the_flags_explain(features):
    model = SimilarPatients().fit(features, modality_map(features.columns))
    assert model.explain("P1", "P2")["shared_drivers"] == ["BRCA1 germline pathogenic",
                                                           "TP53 driver"]
    assert model.explain("P1", "P2")["shared_therapies"] == []


def test_table_and_file(model, tmp_path):
    table = similar_patients_table(model, k=2)
    assert list(table.columns) == SIMILAR_PATIENTS_SCHEMA.names
    first = table.iloc[0]
    assert (first["patient"], first["rank"], first["neighbour"]) == ("P1", 1, "P2")
    assert first["shared_drivers"] == "BRCA1 p.E23Vfs*17 (germline); TP53 p.R175H"
    assert first["modalities_used"] == "genomic;radiomics;deep;clinical"
    path = tmp_path / "similar.parquet"
    write_similar_patients(table, path, {"k": "2"})
    back, metadata = read_parquet(path, SIMILAR_PATIENTS_SCHEMA)
    assert metadata["k"] == "2" and "RMS" in metadata["distance"]
    assert back["neighbour_os_event"].tolist() == table["neighbour_os_event"].tolist()


# ---------------------------------------------------------------------------------------------
# Bad input and the command line.

def test_bad_queries_and_tables(model, features):
    with pytest.raises(InputError, match="patient P9 is not in the feature table"):
        model.kneighbors("P9")
    with pytest.raises(InputError, match="k must be >= 1"):
        model.kneighbors("P1", 0)
    with pytest.raises(InputError, match="k must be >= 1"):
        similar_patients_table(model, 0)
    with pytest.raises(InputError, match="patient P9 is not in the feature table"):
        similar_patients_table(model, 2, ["P1", "P9"])
    twice = pd.concat([features, features.iloc[[0]]])
    with pytest.raises(InputError, match="patient P1 has more than one row"):
        SimilarPatients().fit(twice, modality_map(twice.columns))
    stray = pd.DataFrame([therapy("P9", "EGFR", "p.L858R", "Osimertinib", "IA")],
                         columns=THERAPIES_SCHEMA.names)
    with pytest.raises(InputError, match="the therapies table: patient P9 is not in the feature"):
        SimilarPatients().fit(features, modality_map(features.columns), therapies=stray)


def test_cli_round_trip(cohort, features, tmp_path, monkeypatch, capsys):
    features_path = tmp_path / "patient_features.parquet"
    write_patient_features(features, features_path)
    output = tmp_path / "similar.parquet"
    rc = run_cli(monkeypatch, [
        "find-similar-patients", "--features", str(features_path), "--drivers",
        str(cohort["drivers"]), "--therapies", *map(str, cohort["therapies"]), "--k", "2",
        "--output", str(output)])
    assert rc == 0
    assert "12 neighbour rows for 6 patients (k = 2" in capsys.readouterr().out
    table, metadata = read_parquet(output, SIMILAR_PATIENTS_SCHEMA)
    first = table.iloc[0]
    assert (first["patient"], first["neighbour"]) == ("P1", "P2")
    assert "TP53 p.R175H" in first["shared_drivers"]
    assert first["shared_therapies"] == "Olaparib (tier IA)"
    assert metadata["k"] == "2" and metadata["features"] == "patient_features.parquet"

    embedding = tmp_path / "embedding.parquet"
    pd.DataFrame({"patient": features["patient"], "z0": np.arange(6.0), "z1": 0.0}).to_parquet(
        embedding)
    rc = run_cli(monkeypatch, ["find-similar-patients", "--features", str(features_path),
                               "--representation", str(embedding), "--k", "1", "--output",
                               str(output)])
    table, metadata = read_parquet(output, SIMILAR_PATIENTS_SCHEMA)
    assert rc == 0 and metadata["representation"] == "embedding.parquet"
    assert table["neighbour"].tolist() == ["P2", "P1", "P2", "P3", "P4", "P5"]  # ties: id order
    assert set(table["modalities_used"]) == {"representation"}


def test_cli_unknown_patient_names_the_file(cohort, features, tmp_path, monkeypatch, capsys):
    features_path = tmp_path / "patient_features.parquet"
    write_patient_features(features[features["patient"] != "P3"], features_path)
    output = tmp_path / "similar.parquet"
    rc = run_cli(monkeypatch, ["find-similar-patients", "--features", str(features_path),
                               "--therapies", *map(str, cohort["therapies"]), "--output",
                               str(output)])
    assert rc == 2 and not output.exists()
    assert "therapies_P3.parquet: patient P3 is not in the feature table" in \
        capsys.readouterr().err
    embedding = tmp_path / "embedding.parquet"
    pd.DataFrame({"patient": ["P1", "P3"], "z0": [0.0, 1.0]}).to_parquet(embedding)
    rc = run_cli(monkeypatch, ["find-similar-patients", "--features", str(features_path),
                               "--representation", str(embedding), "--output", str(output)])
    assert rc == 2
    assert "embedding.parquet: patient P3 is not in the feature table" in capsys.readouterr().err


def test_ages_over_89_are_not_shown_exactly():
    from oncoweave.fusion.retrieval import _shown_age

    assert [_shown_age(a) for a in (52.0, 89.0, 90.0, 97.0)] == ["52", "89", "90+", "90+"]
