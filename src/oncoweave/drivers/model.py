"""The driver scorer: an xgboost model with Platt calibration, its honest evaluation, and the
scoring entry points (variants table, TSV/VCF of changes, in-silico saturation).

``DriverModel`` follows scikit-learn (fit/predict_proba, learned state ending in '_') and saves
as a MONAI-bundle-like folder: the xgboost JSON, the calibration and a model card (JSON +
Markdown) with data, label counts, features, versions, seed and metrics.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sklearn
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from oncoweave import __version__
from oncoweave.core.errors import InputError
from oncoweave.core.io import open_vcf
from oncoweave.core.paths import REPO_ROOT
from oncoweave.core.tables import read_parquet, schema_field, write_parquet
from oncoweave.drivers.features import (
    ANNOTATION_COLUMNS,
    DRIVER_GENES,
    FEATURES,
    RECURRENCE_FEATURES,
    DriverKnowledge,
    annotate_genomic,
    annotate_protein_change,
    describe,
    feature_table,
)
from oncoweave.drivers.labels import CLINVAR_SOURCES, TRAINING_SCHEMA
from oncoweave.variants.schema import VARIANTS_SCHEMA

MODEL_FILE = "driver_model.json"
CALIBRATION_FILE = "calibration.json"
CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
RELIABILITY_PNG = "reliability.png"
SEED = 20240611
XGB_PARAMS = {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.8,
              "colsample_bytree": 0.8, "min_child_weight": 2, "tree_method": "hist",
              "n_jobs": 2}
CV_FOLDS = 5
BOOTSTRAP_ROUNDS = 500


class DriverModel:
    """Gradient-boosted trees on FEATURES; scores are Platt-calibrated out-of-fold margins."""

    def __init__(self, seed: int = SEED, feature_names: tuple[str, ...] = tuple(FEATURES),
                 params: dict | None = None):
        self.seed = seed
        self.feature_names = tuple(feature_names)
        self.params = {**XGB_PARAMS, **(params or {})}

    def _classifier(self) -> xgb.XGBClassifier:
        return xgb.XGBClassifier(**self.params, random_state=self.seed, eval_metric="logloss")

    def _matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        return features.loc[:, list(self.feature_names)]

    def fit(self, features: pd.DataFrame, labels, groups) -> "DriverModel":
        """Fit the trees on all rows; fit the calibration on grouped out-of-fold margins, so
        the calibration never sees a margin from trees that trained on the same residue."""
        X, y = self._matrix(features), np.asarray(labels, dtype=int)
        margins = np.zeros(len(y))
        for train, test in _folds(y, groups, self.seed, n_splits=3):
            booster = self._classifier().fit(X.iloc[train], y[train]).get_booster()
            margins[test] = booster.predict(xgb.DMatrix(X.iloc[test]), output_margin=True)
        platt = LogisticRegression(C=1e6).fit(margins.reshape(-1, 1), y)
        self.calibration_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        self.booster_ = self._classifier().fit(X, y).get_booster()
        return self

    def predict(self, features: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        """1 where the calibrated score reaches `threshold` (a driver call), else 0."""
        return (self.predict_proba(features) >= threshold).astype(int)

    def margin(self, features: pd.DataFrame) -> np.ndarray:
        return self.booster_.predict(xgb.DMatrix(self._matrix(features)), output_margin=True)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a damaging driver, in [0, 1]."""
        slope, intercept = self.calibration_
        return 1 / (1 + np.exp(-(slope * self.margin(features) + intercept)))

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per-feature SHAP values (xgboost pred_contribs) in calibrated log-odds units."""
        raw = self.booster_.predict(xgb.DMatrix(self._matrix(features)), pred_contribs=True)
        return pd.DataFrame(raw[:, :-1] * self.calibration_[0], index=features.index,
                            columns=list(self.feature_names))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(directory / MODEL_FILE)
        (directory / CALIBRATION_FILE).write_text(json.dumps(
            {"platt_slope": self.calibration_[0], "platt_intercept": self.calibration_[1],
             "features": list(self.feature_names), "seed": self.seed, "params": self.params},
            indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "DriverModel":
        directory = Path(directory)
        settings = json.loads((directory / CALIBRATION_FILE).read_text())
        model = cls(settings["seed"], tuple(settings["features"]), settings["params"])
        model.calibration_ = (settings["platt_slope"], settings["platt_intercept"])
        model.booster_ = xgb.Booster()
        model.booster_.load_model(directory / MODEL_FILE)
        return model


def _folds(y: np.ndarray, groups, seed: int, n_splits: int = CV_FOLDS):
    """Stratified folds that keep every residue group in one fold."""
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return splitter.split(np.zeros(len(y)), y, np.asarray(groups))


# ---------------------------------------------------------------------------------------------
# Evaluation.

def cross_validated_scores(features: pd.DataFrame, training: pd.DataFrame, seed: int = SEED,
                           feature_names: tuple[str, ...] = tuple(FEATURES)) -> np.ndarray:
    """Out-of-fold driver scores, folds grouped by residue (no residue in train and test)."""
    y = training["label"].to_numpy(dtype=int)
    scores = np.zeros(len(y))
    for train, test in _folds(y, training["residue_group"], seed):
        model = DriverModel(seed, feature_names).fit(
            features.iloc[train], y[train], training["residue_group"].iloc[train])
        scores[test] = model.predict_proba(features.iloc[test])
    return scores


def ranking_metrics(labels, scores, seed: int = SEED) -> dict:
    """AUROC and AUPRC (at the rows' natural prevalence) with bootstrap 95% CIs, and Brier."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    result = {"n": int(len(labels)), "positives": int(labels.sum()),
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


def reliability_plot(labels, scores, path: str | Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay
    figure, axis = plt.subplots(figsize=(5, 5))
    CalibrationDisplay.from_predictions(labels, scores, n_bins=10, strategy="quantile", ax=axis,
                                        name="driver_score (grouped CV)")
    axis.set_title("Driver score reliability, ClinVar-labelled rows")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def evaluate(features: pd.DataFrame, training: pd.DataFrame, seed: int = SEED) -> dict:
    """Grouped CV (full and without recurrence features), leave-one-gene-out, circularity."""
    scores = cross_validated_scores(features, training, seed)
    without = tuple(name for name in FEATURES if name not in RECURRENCE_FEATURES)
    ablated = cross_validated_scores(features, training, seed, without)
    return {"grouped_cv": per_gene_metrics(training, scores, seed),
            "grouped_cv_without_recurrence": per_gene_metrics(training, ablated, seed),
            "leave_one_gene_out": leave_one_gene_out(features, training, seed),
            "hotspot_label_circularity": hotspot_circularity(training, scores, ablated),
            "_oof_scores": scores}


# A small, quick configuration re-run by the tests: the card stores what it measured, so a test
# can recompute it from the shipped training table and fail when the pipeline degrades.
QUICK_CHECK = {"params": {"n_estimators": 60}, "folds": 3}


def quick_check_metrics(features: pd.DataFrame, training: pd.DataFrame,
                        seed: int = SEED) -> dict:
    """AUROC per gene (ClinVar rows) of a 3-fold residue-grouped CV with 60-tree models."""
    y = training["label"].to_numpy(dtype=int)
    scores = np.zeros(len(y))
    for train, test in _folds(y, training["residue_group"], seed, QUICK_CHECK["folds"]):
        model = DriverModel(seed, params=QUICK_CHECK["params"]).fit(
            features.iloc[train], y[train], training["residue_group"].iloc[train])
        scores[test] = model.predict_proba(features.iloc[test])
    clinvar = training["label_source"].isin(CLINVAR_SOURCES).to_numpy()
    return {gene: round(float(roc_auc_score(y[rows], scores[rows])), 4)
            for gene in sorted(training["gene"].unique())
            for rows in [clinvar & (training["gene"] == gene).to_numpy()]}


# ---------------------------------------------------------------------------------------------
# Training and the model card.

def _versions() -> dict:
    return {"oncoweave": __version__, "xgboost": xgb.__version__,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


def label_counts(training: pd.DataFrame) -> dict:
    counts = training.groupby(["gene", "label_source", "label"]).size()
    result: dict = {}
    for (gene, source, label), n in counts.items():
        result.setdefault(gene, {}).setdefault(source, {})[
            "pathogenic" if label else "benign"] = int(n)
    return result


def train_driver_model(training: pd.DataFrame, output_dir: str | Path, seed: int = SEED,
                       knowledge: DriverKnowledge | None = None,
                       with_evaluation: bool = True) -> DriverModel:
    """Fit on the whole training set, evaluate honestly, write model + card + reliability PNG."""
    output_dir = Path(output_dir)
    knowledge = knowledge or DriverKnowledge.load()
    features = feature_table(training, knowledge)
    model = DriverModel(seed).fit(features, training["label"], training["residue_group"])
    model.save(output_dir)
    metrics = {}
    if with_evaluation:
        metrics = evaluate(features, training, seed)
        oof = metrics.pop("_oof_scores")
        clinvar = training["label_source"].isin(CLINVAR_SOURCES).to_numpy()
        reliability_plot(training["label"][clinvar], oof[clinvar], output_dir / RELIABILITY_PNG)
        metrics["quick_check_auroc"] = quick_check_metrics(features, training, seed)
    card = _model_card(training, model, metrics)
    (output_dir / CARD_JSON).write_text(json.dumps(card, indent=2) + "\n")
    (output_dir / CARD_MARKDOWN).write_text(_card_markdown(card))
    return model


_DESIGN_NOTES = {
    "patient_context": "VAF, somatic/germline status and purity are not model features: no "
                       "label set carries them. The model scores the variant itself; "
                       "score_drivers reports cancer_cell_fraction and clonality beside it.",
    "leakage": "Recurrence features (hotspot_*_count, indel_hotspot_count) restate "
               "cancerhotspots v2 and are circular against the cancerhotspots_v2 labels (and "
               "partly against CIViC, whose variants are mostly hotspots). Metrics are "
               "therefore computed on ClinVar-labelled rows only, the ablation without "
               "recurrence features is reported, and hotspot_label_circularity shows the gap "
               "on hotspot-derived positives. ClinVar expert panels may themselves use "
               "hotspot evidence (ACMG PM1), a residual leak no ablation removes.",
    "easy_classes": "TP53 labels include synonymous (all benign) and nonsense (all "
                    "pathogenic) rows and EGFR many intronic benign rows, so 'all' metrics "
                    "are dominated by consequence class; 'missense' metrics are the hard "
                    "part.",
    "calibration": "Platt scaling fitted on residue-grouped out-of-fold margins; "
                   "contributions are SHAP values (pred_contribs) times the Platt slope, "
                   "i.e. calibrated log-odds.",
}


def _model_card(training: pd.DataFrame, model: DriverModel, metrics: dict) -> dict:
    return {
        "name": "oncoweave driver scorer (TP53, BRCA1, BRCA2, EGFR)",
        "model_files": [MODEL_FILE, CALIBRATION_FILE],
        "seed": model.seed,
        "params": model.params,
        "versions": _versions(),
        "data": {"training_rows": int(len(training)), "label_counts": label_counts(training),
                 "sources": "resources/drivers/SOURCE.md"},
        "features": {name: FEATURES[name] for name in model.feature_names},
        "recurrence_features": list(RECURRENCE_FEATURES),
        "evaluation": {"grouped_cv": f"{CV_FOLDS}-fold StratifiedGroupKFold by gene:residue",
                       "bootstrap_rounds": BOOTSTRAP_ROUNDS,
                       "quick_check": QUICK_CHECK},
        "design_notes": _DESIGN_NOTES,
        "metrics": metrics,
    }


def _card_markdown(card: dict) -> str:
    lines = [f"# {card['name']}", "", f"Seed {card['seed']}; versions: " +
             ", ".join(f"{k} {v}" for k, v in card["versions"].items()), "",
             "## Labels (rows per gene and source)", ""]
    for gene, sources in card["data"]["label_counts"].items():
        for source, counts in sources.items():
            lines.append(f"- {gene} {source}: " + ", ".join(f"{k} {v}" for k, v in
                                                            counts.items()))
    lines += ["", "## Features", ""] + [f"- `{k}`: {v}" for k, v in card["features"].items()]
    metrics = card["metrics"]
    if metrics:
        lines += ["", "## Metrics (ClinVar-labelled rows, out of fold)", "",
                  "| evaluation | gene | subset | n | pos | AUROC [95% CI] | AUPRC [95% CI] "
                  "| Brier |", "|---|---|---|---|---|---|---|---|"]
        for evaluation in ("grouped_cv", "grouped_cv_without_recurrence"):
            for gene, subsets in metrics[evaluation].items():
                for subset, m in subsets.items():
                    lines.append(_metric_row(evaluation, gene, subset, m))
        for gene, m in metrics["leave_one_gene_out"].items():
            lines.append(_metric_row("leave_one_gene_out", gene, "all", m))
        lines += ["", f"Hotspot-label circularity: {metrics['hotspot_label_circularity']}", "",
                  f"![reliability]({RELIABILITY_PNG})"]
    lines += ["", "## Design notes", ""] + [f"- **{k}**: {v}" for k, v in
                                             card["design_notes"].items()]
    return "\n".join(lines) + "\n"


def _metric_row(evaluation: str, gene: str, subset: str, m: dict) -> str:
    def value(name):
        if name not in m:
            return "n/a"
        low, high = m[f"{name}_ci95"]
        return f"{m[name]:.3f} [{low:.3f}-{high:.3f}]"
    return (f"| {evaluation} | {gene} | {subset} | {m['n']} | {m['positives']} | "
            f"{value('auroc')} | {value('auprc')} | {m['brier']:.3f} |")


# ---------------------------------------------------------------------------------------------
# Scoring.

SHIPPED_MODEL_DIR = REPO_ROOT / "resources" / "models" / "driver"
TOP_CONTRIBUTIONS = 3
CLONAL_CCF = 0.8  # cancer cell fraction from which a somatic variant is called clonal


def score_annotations(annotations: pd.DataFrame, model: DriverModel,
                      knowledge: DriverKnowledge) -> pd.DataFrame:
    """driver_score, top_features (JSON list) and driver_reasons (text) per annotation row."""
    if annotations.empty:
        return pd.DataFrame({"driver_score": [], "top_features": [], "driver_reasons": []},
                            index=annotations.index)
    features = feature_table(annotations, knowledge)
    contributions = model.contributions(features)
    tops, reasons = [], []
    for (index, row), annotation in zip(contributions.iterrows(),
                                        annotations.to_dict("records")):
        top = _top_reasons(row, features.loc[index], annotation, knowledge)
        tops.append(json.dumps(top))
        reasons.append("; ".join(f"{t['reason']} ({'+' if t['contribution'] >= 0 else '-'})"
                                 for t in top))
    return pd.DataFrame({"driver_score": model.predict_proba(features), "top_features": tops,
                         "driver_reasons": reasons}, index=annotations.index)


def _top_reasons(contributions: pd.Series, values: pd.Series, annotation: dict,
                 knowledge: DriverKnowledge) -> list[dict]:
    """The largest contributions, features that read the same in words merged into one entry
    (e.g. the substitution properties of a frameshift are all 'not a single amino-acid
    substitution'), so a report never says one thing twice."""
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


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


SCORE_FIELDS = [
    schema_field("gene", pa.string(), "Gene scored (TP53, BRCA1, BRCA2, EGFR)", True),
    schema_field("consequence", pa.string(), "Consequence on the canonical transcript", True),
    schema_field("hgvs_p", pa.string(), "One-letter HGVS p. (normalised)", True),
    schema_field("driver_score", pa.float64(), "Calibrated probability of a damaging driver", True),
    schema_field("top_features", pa.string(), "JSON list of the top contributions: feature, value, "
           "contribution (calibrated log-odds, SHAP), reason", True),
    schema_field("driver_reasons", pa.string(), "The top contributions in words, (+) raising and "
           "(-) lowering the score", True),
]
DRIVERS_SCHEMA = pa.schema(list(VARIANTS_SCHEMA) + SCORE_FIELDS[3:] + [
    schema_field("cancer_cell_fraction", pa.float64(), "min(1, 2 * t_vaf / purity) for somatic and "
           "tumour-only variants (heterozygous, diploid assumption); null otherwise", True),
    schema_field("clonality", pa.string(), "clonal (CCF >= 0.8), subclonal, germline, germline_loh "
           "or unknown (no purity)", True),
])
SATURATION_SCHEMA = pa.schema([
    schema_field("gene", pa.string(), "Gene"),
    schema_field("chrom", pa.string(), "GRCh38 chromosome"),
    schema_field("pos", pa.int64(), "GRCh38 position"),
    schema_field("ref", pa.string(), "Reference base"),
    schema_field("alt", pa.string(), "Alternate base"),
    schema_field("consequence", pa.string(), "Consequence on the canonical transcript"),
    schema_field("hgvs_p", pa.string(), "One-letter HGVS p.", True),
    schema_field("protein_position", pa.int64(), "Residue", True),
    schema_field("driver_score", pa.float64(), "Calibrated driver probability"),
    schema_field("driver_reasons", pa.string(), "Top contributions in words"),
])


def _scored(annotations: list[dict | None], model: DriverModel,
            knowledge: DriverKnowledge) -> pd.DataFrame:
    """Annotation + score columns for rows that annotated; all-null rows elsewhere."""
    frame = pd.DataFrame([a or {} for a in annotations], columns=ANNOTATION_COLUMNS)
    ok = np.array([a is not None for a in annotations], dtype=bool)
    scores = score_annotations(frame[ok], model, knowledge)
    return pd.concat([frame, scores.reindex(frame.index)], axis=1)


def _annotate_or_reason(annotate, *args) -> tuple[dict | None, str | None]:
    try:
        return annotate(*args), None
    except ValueError as err:
        return None, str(err)


def read_variant_input(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The rows of a TSV (gene + hgvs_p, or chrom + pos + ref + alt) or a VCF, and which kind."""
    path = Path(path)
    if not path.exists():
        raise InputError("input not found", path=path)
    if path.name.endswith((".vcf", ".vcf.gz", ".bcf")):
        with open_vcf(path) as vcf:
            rows = [{"chrom": r.chrom, "pos": str(r.pos), "ref": r.ref, "alt": alt}
                    for r in vcf for alt in (r.alts or ())]
        return pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"]), "genomic"
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    if {"gene", "hgvs_p"} <= set(table.columns):
        return table, "protein"
    if {"chrom", "pos", "ref", "alt"} <= set(table.columns):
        return table, "genomic"
    raise InputError("needs columns gene + hgvs_p, or chrom + pos + ref + alt; found "
                     f"{', '.join(table.columns)}", path=path)


def score_variants(table: pd.DataFrame, kind: str, model: DriverModel,
                   knowledge: DriverKnowledge) -> pd.DataFrame:
    """The input rows in order with gene, consequence, hgvs_p, driver_score, top_features,
    driver_reasons and a per-row `reason` where the row could not be scored."""
    results = []
    for row in table.to_dict("records"):
        if kind == "protein":
            results.append(_annotate_or_reason(annotate_protein_change, row["gene"].strip(),
                                               row["hgvs_p"].strip(), knowledge))
        elif not str(row["pos"]).strip().isdigit():
            results.append((None, f"position {row['pos']!r} is not a positive integer"))
        else:
            results.append(_annotate_or_reason(annotate_genomic, row["chrom"].strip(),
                                               int(row["pos"]), row["ref"].strip(),
                                               row["alt"].strip(), knowledge))
    scored = _scored([a for a, _ in results], model, knowledge)
    output = table.drop(columns=[f.name for f in SCORE_FIELDS if f.name in table.columns])
    for field in SCORE_FIELDS:
        values = scored[field.name].astype(object)
        if field.name in table.columns:  # keep what the user wrote where nothing was derived
            values = values.where(values.notna(), table[field.name])
        output[field.name] = values.to_numpy()
    output["reason"] = [reason for _, reason in results]
    return output


def score_variants_schema(table: pd.DataFrame) -> pa.Schema:
    inputs = [schema_field(name, pa.string(), "input column") for name in table.columns
              if name not in {f.name for f in SCORE_FIELDS} | {"reason"}]
    return pa.schema(inputs + SCORE_FIELDS + [
        schema_field("reason", pa.string(), "why the row was not scored; null when scored", True)])


def clonality(status: str, t_vaf: float, purity: float | None) -> tuple[float | None, str]:
    """(cancer cell fraction, clonality) of one variant; heterozygous diploid assumption."""
    if status == "germline":
        return None, "germline"
    if status == "loh":
        return None, "germline_loh"
    if purity is None or pd.isna(purity) or purity <= 0:
        return None, "unknown"
    fraction = min(1.0, 2 * float(t_vaf) / float(purity))
    return fraction, "clonal" if fraction >= CLONAL_CCF else "subclonal"


def score_drivers(variants: pd.DataFrame, model: DriverModel,
                  knowledge: DriverKnowledge | None = None) -> pd.DataFrame:
    """The variants table plus driver_score, top_features, driver_reasons (rows of the four
    genes; null elsewhere or where the alleles cannot be annotated), CCF and clonality."""
    knowledge = knowledge or DriverKnowledge.load()
    annotations = [
        _annotate_or_reason(annotate_genomic, row["chrom"], int(row["pos"]), row["ref"],
                            row["alt"], knowledge)[0] if row["gene"] in DRIVER_GENES else None
        for row in variants.to_dict("records")]
    scored = _scored(annotations, model, knowledge)
    output = variants.reset_index(drop=True).copy()
    for name in ("driver_score", "top_features", "driver_reasons"):
        output[name] = scored[name].to_numpy()
    context = [clonality(s, v, p) for s, v, p in zip(output["status"], output["t_vaf"],
                                                     output["purity"])]
    output["cancer_cell_fraction"] = [c for c, _ in context]
    output["clonality"] = [label for _, label in context]
    return output[DRIVERS_SCHEMA.names]


def saturation_positions(structure) -> list[int]:
    """Contig positions of the CDS and of the +-1..2 intronic bases at every exon junction."""
    transcript = structure.transcript
    step = 1 if transcript.strand == "+" else -1
    positions = set(structure.cds_index)
    for upstream, downstream in zip(structure.exons, structure.exons[1:]):
        exon_last = upstream[1] if step == 1 else upstream[0]
        exon_first = downstream[0] if step == 1 else downstream[1]
        positions |= {exon_last + step, exon_last + 2 * step, exon_first - step,
                      exon_first - 2 * step}
    return sorted(positions)


def score_saturation(model: DriverModel, knowledge: DriverKnowledge,
                     genes: tuple[str, ...] = DRIVER_GENES) -> pd.DataFrame:
    """Every SNV of the canonical CDS and +-2 splice sites of `genes`, annotated and scored."""
    rows, annotations = [], []
    for gene in genes:
        structure = knowledge.genes[gene]
        contig = structure.transcript.contig
        for position in saturation_positions(structure):
            chrom, genomic = knowledge.contig_map.to_genomic(contig, position)
            ref = knowledge.fasta.fetch(contig, position - 1, position).upper()
            for alt in "ACGT".replace(ref, ""):
                rows.append({"gene": gene, "chrom": chrom, "pos": genomic, "ref": ref,
                             "alt": alt})
                annotations.append(annotate_genomic(chrom, genomic, ref, alt, knowledge))
    frame = pd.DataFrame(annotations)
    scores = score_annotations(frame, model, knowledge)
    table = pd.DataFrame(rows)
    for name in ("consequence", "hgvs_p", "protein_position"):
        table[name] = frame[name].to_numpy()
    table["protein_position"] = table["protein_position"].astype("Int64")
    table["driver_score"] = scores["driver_score"].to_numpy()
    table["driver_reasons"] = scores["driver_reasons"].to_numpy()
    return table


def lollipop_plots(saturation: pd.DataFrame, knowledge: DriverKnowledge,
                   directory: str | Path) -> list[Path]:
    """Per gene: the highest missense / truncating score at each residue, with the domains."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for gene, rows in saturation.groupby("gene"):
        figure, axis = plt.subplots(figsize=(12, 3.5))
        for consequence, colour in (("missense", "tab:blue"), ("stop_gained", "tab:red")):
            best = rows[rows["consequence"] == consequence].groupby(
                "protein_position")["driver_score"].max()
            axis.vlines(best.index.astype(int), 0, best.to_numpy(), colour, linewidth=0.4,
                        alpha=0.6)
            axis.scatter(best.index.astype(int), best.to_numpy(), s=3, color=colour,
                         label=f"{consequence} (max per residue)")
        for domain in knowledge.domains.get(gene, []):
            axis.add_patch(plt.Rectangle((domain.start, -0.12), domain.end - domain.start, 0.08,
                                         color="tab:green", alpha=0.6))
            axis.text((domain.start + domain.end) / 2, -0.2, domain.name, ha="center",
                      fontsize=6)
        axis.set_xlim(0, knowledge.genes[gene].protein_length + 1)
        axis.set_ylim(-0.25, 1.05)
        axis.set_xlabel(f"{gene} residue")
        axis.set_ylabel("driver_score")
        axis.set_title(f"{gene}: in-silico saturation (every SNV of the canonical CDS)")
        axis.legend(loc="upper right", fontsize=7)
        figure.tight_layout()
        path = directory / f"{gene}_saturation_lollipop.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# Command line.

def register(subparsers) -> None:
    train = subparsers.add_parser("train-driver-model",
                                  help="fit, evaluate and write the driver scorer + model card")
    train.add_argument("--training", required=True, help="build-driver-training-set Parquet")
    train.add_argument("--output-dir", required=True, help="folder for model and card")
    train.add_argument("--seed", type=int, default=SEED)
    train.set_defaults(func=_cmd_train)
    for name, helptext in (("score-variants", "score a TSV (gene + hgvs_p, or chrom/pos/ref/alt) "
                                              "or a VCF of TP53/BRCA1/BRCA2/EGFR changes"),
                           ("score-drivers", "add driver scores and clonality to the variants "
                                             "table"),
                           ("score-saturation", "score every SNV of the four canonical CDS")):
        parser = subparsers.add_parser(name, help=helptext)
        if name == "score-variants":
            parser.add_argument("--input", required=True, help="TSV or VCF")
        if name == "score-drivers":
            parser.add_argument("--variants", required=True, help="variants.parquet")
        if name == "score-saturation":
            parser.add_argument("--plots", help="folder for per-gene lollipop PNGs")
        parser.add_argument("--output", required=True, help="Parquet to write")
        parser.add_argument("--model-dir", default=str(SHIPPED_MODEL_DIR),
                            help="trained model folder [resources/models/driver]")
        parser.set_defaults(func=_COMMANDS[name])


def _load_model(directory: str) -> DriverModel:
    try:
        return DriverModel.load(directory)
    except (OSError, KeyError, ValueError, xgb.core.XGBoostError) as err:
        raise InputError(f"cannot load the driver model ({err})", path=directory) from None


def _cmd_train(args) -> int:
    training, _ = read_parquet(args.training, TRAINING_SCHEMA)
    train_driver_model(training, args.output_dir, args.seed)
    return 0


def _cmd_score_variants(args) -> int:
    table, kind = read_variant_input(args.input)
    scored = score_variants(table, kind, _load_model(args.model_dir), DriverKnowledge.load())
    write_parquet(scored, args.output, score_variants_schema(scored),
                  {"model_dir": args.model_dir, "input": args.input})
    return 0


def _cmd_score_drivers(args) -> int:
    variants, metadata = read_parquet(args.variants, VARIANTS_SCHEMA)
    drivers = score_drivers(variants, _load_model(args.model_dir))
    write_parquet(drivers, args.output, DRIVERS_SCHEMA, {**metadata, "model_dir": args.model_dir})
    return 0


def _cmd_score_saturation(args) -> int:
    knowledge = DriverKnowledge.load()
    saturation = score_saturation(_load_model(args.model_dir), knowledge)
    write_parquet(saturation, args.output, SATURATION_SCHEMA, {"model_dir": args.model_dir})
    if args.plots:
        lollipop_plots(saturation, knowledge, args.plots)
    return 0


_COMMANDS = {"score-variants": _cmd_score_variants, "score-drivers": _cmd_score_drivers,
             "score-saturation": _cmd_score_saturation}
