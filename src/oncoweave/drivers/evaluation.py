"""The driver scorer's honest evaluation: residue-grouped cross-validation per gene (with and
without the recurrence features), leave-one-gene-out, the hotspot-label circularity, and the
quick check the tests re-run against the model card."""

from __future__ import annotations

import numpy as np
import pandas as pd

from oncoweave.drivers.defaults import SEED
from oncoweave.drivers.features import FEATURES, MSA_FEATURES, RECURRENCE_FEATURES
from oncoweave.drivers.labels import CLINVAR_SOURCES
from oncoweave.drivers.model import DriverModel, residue_folds

BOOTSTRAP_ROUNDS = 500


def cross_validated_scores(features: pd.DataFrame, training: pd.DataFrame, seed: int = SEED,
                           feature_names: tuple[str, ...] = tuple(FEATURES)) -> np.ndarray:
    """Out-of-fold driver scores, folds grouped by residue (no residue in train and test)."""
    y = training["label"].to_numpy(dtype=int)
    scores = np.zeros(len(y))
    for train, test in residue_folds(y, training["residue_group"], seed):
        model = DriverModel(seed, feature_names).fit(
            features.iloc[train], y[train], training["residue_group"].iloc[train])
        scores[test] = model.predict_proba(features.iloc[test])
    return scores


def ranking_metrics(labels, scores, seed: int = SEED) -> dict:
    """AUROC and AUPRC (at the rows' natural prevalence) with bootstrap 95% CIs, and Brier."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    result = {"n": len(labels), "positives": int(labels.sum()),
              "prevalence": round(float(labels.mean()), 4),
              "brier": round(float(brier_score_loss(labels, scores)), 4)}
    if labels.min() == labels.max():
        return result
    rng = np.random.default_rng(seed)
    boot = {"auroc": [], "auprc": []}
    for _ in range(BOOTSTRAP_ROUNDS):
        pick = rng.integers(0, len(labels), len(labels))
        if labels[pick].min() != labels[pick].max():
            boot["auroc"].append(roc_auc_score(labels[pick], scores[pick]))
            boot["auprc"].append(average_precision_score(labels[pick], scores[pick]))
    for name, metric in (("auroc", roc_auc_score), ("auprc", average_precision_score)):
        result[name] = round(float(metric(labels, scores)), 4)
        low, high = np.percentile(boot[name], [2.5, 97.5])
        result[f"{name}_ci95"] = [round(float(low), 4), round(float(high), 4)]
    return result


def per_gene_metrics(training: pd.DataFrame, scores: np.ndarray, seed: int = SEED) -> dict:
    """Metrics per gene on ClinVar-labelled rows (all consequences, and missense only)."""
    clinvar = training["label_source"].isin(CLINVAR_SOURCES).to_numpy()
    metrics = {}
    for gene in sorted(training["gene"].unique()):
        rows = clinvar & (training["gene"] == gene).to_numpy()
        missense = rows & (training["consequence"] == "missense").to_numpy()
        metrics[gene] = {"all": ranking_metrics(training["label"][rows], scores[rows], seed),
                         "missense": ranking_metrics(training["label"][missense],
                                                     scores[missense], seed)}
    metrics["all_genes"] = {"all": ranking_metrics(training["label"][clinvar], scores[clinvar],
                                                   seed)}
    return metrics


def leave_one_gene_out(features: pd.DataFrame, training: pd.DataFrame,
                       seed: int = SEED) -> dict:
    """Train on three genes, score the ClinVar rows of the fourth."""
    results = {}
    for gene in sorted(training["gene"].unique()):
        held_out = (training["gene"] == gene).to_numpy()
        model = DriverModel(seed).fit(features[~held_out], training["label"][~held_out],
                                      training["residue_group"][~held_out])
        rows = held_out & training["label_source"].isin(CLINVAR_SOURCES).to_numpy()
        results[gene] = ranking_metrics(training["label"][rows],
                                        model.predict_proba(features[rows]), seed)
    return results


def hotspot_circularity(training: pd.DataFrame, scores: np.ndarray,
                        ablated_scores: np.ndarray) -> dict:
    """AUROC of hotspot-derived positives against ClinVar benign rows of the same genes, with
    and without the recurrence features: the gap is what the circular features contribute."""
    from sklearn.metrics import roc_auc_score

    hotspot = (training["label_source"] == "cancerhotspots_v2").to_numpy()
    genes = training["gene"][hotspot].unique()
    benign = (training["label_source"].isin(CLINVAR_SOURCES) & (training["label"] == 0)
              & training["gene"].isin(genes)).to_numpy()
    rows = hotspot | benign
    labels = training["label"][rows]
    return {"rows": int(rows.sum()),
            "auroc_with_recurrence": round(float(roc_auc_score(labels, scores[rows])), 4),
            "auroc_without_recurrence": round(float(roc_auc_score(labels,
                                                                  ablated_scores[rows])), 4)}


def evaluate(features: pd.DataFrame, training: pd.DataFrame, seed: int = SEED) -> dict:
    """Grouped CV (full, without recurrence features, without MSA features),
    leave-one-gene-out, circularity."""
    scores = cross_validated_scores(features, training, seed)
    without = tuple(name for name in FEATURES if name not in RECURRENCE_FEATURES)
    ablated = cross_validated_scores(features, training, seed, without)
    without_msa = tuple(name for name in FEATURES if name not in MSA_FEATURES)
    msa_ablated = cross_validated_scores(features, training, seed, without_msa)
    return {"grouped_cv": per_gene_metrics(training, scores, seed),
            "grouped_cv_without_recurrence": per_gene_metrics(training, ablated, seed),
            "grouped_cv_without_msa": per_gene_metrics(training, msa_ablated, seed),
            "leave_one_gene_out": leave_one_gene_out(features, training, seed),
            "hotspot_label_circularity": hotspot_circularity(training, scores, ablated),
            "_oof_scores": scores}


# A small, quick configuration re-run by the tests: the card stores what it measured, so a test
# can recompute it from the shipped training table and fail when the pipeline degrades.
QUICK_CHECK = {"params": {"n_estimators": 60}, "folds": 3}


def quick_check_metrics(features: pd.DataFrame, training: pd.DataFrame,
                        seed: int = SEED) -> dict:
    """AUROC per gene (ClinVar rows) of a 3-fold residue-grouped CV with 60-tree models."""
    from sklearn.metrics import roc_auc_score

    y = training["label"].to_numpy(dtype=int)
    scores = np.zeros(len(y))
    for train, test in residue_folds(y, training["residue_group"], seed, QUICK_CHECK["folds"]):
        model = DriverModel(seed, params=QUICK_CHECK["params"]).fit(
            features.iloc[train], y[train], training["residue_group"].iloc[train])
        scores[test] = model.predict_proba(features.iloc[test])
    clinvar = training["label_source"].isin(CLINVAR_SOURCES).to_numpy()
    return {gene: round(float(roc_auc_score(y[rows], scores[rows])), 4)
            for gene in sorted(training["gene"].unique())
            for rows in [clinvar & (training["gene"] == gene).to_numpy()]}
