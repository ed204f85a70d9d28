"""Training the driver scorer: fit on the whole training set, evaluate it honestly, and write
the model folder with its model card (JSON + Markdown: data, label counts, features, versions,
seed, metrics) and the reliability plot."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from oncoweave import __version__
from oncoweave.drivers.defaults import SEED
from oncoweave.drivers.evaluation import (
    BOOTSTRAP_ROUNDS,
    QUICK_CHECK,
    evaluate,
    quick_check_metrics,
)
from oncoweave.drivers.features import (
    FEATURES,
    MSA_FEATURES,
    RECURRENCE_FEATURES,
    DriverKnowledge,
    feature_table,
)
from oncoweave.drivers.labels import CLINVAR_SOURCES
from oncoweave.drivers.model import CALIBRATION_FILE, CV_FOLDS, MODEL_FILE, DriverModel
from oncoweave.drivers.plots import reliability_plot

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
RELIABILITY_PNG = "reliability.png"


def _versions() -> dict:
    import sklearn
    import xgboost as xgb

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
                       with_evaluation: bool = True,
                       tp53_functional: str | Path | None = None) -> DriverModel:
    """Fit on the whole training set, evaluate honestly, write model + card + reliability PNG.

    `tp53_functional`: the IARC R21 functional table, for the card's independent validation
    (drivers.functional; never trained on); without it the card says it was not computed."""
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
        metrics["tp53_functional"] = _functional(tp53_functional, training, knowledge, seed)
    card = _model_card(training, model, metrics)
    (output_dir / CARD_JSON).write_text(json.dumps(card, indent=2) + "\n")
    (output_dir / CARD_MARKDOWN).write_text(_card_markdown(card))
    return model


def _functional(path, training: pd.DataFrame, knowledge: DriverKnowledge, seed: int) -> dict:
    from oncoweave.drivers.functional import functional_validation

    if path is None or not Path(path).exists():
        return {"not_computed": "no IARC R21 functional table given (train-driver-model "
                                "--tp53-functional)"}
    return functional_validation(path, training, knowledge, seed)


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
    "msa_features": "msa_conservation, msa_log_odds and msa_depth come from "
                    "resources/drivers/msa_features.tsv, built offline by `oncoweave "
                    "build-msa-features` (drivers.msa) from homolog alignments: TP53 the EVE "
                    "jackhmmer alignment (3,668 sequences, Neff 449; Frazer et al. 2021, MIT), "
                    "BRCA1/BRCA2 the Align-GVGD vertebrate ortholog alignments (12 and 9 "
                    "sequences, Neff 8 and 7; Tavtigian et al. 2006, MIT). Frequencies are "
                    "weighted 1/(neighbours at >= 80 % identity), with one pseudo-sequence of "
                    "Robinson-Robinson background; EGFR and uncovered residues are NaN. The "
                    "shallow BRCA alignments make their conservation noisy outside the "
                    "conserved domains.",
    "functional_validation": "tp53_functional: TP53 missense scores against yeast "
                             "transactivation (IARC/NCI TP53 Database R21, Kato et al., PNAS "
                             "2003; Bouaoun et al., Hum Mutat 2016), validation only (never "
                             "trained on): residue folds, each scored by a model trained "
                             "without those residues; with and without the MSA features.",
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
        "data": {"training_rows": len(training), "label_counts": label_counts(training),
                 "sources": "resources/drivers/SOURCE.md"},
        "features": {name: FEATURES[name] for name in model.feature_names},
        "recurrence_features": list(RECURRENCE_FEATURES),
        "msa_features": list(MSA_FEATURES),
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
                  ("| evaluation | gene | subset | n | pos | AUROC [95% CI] | AUPRC [95% CI] "
                   "| Brier |"), "|---|---|---|---|---|---|---|---|"]
        for evaluation in ("grouped_cv", "grouped_cv_without_recurrence",
                           "grouped_cv_without_msa"):
            for gene, subsets in metrics[evaluation].items():
                for subset, m in subsets.items():
                    lines.append(_metric_row(evaluation, gene, subset, m))
        for gene, m in metrics["leave_one_gene_out"].items():
            lines.append(_metric_row("leave_one_gene_out", gene, "all", m))
        lines += ["", f"Hotspot-label circularity: {metrics['hotspot_label_circularity']}", ""]
        lines += _functional_markdown(metrics.get("tp53_functional", {}))
        lines += ["", f"![reliability]({RELIABILITY_PNG})"]
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


def _functional_markdown(functional: dict) -> list[str]:
    lines = ["## TP53 functional validation (independent of the labels)", ""]
    if "all_missense" not in functional:
        return lines + [f"Not computed: {functional.get('not_computed', 'no evaluation')}"]
    lines += [f"{functional['data']}. {functional['figure']}. Held out: "
              f"{functional['held_out']}. CIs: {functional['bootstrap']}.", "",
              "| variants | n | residues | with MSA [95% CI] | without MSA [95% CI] "
              "| difference [95% CI] |", "|---|---|---|---|---|---|"]
    for subset in ("all_missense", "msa_covered_missense"):
        m = functional[subset]
        cells = [f"{m[k]['spearman']:.3f} [{m[k]['ci95'][0]:.3f}-{m[k]['ci95'][1]:.3f}]"
                 for k in ("with_msa", "without_msa", "with_msa_minus_without_msa")]
        lines.append(f"| {subset} | {m['n_variants']} | {m['n_residues']} | "
                     + " | ".join(cells) + " |")
    return lines
