"""`oncoweave` commands of fusion and retrieval: build-patient-features, find-similar-patients,
fusion.

Each command imports its stage modules when it runs, so `oncoweave --help` does not load them.
"""

from __future__ import annotations

import argparse
import time as clock
from pathlib import Path

from oncoweave.cli.glue import log_to_stderr
from oncoweave.core.errors import InputError
from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD
from oncoweave.fusion.defaults import BOOTSTRAP_RESAMPLES, LESION_AGGREGATIONS


def register(subparsers) -> None:
    _register_build(subparsers)
    _register_find(subparsers)
    _register_fusion(subparsers)


# ---------------------------------------------------------------------------------------------
# build-patient-features

def _register_build(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-patient-features",
        help="one row per patient: genomic, radiomic, deep and clinical features + outcomes")
    parser.add_argument("--samples", required=True, help="sample sheet (patient order, normals)")
    parser.add_argument("--drivers", help="cohort drivers Parquet (score-drivers, merged)")
    parser.add_argument("--tmb", nargs="+", help="per-patient TMB Parquets (compute-tmb)")
    parser.add_argument("--radiomics", help="cohort radiomics Parquet")
    parser.add_argument("--deep", help="cohort deep features Parquet")
    parser.add_argument("--cnn", help="lesion classifier out-of-fold predictions Parquet "
                        "(rule train_lesion_classifier): img_cnn_prob")
    parser.add_argument("--clinical", help="clinical sheet (TSV)")
    parser.add_argument("--driver-threshold", type=float, default=DEFAULT_DRIVER_THRESHOLD,
                        help="driver_score from which a call is a driver (default %(default)s)")
    parser.add_argument("--lesion-aggregation", choices=LESION_AGGREGATIONS, default="largest",
                        help="several lesions: the largest by voxel volume, or their mean")
    parser.add_argument("--output", required=True, help="Parquet to write")
    parser.set_defaults(func=_cmd_build)


def _cmd_build(args) -> int:
    from oncoweave.fusion.feature_table import modality_map, write_patient_features
    from oncoweave.fusion.patient_features import build_patient_features

    table = build_patient_features(args.samples, drivers=args.drivers, tmb_tables=args.tmb,
                                   radiomics=args.radiomics, deep=args.deep, cnn=args.cnn,
                                   clinical=args.clinical, driver_threshold=args.driver_threshold,
                                   lesion_aggregation=args.lesion_aggregation)
    write_patient_features(table, args.output, _input_provenance(args))
    groups = modality_map(table.columns)
    print(f"{args.output}: {len(table)} patients; " + ", ".join(
        f"{modality} {len(columns)} columns" for modality, columns in groups.items()))
    return 0


def _input_provenance(args) -> dict[str, str]:
    """Settings and inputs, plus the radiomics params / encoder hashes of the image tables."""
    from oncoweave.core.tables import read_parquet

    provenance = {"driver_threshold": str(args.driver_threshold),
                  "lesion_aggregation": args.lesion_aggregation}
    for name in ("samples", "drivers", "radiomics", "deep", "cnn", "clinical"):
        provenance[f"input_{name}"] = Path(getattr(args, name)).name if getattr(args, name) else ""
    provenance["input_tmb_files"] = str(len(args.tmb or []))
    for name, key in (("radiomics", "radiomics_params_sha256"), ("deep", "deep_model_sha256")):
        if getattr(args, name):
            value = read_parquet(getattr(args, name))[1].get(key)
            if value:
                provenance[key] = value
    return provenance


# ---------------------------------------------------------------------------------------------
# find-similar-patients

def _register_find(subparsers) -> None:
    parser = subparsers.add_parser(
        "find-similar-patients",
        help="each patient's k most similar patients and what they share")
    parser.add_argument("--features", required=True, help="build-patient-features Parquet")
    parser.add_argument("--representation", help="Parquet: patient + embedding columns (e.g. "
                        "a fusion model's); default: the standardised feature table")
    parser.add_argument("--drivers", help="cohort drivers Parquet (shared protein changes)")
    parser.add_argument("--therapies", nargs="+", help="per-patient therapies Parquets")
    parser.add_argument("--k", type=int, default=3, help="neighbours per patient [3]")
    parser.add_argument("--driver-threshold", type=float, default=DEFAULT_DRIVER_THRESHOLD)
    parser.add_argument("--output", required=True, help="Parquet to write")
    parser.set_defaults(func=_cmd_find)


def _cmd_find(args) -> int:
    from oncoweave.fusion.retrieval import find_similar_patients

    table = find_similar_patients(
        args.features, args.output, representation_path=args.representation,
        drivers_path=args.drivers, therapy_paths=args.therapies, k=args.k,
        driver_threshold=args.driver_threshold)
    print(f"{args.output}: {len(table)} neighbour rows for {table['patient'].nunique()} "
          f"patients (k = {args.k})")
    return 0


# ---------------------------------------------------------------------------------------------
# fusion

