"""Validation of the driver scorer beyond ClinVar: TP53 missense scores against yeast
transactivation (IARC/NCI TP53 Database R21 functional assessment, Kato et al., PNAS 2003;
Bouaoun et al., Hum Mutat 2016).

The table is used for VALIDATION only, never for training, and is read from where the user keeps
it (the project ships no copy). Its residues are split into folds; for each fold a model is
trained on the training set without any row at those residues, and scores that fold's variants,
so no evaluated residue was seen in training. The readout is the median of the eight yeast
promoter activities (% of wild type; lower = loss of function). The figure is the Spearman rank
correlation of the driver score with loss of function (minus the median activity): positive =
the model ranks damaging variants higher. 95 % CIs by bootstrap over residues (variants at one
residue are not independent), paired between the feature sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from oncoweave.drivers.defaults import SEED
from oncoweave.drivers.features import (
    FEATURES,
    MSA_FEATURES,
    DriverKnowledge,
    annotate_protein_change,
    feature_table,
)
from oncoweave.drivers.model import DriverModel

YEAST_PROMOTERS = ("WAF1nWT", "MDM2nWT", "BAXnWT", "h1433snWT", "AIP1nWT", "GADD45nWT",
                   "NOXAnWT", "P53R2nWT")
FUNCTIONAL_BOOTSTRAP_ROUNDS = 1000
FEATURE_SETS = {"with_msa": tuple(FEATURES),
                "without_msa": tuple(f for f in FEATURES if f not in MSA_FEATURES)}


def read_tp53_functional(path: str | Path, knowledge: DriverKnowledge) -> pd.DataFrame:
    """Annotated TP53 missense variants with `activity` (median yeast promoter activity)."""
    table = pd.read_csv(path)
    missing = [c for c in ("AAchange", *YEAST_PROMOTERS) if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: not the IARC R21 functional table (missing columns "
                         f"{', '.join(missing)})")
    rows = []
    for change, activity in zip(table["AAchange"].str.strip(),
                                table[list(YEAST_PROMOTERS)].median(axis=1)):
        annotation = annotate_protein_change("TP53", f"p.{change}", knowledge)
        if annotation["consequence"] == "missense" and not np.isnan(activity):
            rows.append({**annotation, "activity": float(activity)})
    return pd.DataFrame(rows)


def _residue_folds(positions: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    residues = np.unique(positions)
    np.random.default_rng(seed).shuffle(residues)
    return [np.isin(positions, part) for part in np.array_split(residues, folds)]


def held_out_scores(variants: pd.DataFrame, training: pd.DataFrame,
                    knowledge: DriverKnowledge, seed: int = SEED, folds: int = 5,
                    feature_sets: dict[str, tuple[str, ...]] = FEATURE_SETS
                    ) -> dict[str, np.ndarray]:
    """Per feature set, each variant's score from a model trained without its residue."""
    positions = variants["protein_position"].to_numpy(dtype=int)
    variant_features = feature_table(variants, knowledge)
    training_features = feature_table(training, knowledge)
    tp53 = (training["gene"] == "TP53").to_numpy()
    training_positions = training["protein_position"].astype("Float64").fillna(-1) \
        .to_numpy(dtype=float)
    scores = {name: np.full(len(variants), np.nan) for name in feature_sets}
    for held in _residue_folds(positions, folds, seed):
        keep = ~(tp53 & np.isin(training_positions, np.unique(positions[held])))
        for name, names in feature_sets.items():
            model = DriverModel(seed, names).fit(
                training_features[keep], training["label"][keep],
                training["residue_group"][keep])
            scores[name][held] = model.predict_proba(variant_features[held])
    return scores


def _spearman(scores: np.ndarray, loss: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(scores, loss).statistic)


def spearman_with_ci(scores: dict[str, np.ndarray], activity: np.ndarray,
                     positions: np.ndarray, seed: int = SEED) -> dict:
    """Spearman with loss of function per feature set and the paired difference of the first
    two, with residue-bootstrap 95 % CIs."""
    loss = -np.asarray(activity, dtype=float)
    names = list(scores)
    by_residue = [np.flatnonzero(positions == p) for p in np.unique(positions)]
    rng = np.random.default_rng(seed)
    boot = {name: [] for name in names}
    for _ in range(FUNCTIONAL_BOOTSTRAP_ROUNDS):
        pick = np.concatenate([by_residue[i] for i in
                               rng.integers(0, len(by_residue), len(by_residue))])
        for name in names:
            boot[name].append(_spearman(scores[name][pick], loss[pick]))
    result: dict = {"n_variants": len(loss), "n_residues": len(by_residue)}
    for name in names:
        low, high = np.percentile(boot[name], [2.5, 97.5])
        result[name] = {"spearman": round(_spearman(scores[name], loss), 4),
                        "ci95": [round(float(low), 4), round(float(high), 4)]}
    if len(names) >= 2:
        first, second = names[:2]
        difference = np.subtract(boot[first], boot[second])
        low, high = np.percentile(difference, [2.5, 97.5])
        result[f"{first}_minus_{second}"] = {
            "spearman": round(result[first]["spearman"] - result[second]["spearman"], 4),
            "ci95": [round(float(low), 4), round(float(high), 4)]}
    return result


def functional_validation(path: str | Path, training: pd.DataFrame,
                          knowledge: DriverKnowledge, seed: int = SEED, folds: int = 5) -> dict:
    """Spearman of held-out TP53 missense scores with loss of transactivation, with and without
    the MSA features, on all variants and on those the alignment covers."""
    variants = read_tp53_functional(path, knowledge)
    scores = held_out_scores(variants, training, knowledge, seed, folds)
    positions = variants["protein_position"].to_numpy(dtype=int)
    covered = np.array([("TP53", p) in knowledge.msa for p in positions])
    activity = variants["activity"].to_numpy()
    return {
        "data": "IARC/NCI TP53 Database R21 functional assessment (Kato et al. 2003; Bouaoun "
                "et al. 2016): TP53 missense variants, readout = median of the eight yeast "
                "promoter activities (% of wild type)",
        "figure": "Spearman of driver_score with loss of function (-median activity); "
                  "positive = agreement",
        "held_out": f"{folds} folds of residues; each fold scored by a model trained without "
                    "any TP53 training row at its residues",
        "bootstrap": f"{FUNCTIONAL_BOOTSTRAP_ROUNDS} residue resamples, seed {seed}",
        "all_missense": spearman_with_ci(scores, activity, positions, seed),
        "msa_covered_missense": spearman_with_ci({k: v[covered] for k, v in scores.items()},
                                                 activity[covered], positions[covered], seed),
    }
