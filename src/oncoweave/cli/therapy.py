"""`oncoweave` commands of the therapy stage: the evidence table, TMB, therapy matching and the
immunotherapy (ICB) response model."""

from __future__ import annotations

from pathlib import Path

from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD
from oncoweave.therapy.defaults import DEFAULT_MIN_CALLABLE_MB, DEFAULT_MIN_DEPTH
from oncoweave.therapy.icb_candidates import (
    BUNDLED_MODEL_DIR,
    BUNDLED_TRAINING_TABLE,
    CANDIDATES,
    DEFAULT_CANDIDATE,
)


def register(subparsers) -> None:
    _add_build_evidence(subparsers)
    _add_compute_tmb(subparsers)
    _add_match_therapies(subparsers)
    _add_icb_response(subparsers)


# --- evidence --------------------------------------------------------------------------------

def _add_build_evidence(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-evidence", help="therapy evidence Parquet from CIViC and the curated table")
    parser.add_argument("--civic", required=True, help="CIViC ClinicalEvidenceSummaries TSV")
    parser.add_argument("--curated", required=True, help="curated evidence TSV")
    parser.add_argument("--output", required=True, help="Parquet file to write")
    parser.set_defaults(func=_cmd_build_evidence)


def _cmd_build_evidence(args) -> int:
    from oncoweave.core.tables import write_parquet
    from oncoweave.therapy.evidence import EVIDENCE_SCHEMA, build_evidence

    table, skipped = build_evidence(args.civic, args.curated)
    metadata = {"civic": Path(args.civic).name, "curated": Path(args.curated).name,
                "civic_left_out": "; ".join(f"{k}: {v}" for k, v in sorted(skipped.items()))}
    write_parquet(table, args.output, EVIDENCE_SCHEMA, metadata)
    counts = table["source"].value_counts()
    print(f"{args.output}: {len(table)} evidence rows ({counts.get('curated', 0)} curated, "
          f"{counts.get('civic', 0)} CIViC; CIViC left out: {metadata['civic_left_out']})")
    return 0


# --- TMB -------------------------------------------------------------------------------------

def _add_compute_tmb(subparsers) -> None:
    parser = subparsers.add_parser(
        "compute-tmb", help="TMB Parquet of a patient from somatic calls and mosdepth thresholds")
    parser.add_argument("--variants", required=True, help="variants Parquet (the patient's)")
    parser.add_argument("--patient", required=True)
    parser.add_argument("--tumour-thresholds", required=True,
                        help="mosdepth {tumour}.thresholds.bed.gz")
    parser.add_argument("--normal-thresholds", help="mosdepth {normal}.thresholds.bed.gz "
                        "(omit for tumour-only)")
    parser.add_argument("--min-depth", type=int, default=DEFAULT_MIN_DEPTH,
                        help="a depth mosdepth --thresholds counted (default %(default)s)")
    parser.add_argument("--min-callable-mb", type=float, default=DEFAULT_MIN_CALLABLE_MB,
                        help="smallest territory for a reportable estimate (default %(default)s)")
    parser.add_argument("--clinical", help="clinical sheet; its 'tmb' column takes precedence")
    parser.add_argument("--output", required=True, help="Parquet file to write")
    parser.set_defaults(func=_cmd_compute_tmb)


def _cmd_compute_tmb(args) -> int:
    import pandas as pd

    from oncoweave.core.tables import read_parquet, require_columns, write_parquet
    from oncoweave.therapy.tmb import TMB_SCHEMA, VARIANT_COLUMNS, clinical_tmb, compute_tmb

    variants, _ = read_parquet(args.variants)
    require_columns(variants, VARIANT_COLUMNS, args.variants)
    row = compute_tmb(variants, args.tumour_thresholds, args.normal_thresholds,
                      patient=args.patient, min_depth=args.min_depth,
                      min_callable_mb=args.min_callable_mb,
                      clinical_tmb=clinical_tmb(args.clinical, args.patient) if args.clinical
                      else None)
    write_parquet(pd.DataFrame([row]), args.output, TMB_SCHEMA,
                  {"min_depth": str(args.min_depth), "min_callable_mb": str(args.min_callable_mb)})
    value = "n/a" if row["tmb"] is None else f"{row['tmb']:.1f} mut/Mb"
    print(f"{args.output}: {args.patient} TMB {value} ({row['tmb_source']}, "
          f"{'reportable' if row['reportable'] else 'not reportable'})")
    return 0


# --- therapy matching ------------------------------------------------------------------------

def _add_match_therapies(subparsers) -> None:
    parser = subparsers.add_parser(
        "match-therapies", help="therapies Parquet: a patient's calls against the evidence")
    parser.add_argument("--variants", required=True, help="variants (or drivers) Parquet")
    parser.add_argument("--evidence", required=True, help="build-evidence output")
    parser.add_argument("--patient", required=True)
    parser.add_argument("--cancer-type", help="patient's cancer type (clinical sheet)")
    parser.add_argument("--tmb", help="compute-tmb output; used when reportable")
    parser.add_argument("--min-driver-score", type=float, default=DEFAULT_DRIVER_THRESHOLD)
    parser.add_argument("--output", required=True, help="Parquet file to write")
    parser.set_defaults(func=_cmd_match_therapies)


def _cmd_match_therapies(args) -> int:
    from oncoweave.core.tables import read_parquet, require_columns, write_parquet
    from oncoweave.therapy.evidence import EVIDENCE_SCHEMA
    from oncoweave.therapy.matching import (
        THERAPIES_SCHEMA,
        VARIANT_COLUMNS,
        match_therapies,
        reportable_tmb,
    )

    variants, _ = read_parquet(args.variants)
    require_columns(variants, VARIANT_COLUMNS, args.variants)
    evidence, _ = read_parquet(args.evidence, expected_schema=EVIDENCE_SCHEMA)
    tmb = reportable_tmb(args.tmb, args.patient) if args.tmb else None
    # The workflow passes the clinical sheet's cell, empty when the cancer type is unknown.
    cancer_type = (args.cancer_type or "").strip() or None
    table = match_therapies(variants, evidence, patient=args.patient,
                            cancer_type=cancer_type, tmb=tmb,
                            min_driver_score=args.min_driver_score)
    write_parquet(table, args.output, THERAPIES_SCHEMA,
                  {"cancer_type": cancer_type or "", "tmb": "" if tmb is None else str(tmb),
                   "min_driver_score": str(args.min_driver_score)})
    tier_one = int(table["amp_tier"].isin(["IA", "IB"]).sum())
    print(f"{args.output}: {len(table)} therapy matches for {args.patient} ({tier_one} tier I)")
    return 0


# --- ICB response ----------------------------------------------------------------------------

def _add_icb_response(subparsers) -> None:
    parser = subparsers.add_parser("icb-response", help="train / apply the ICB response model")
    commands = parser.add_subparsers(dest="icb_command", required=True, metavar="<action>")
    fit = commands.add_parser("train", help="cross-validate the candidates, fit and save one")
    fit.add_argument("--table", default=str(BUNDLED_TRAINING_TABLE),
                     help="training CSV (default: %(default)s)")
    fit.add_argument("--output-dir", required=True, help="model directory to write")
    fit.add_argument("--model", choices=sorted(CANDIDATES), default=DEFAULT_CANDIDATE,
                     help="candidate to fit and save (default: %(default)s)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--n-bootstrap", type=int, default=200,
                     help="bootstrap refits behind the interval (default: %(default)s)")
    fit.set_defaults(func=_cmd_icb_train)
    apply = commands.add_parser("predict", help="score a table with the training file's columns")
    apply.add_argument("--input", required=True, help="CSV (or .tsv) with patient or SAMPLE_ID")
    apply.add_argument("--output", required=True, help="Parquet to write (ICB_SCHEMA)")
    apply.add_argument("--model-dir", default=str(BUNDLED_MODEL_DIR),
                       help="model directory (default: %(default)s)")
    apply.set_defaults(func=_cmd_icb_predict)
    check = commands.add_parser(
        "validate", help="print CV AUROC of the candidates and what the unseen-cancer-type and "
                         "imputation fallbacks cost (leave one cancer type out, masked predictor)")
    check.add_argument("--table", default=str(BUNDLED_TRAINING_TABLE),
                       help="training CSV (default: %(default)s)")
    check.add_argument("--model", choices=sorted(CANDIDATES), default=DEFAULT_CANDIDATE,
                       help="candidate whose fallbacks are measured (default: %(default)s)")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(func=_cmd_icb_validate)


def _cmd_icb_train(args) -> int:
    from oncoweave.therapy.icb_training import train

    card = train(args.table, args.output_dir, args.model, args.seed, args.n_bootstrap)
    for name, metrics in card["cross_validation"]["candidates"].items():
        print(f"{name}: " + ", ".join(f"{metric} {metrics[metric]['estimate']:.3f} "
                                      f"[{metrics[metric]['ci95'][0]:.3f}-"
                                      f"{metrics[metric]['ci95'][1]:.3f}]"
                                      for metric in ("auroc", "auprc", "brier")))
    print(f"{args.output_dir}: saved {card['shipped_candidate']}")
    return 0


def _cmd_icb_predict(args) -> int:
    from oncoweave.therapy.icb import predict_response, write_predictions
    from oncoweave.therapy.icb_tables import read_table

    predictions = predict_response(read_table(args.input), args.model_dir, path=args.input)
    write_predictions(predictions, args.output, args.model_dir)
    scored = int(predictions["response_probability"].notna().sum())
    print(f"{args.output}: {scored} of {len(predictions)} patients scored")
    return 0


def _interval(metric: dict) -> str:
    return f"{metric['estimate']:.3f} [{metric['ci95'][0]:.3f}, {metric['ci95'][1]:.3f}]"


def _cmd_icb_validate(args) -> int:
    from oncoweave.therapy.icb_candidates import CV_SPLITS, METRIC_BOOTSTRAPS
    from oncoweave.therapy.icb_training import cross_validate_candidates, training_table
    from oncoweave.therapy.icb_validation import pan_cancer_validation

    X, y = training_table(args.table)
    print(f"{Path(args.table).name}: {len(y)} patients, {int(y.sum())} responders, "
          f"{X['CancerType'].nunique()} cancer types; seed {args.seed}; 95 % CIs from "
          f"{METRIC_BOOTSTRAPS} patient bootstrap resamples")
    print(f"Stratified {CV_SPLITS}-fold CV (complete rows: the old model, which imputed nothing "
          "and scored training types only, and the new one give the same probabilities):")
    for name, metrics in cross_validate_candidates(X, y, args.seed).items():
        difference = metrics.get(f"auroc_minus_{DEFAULT_CANDIDATE}")
        print(f"  {name}: AUROC {_interval(metrics['auroc'])}, AUPRC "
              f"{_interval(metrics['auprc'])}, Brier {_interval(metrics['brier'])}"
              + (f"; AUROC minus {DEFAULT_CANDIDATE} {_interval(difference)}"
                 if difference else ""))
    checks = pan_cancer_validation(X, y, args.model, args.seed)
    held_out = checks["leave_one_cancer_type_out"]
    print(f"Leave one cancer type out ({args.model}; each type scored through the 'other' "
          "level by a model fitted on the other types; the old model scored none of them):")
    print(f"  pooled: AUROC {_interval(held_out['auroc'])}, AUPRC {_interval(held_out['auprc'])},"
          f" Brier {_interval(held_out['brier'])}; mean predicted "
          f"{held_out['calibration']['mean_predicted']:.3f} vs observed "
          f"{held_out['calibration']['observed_rate']:.3f}, calibration slope "
          f"{held_out['calibration']['slope']:.2f}")
    for cancer_type, row in held_out["per_type"].items():
        auroc = "n/a (one class)" if row["auroc"] is None else f"{row['auroc']:.3f}"
        print(f"  {cancer_type}: {row['patients']} patients, {row['responders']} responders, "
              f"AUROC {auroc}, mean predicted {row['mean_predicted']:.3f}")
    print(f"Imputed predictor ({args.model}; {CV_SPLITS}-fold CV, the feature masked for every "
          "test patient and filled from the training fold; the old model scored none of them):")
    for name, row in checks["imputed_predictor"]["masked"].items():
        difference = row.get("auroc_minus_none")
        print(f"  masked {name}: AUROC {_interval(row['auroc'])}"
              + (f"; minus unmasked {_interval(difference)}" if difference else ""))
    return 0