def _register_fusion(subparsers) -> None:
    parser = subparsers.add_parser(
        "fusion", help="cross-validated early-fusion survival (or response) models, ablation",
        description="Early-fusion xgboost survival (or response) model over modality column "
                    "groups: per-fold C-index, td-AUC, IBS and an ablation of the modalities. "
                    "Every column except id, outcome and --drop is a feature; non-numeric ones "
                    "are one-hot encoded. Missing values stay missing (xgboost handles them).")
    parser.add_argument("--table", required=True, help="CSV, CSV.gz or Parquet, one row per "
                        "patient (or per slide with --one-row-per-id first)")
    parser.add_argument("--id", required=True, dest="id_column", help="patient id column")
    parser.add_argument("--time", help="follow-up time column (survival)")
    outcome = parser.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--event", help="event column: 1 = event observed, 0 = censored")
    outcome.add_argument("--censorship", help="censorship column: 1 = censored (MCAT tables)")
    outcome.add_argument("--response", help="binary response column (1/0) instead of survival")
    parser.add_argument("--splits", help="folder of splits_<k>.csv (columns train, val of ids); "
                        "default: stratified folds")
    parser.add_argument("--n-folds", type=int, default=5, help="folds without --splits "
                        "(default %(default)s)")
    parser.add_argument("--modality", action="append", default=[], metavar="NAME=AFFIX",
                        help="columns starting or ending with AFFIX form modality NAME (repeat); "
                        "the rest form 'clinical'. Default: gen_, rad_, deep_, clin_")
    parser.add_argument("--drop", action="extend", nargs="+", default=[], metavar="COL",
                        help="columns that are not features (ids per row, flags)")
    parser.add_argument("--one-row-per-id", choices=["first"],
                        help="collapse repeated ids (their values must agree)")
    parser.add_argument("--model", choices=["auto", "xgb", "cox", "net"], default="auto",
                        help="candidates the inner CV chooses from, or net: the torch fusion "
                        "network (default %(default)s)")
    parser.add_argument("--inner-folds", type=int, default=3,
                        help="inner CV folds on each training fold (default %(default)s)")
    parser.add_argument("--early-fusion-only", action="store_true",
                        help="no single-modality candidates or blend in the inner CV")
    parser.add_argument("--no-ablation", action="store_true",
                        help="only the all-modality model")
    parser.add_argument("--bootstrap", type=int, default=BOOTSTRAP_RESAMPLES,
                        help="bootstrap resamples for CIs (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="output folder")
    parser.set_defaults(func=_cmd_fusion)


def _cmd_fusion(args: argparse.Namespace) -> int:
    from oncoweave.core.io import file_sha256
    from oncoweave.fusion.cross_validation import (
        ablation,
        ablation_configs,
        format_report,
        write_outputs,
    )
    from oncoweave.fusion.folds import split_folds
    from oncoweave.fusion.input_table import prepare_table, read_table
    from oncoweave.fusion.modalities import ALL, parse_affixes
    from oncoweave.fusion.candidates import default_candidates, default_model_factory

    log_to_stderr()
    started = clock.perf_counter()
    if args.response is None and args.time is None:
        raise InputError("survival needs --time (or give --response)")
    if args.response is not None and args.model in ("cox", "net"):
        raise InputError(f"--model {args.model} is a survival model here; use xgb or auto with "
                         "--response")
    path = Path(args.table)
    prepared = prepare_table(read_table(path), path, args.id_column, time=args.time,
                             event=args.event, censorship=args.censorship,
                             response=args.response, drop=args.drop,
                             affixes=parse_affixes(args.modality) or None,
                             one_row_per_id=args.one_row_per_id)
    table, modality_map = prepared.table, prepared.modality_map
    task = "response" if args.response else "survival"
    label = table["response" if args.response else "event"].astype(int)
    folds = split_folds(table.index, args.splits, args.n_folds, args.seed, label)
    factory = default_model_factory(task, args.seed, args.model, args.inner_folds,
                                    not args.early_fusion_only)
    configs = (ablation_configs(list(modality_map)) if not args.no_ablation
               else {ALL: tuple(modality_map)})
    result = ablation(table, modality_map, folds, factory,
                      **({"response": "response"} if args.response else
                         {"time": "time", "event": "event"}),
                      configs=configs, n_bootstrap=args.bootstrap, seed=args.seed)
    settings = {**{k: v for k, v in vars(args).items() if k != "func"},
                "task": task, "n_patients": len(table),
                "n_events" if task == "survival" else "n_responders": int(label.sum()),
                "patients_without_outcome": prepared.dropped_rows,
                "modalities": {name: len(columns) for name, columns in modality_map.items()},
                "one_hot_encoded": prepared.encoded,
                "folds": [{"index": f.index, "n_train": len(f.train), "n_val": len(f.val),
                           "source": f.source} for f in folds],
                "table_sha256": file_sha256(path),
                "candidates": (["FusionNetSurvival"] if args.model == "net" else
                               list(default_candidates(modality_map, task, args.seed,
                                                       args.model, not args.early_fusion_only)))}
    write_outputs(result, args.output, settings, {"table": path.name, "seed": str(args.seed)})
    print(format_report(result, args.output))
    print(f"({clock.perf_counter() - started:.1f} s)")
    return 0
