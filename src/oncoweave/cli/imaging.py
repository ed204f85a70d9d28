"""`oncoweave` commands of imaging: ingest, radiomics (and its checks and model), deep features.

The parsers' defaults come from :mod:`oncoweave.imaging.defaults` and
:mod:`oncoweave.imaging.deidentify` (standard library only at import); each command imports what
it runs when it runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from oncoweave.cli.glue import log_to_stderr
from oncoweave.imaging.defaults import (
    DEFAULT_BASELINE_FEATURE,
    DEFAULT_PARAMS,
    IBSI_FEATURE_MAP,
    IBSI_PARAMS,
    IBSI_PHANTOM_DIR,
    IBSI_REFERENCE_CSV,
    MODALITIES,
)
from oncoweave.imaging.deidentify import DEFAULT_SALT


def register(subparsers) -> None:
    _register_ingest(subparsers)
    _register_radiomics(subparsers)
    _register_deep_features(subparsers)
    _register_lesion_classifier(subparsers)
    _register_lesion_segmenter(subparsers)


# ---------------------------------------------------------------------------------------------
# Ingest

def _register_ingest(subparsers) -> None:
    parser = subparsers.add_parser(
        "ingest-image", help="de-identify and check a lesion's image and mask; write NIfTI copies")
    parser.add_argument("--patient", required=True)
    parser.add_argument("--lesion", help="lesion id (default L<label>)")
    parser.add_argument("--image", required=True, help=".nii/.nii.gz/.nrrd or DICOM series folder")
    parser.add_argument("--mask", required=True, help="same forms; DICOM-SEG/RTSTRUCT unsupported")
    parser.add_argument("--modality", required=True, choices=MODALITIES)
    parser.add_argument("--label", type=int, default=1, help="mask value of the lesion (default 1)")
    parser.add_argument("--output-dir", required=True,
                        help="gets image.nii.gz, mask.nii.gz and ingest.parquet")
    parser.add_argument("--salt", default=DEFAULT_SALT,
                        help="salt of the deterministic UID replacement (set a secret one)")
    parser.set_defaults(func=_cmd_ingest_image)


def _cmd_ingest_image(args: argparse.Namespace) -> int:
    from oncoweave.imaging.ingest import ingest_case

    out = Path(args.output_dir)
    record = ingest_case(args.patient, args.lesion or f"L{args.label}", args.image, args.mask,
                         args.modality, args.label, out / "image.nii.gz", out / "mask.nii.gz",
                         args.salt, out_ingest=out / "ingest.parquet")
    print(f"{out}: {record['patient']} {record['lesion']} {record['source_format']} "
          f"{record['modality']}, lesion {record['lesion_voxels']} voxels "
          f"({record['lesion_volume_ml']:.2f} ml)")
    return 0


# ---------------------------------------------------------------------------------------------
# Radiomics

def _register_radiomics(subparsers) -> None:
    one = subparsers.add_parser("radiomics", help="pyradiomics features of one lesion -> Parquet")
    one.add_argument("--image", required=True, help="image file (NIfTI/NRRD)")
    one.add_argument("--mask", required=True, help="mask file on the image's grid")
    one.add_argument("--output", required=True, help="Parquet file to write (one row)")
    _params_argument(one)
    one.add_argument("--label", type=int, default=1, help="mask value of the lesion (default 1)")
    one.add_argument("--patient", help="patient id (default: the image file name)")
    one.add_argument("--lesion", help="lesion id (default L<label>)")
    one.add_argument("--modality", default="CT", help="CT, MR or PT (default %(default)s)")
    one.set_defaults(func=_cmd_radiomics)

    batch = subparsers.add_parser("radiomics-batch",
                                  help="pyradiomics features of a cohort sheet -> Parquet")
    batch.add_argument("--sheet", required=True, help="TSV: patient, image, mask, modality"
                       "[, lesion, label]; relative paths from the working directory")
    batch.add_argument("--output", required=True, help="Parquet file to write")
    _params_argument(batch)
    batch.set_defaults(func=_cmd_radiomics_batch)

    merge = subparsers.add_parser("radiomics-merge",
                                  help="merge per-patient radiomics Parquets (same params only)")
    merge.add_argument("--inputs", nargs="+", required=True, help="radiomics Parquet files")
    merge.add_argument("--output", required=True, help="cohort Parquet to write")
    merge.set_defaults(func=_cmd_radiomics_merge)

    cv = subparsers.add_parser("radiomics-cv", help="cross-validated AUROC of a radiomics model "
                               "vs one feature (default SUVmax)")
    cv.add_argument("--features", required=True, help="radiomics Parquet, one lesion per patient")
    cv.add_argument("--labels", required=True, help="CSV with patient ids and 0/1 outcome")
    cv.add_argument("--id-column", default="patient_id", help="default %(default)s")
    cv.add_argument("--label-column", required=True, help="0/1 outcome column")
    cv.add_argument("--baseline-feature", default=DEFAULT_BASELINE_FEATURE,
                    help="single-feature baseline (default %(default)s)")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--repeats", type=int, default=10)
    cv.add_argument("--k-best", type=int, default=10, help="features kept inside each fold")
    cv.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs")
    cv.add_argument("--seed", type=int, default=0)
    cv.add_argument("--output", help="JSON file for the full result")
    cv.set_defaults(func=_cmd_radiomics_cv)

    bench = subparsers.add_parser("radiomics-benchmark", help="seconds per case: oncoweave's "
                                  "extract_features vs pyradiomics directly, bundled test cases")
    _params_argument(bench)
    bench.add_argument("--repeats", type=int, default=3)
    bench.set_defaults(func=_cmd_radiomics_benchmark)

    ibsi = subparsers.add_parser("ibsi-check", help="pyradiomics on the IBSI digital phantom vs "
                                 "the IBSI reference values")
    ibsi.add_argument("--image", default=str(IBSI_PHANTOM_DIR / "phantom.nii.gz"))
    ibsi.add_argument("--mask", default=str(IBSI_PHANTOM_DIR / "mask.nii.gz"))
    ibsi.add_argument("--params", default=str(IBSI_PARAMS))
    ibsi.add_argument("--reference", default=str(IBSI_REFERENCE_CSV))
    ibsi.add_argument("--feature-map", default=str(IBSI_FEATURE_MAP))
    ibsi.set_defaults(func=_cmd_ibsi_check)


def _params_argument(parser) -> None:
    parser.add_argument("--params", default=str(DEFAULT_PARAMS),
                        help="pyradiomics params YAML (default: the bundled config/radiomics.yaml)")


def _cmd_radiomics(args) -> int:
    from oncoweave.imaging.radiomics import feature_columns, radiomics_table, write_radiomics

    patient = args.patient or Path(args.image).name.split(".")[0]
    case = {"patient": patient, "lesion": args.lesion or f"L{args.label}",
            "modality": args.modality, "image": args.image, "mask": args.mask,
            "label": args.label}
    df = radiomics_table([case], args.params)
    write_radiomics(df, args.output, args.params)
    print(f"{args.output}: {len(feature_columns(df))} features of patient {patient} "
          f"lesion {case['lesion']}")
    return 0


def _cmd_radiomics_batch(args) -> int:
    from oncoweave.imaging.radiomics import (
        feature_columns,
        radiomics_table,
        read_case_sheet,
        write_radiomics,
    )

    cases = read_case_sheet(args.sheet)
    start = time.perf_counter()
    df = radiomics_table(cases, args.params)
    write_radiomics(df, args.output, args.params)
    print(f"{args.output}: {len(df)} lesion(s) x {len(feature_columns(df))} features "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


def _cmd_radiomics_merge(args) -> int:
    from oncoweave.imaging.radiomics import merge_radiomics

    merged = merge_radiomics(args.inputs, args.output)
    print(f"{args.output}: {len(merged)} lesion(s) from {len(args.inputs)} table(s)")
    return 0


def _cmd_radiomics_cv(args) -> int:
    from oncoweave.imaging.radiomics import read_radiomics
    from oncoweave.imaging.radiomics_model import (
        cross_validated_auroc,
        patient_features,
        read_outcome_labels,
    )

    df, _ = read_radiomics(args.features)
    labels = read_outcome_labels(args.labels, args.id_column, args.label_column)
    start = time.perf_counter()
    result = cross_validated_auroc(patient_features(df, args.features), labels,
                                   baseline_feature=args.baseline_feature, folds=args.folds,
                                   repeats=args.repeats, k_best=args.k_best,
                                   n_bootstrap=args.bootstrap, seed=args.seed)
    seconds = time.perf_counter() - start  # printed, not written: the JSON has no timings
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")

    def line(name, summary, key="auroc"):
        low, high = summary[f"{key}_ci95"]
        return f"{name}: AUROC {summary[key]:.3f} (95% CI {low:.3f}-{high:.3f})"

    print(f"{result['n_patients']} patients ({result['n_positive']} positive), "
          f"{result['n_features']} features, {args.repeats}x{args.folds}-fold CV "
          f"({seconds:.1f} s)")
    print(line("radiomics model", result["model"]))
    print(line(f"{args.baseline_feature} (CV)", result["baseline"]))
    print(line(f"{args.baseline_feature} (apparent)", result["baseline"], "apparent_auroc"))
    print(line("model - baseline", result["model_minus_baseline"]))
    return 0


def _cmd_radiomics_benchmark(args) -> int:
    from oncoweave.imaging.radiomics_checks import benchmark_radiomics, bundled_testcases

    result = benchmark_radiomics(bundled_testcases(), args.params, args.repeats)
    print(f"params {result['params']}, median of {args.repeats} run(s)")
    print(f"{'case':10s} {'features':>8s} {'ours_s':>8s} {'direct_s':>8s} {'overhead_s':>10s}")
    for row in result["cases"]:
        print(f"{row['case']:10s} {row['n_features']:8d} {row['ours_s']:8.3f} "
              f"{row['direct_s']:8.3f} {row['overhead_s']:10.3f}")
    print(f"mean per case: ours {result['ours_s_per_case']:.3f} s, "
          f"direct {result['direct_s_per_case']:.3f} s")
    return 0


def _cmd_ibsi_check(args) -> int:
    import pandas as pd

    from oncoweave.imaging.radiomics_checks import ibsi_check

    table = ibsi_check(args.image, args.mask, args.params, args.reference, args.feature_map)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    print(f"{int(table['agrees'].sum())} of {len(table)} mapped IBSI features agree")
    return 0


# ---------------------------------------------------------------------------------------------
# Deep features

def _register_deep_features(subparsers) -> None:
    train = subparsers.add_parser("train-image-encoder",
                                  help="train the self-supervised lesion image encoder (MONAI)")
    train.add_argument("--cases", required=True,
                       help="TSV with patient, lesion, modality, image, mask")
    train.add_argument("--output", required=True, help="model directory to write")
    train.add_argument("--config", help="YAML/JSON of encoder settings (default: built-in)")
    train.add_argument("--device", choices=["cpu", "cuda"],
                       help="default: cuda when available, else cpu")
    train.set_defaults(func=_cmd_train)
    embed = subparsers.add_parser("embed-images", help="deep features of lesions with a trained "
                                  "image encoder")
    embed.add_argument("--cases", required=True,
                       help="TSV with patient, lesion, modality, image, mask")
    embed.add_argument("--model", required=True, help="directory from train-image-encoder")
    embed.add_argument("--output", required=True, help="Parquet to write")
    embed.add_argument("--device", choices=["cpu", "cuda"])
    embed.set_defaults(func=_cmd_embed)
    bench = subparsers.add_parser("deep-features-benchmark",
                                  help="time the image encoder's embedding (and training)")
    bench.add_argument("--cases", required=True)
    bench.add_argument("--model", required=True)
    bench.add_argument("--device", choices=["cpu", "cuda"])
    bench.add_argument("--output", help="JSON to write (default: print)")
    bench.set_defaults(func=_cmd_benchmark)


def _cmd_train(args: argparse.Namespace) -> int:
    from oncoweave.imaging.encoder import train_encoder
    from oncoweave.imaging.encoder_inputs import read_cases, read_settings

    log_to_stderr()
    metadata = train_encoder(read_cases(args.cases), args.output, read_settings(args.config),
                             args.device)
    print(f"{args.output}: trained on {metadata['n_cases']} lesions, "
          f"{len(metadata['loss_curve'])} epochs on {metadata['device']}, final loss "
          f"{metadata['final_loss']:.5f} ({metadata['training_seconds']:.1f} s)")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from oncoweave.imaging.deep_features import embed_cases, write_deep_features
    from oncoweave.imaging.encoder_inputs import read_cases

    table = embed_cases(read_cases(args.cases), args.model, args.device)
    write_deep_features(table, args.output, args.model)
    print(f"{args.output}: {len(table)} lesions x "
          f"{len(table.columns) - 3} deep features")
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from oncoweave.core.io import replaced_on_success
    from oncoweave.imaging.deep_features import benchmark_embedding
    from oncoweave.imaging.encoder_inputs import read_cases

    result = json.dumps(benchmark_embedding(read_cases(args.cases), args.model, args.device),
                        indent=2)
    if args.output:
        with replaced_on_success(args.output) as temporary:
            temporary.write_text(result + "\n")
    else:
        print(result)
    return 0


# ---------------------------------------------------------------------------------------------
# Supervised lesion classifier

def _register_lesion_classifier(subparsers) -> None:
    cv = subparsers.add_parser("lesion-cnn-cv", help="cross-validated AUROC of the supervised "
                               "MONAI lesion CNN vs the radiomics model, same splits (benchmark)")
    cv.add_argument("--sheet", required=True, help="TSV: patient, image, mask, modality (the "
                    "radiomics-batch sheet; one lesion per patient, mask value 1)")
    cv.add_argument("--labels", required=True, help="CSV with patient ids and 0/1 outcome")
    cv.add_argument("--id-column", default="patient_id", help="default %(default)s")
    cv.add_argument("--label-column", required=True, help="0/1 outcome column")
    cv.add_argument("--radiomics", required=True,
                    help="radiomics Parquet of the same lesions (radiomics-batch)")
    cv.add_argument("--config", help="YAML/JSON of classifier settings (default: built-in)")
    cv.add_argument("--folds", type=int, help="default: the settings' (5)")
    cv.add_argument("--repeats", type=int, default=10,
                    help="CV repeats for both models (default %(default)s, as radiomics-cv)")
    cv.add_argument("--seed", type=int, help="default: the settings' (0)")
    cv.add_argument("--k-best", type=int, default=10, help="radiomics features kept per fold")
    cv.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs")
    cv.add_argument("--device", choices=["cpu", "cuda"])
    cv.add_argument("--output", help="JSON file for the full result (no timings)")
    cv.set_defaults(func=_cmd_lesion_cnn_cv)


def _cmd_lesion_cnn_cv(args: argparse.Namespace) -> int:
    import dataclasses

    from oncoweave.core.errors import InputError
    from oncoweave.imaging.lesion_cnn_comparison import compare_with_radiomics
    from oncoweave.imaging.lesion_crops import read_settings
    from oncoweave.imaging.radiomics import read_case_sheet, read_radiomics
    from oncoweave.imaging.radiomics_model import patient_features, read_outcome_labels

    started = time.perf_counter()
    settings = read_settings(args.config)
    overrides = {name: getattr(args, name) for name in ("folds", "repeats", "seed")
                 if getattr(args, name) is not None}
    settings = dataclasses.replace(settings, **overrides)
    settings.validate()
    cases = read_case_sheet(args.sheet)
    for case in cases:
        if case["label"] != 1:
            raise InputError(f"patient {case['patient']}: the classifier reads mask value 1, "
                             f"not {case['label']}", path=args.sheet)
    labels = read_outcome_labels(args.labels, args.id_column, args.label_column)
    df, _ = read_radiomics(args.radiomics)
    result = compare_with_radiomics(cases, labels, patient_features(df, args.radiomics),
                                    settings, args.k_best, args.bootstrap, args.device)
    cnn_seconds = result.pop("cnn_seconds")  # printed, not written: the JSON has no timings
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")

    def line(name, summary):
        low, high = summary["auroc_ci95"]
        return f"{name}: AUROC {summary['auroc']:.3f} (95% CI {low:.3f}-{high:.3f})"

    print(f"{result['n_patients']} patients ({result['n_positive']} positive), "
          f"{settings.repeats}x{settings.folds}-fold CV, the same splits for every model")
    print(line("lesion CNN", result["cnn"]))
    print(line("radiomics model", result["radiomics"]))
    print(line("combined (mean probability)", result["combined"]))
    print(line("CNN - radiomics", result["cnn_minus_radiomics"]))
    print(line("combined - radiomics", result["combined_minus_radiomics"]))
    print(f"{time.perf_counter() - started:.1f} s in all, {cnn_seconds:.1f} s training the "
          f"CNN ({settings.repeats * settings.folds} fits)")
    return 0


# ---------------------------------------------------------------------------------------------
# Lesion segmenter

def _register_lesion_segmenter(subparsers) -> None:
    cv = subparsers.add_parser("lesion-segmentation-cv", help="cross-validated Dice/HD95 of the "
                               "MONAI lesion U-Net; radiomics on its proposed vs the given masks "
                               "(benchmark)")
    cv.add_argument("--sheet", required=True, help="TSV: patient, image, mask, modality (the "
                    "radiomics-batch sheet; mask value 1)")
    cv.add_argument("--params", default=None, help="pyradiomics params YAML for the comparison "
                    "(default: config/radiomics_pet.yaml for an all-PET sheet, else config/radiomics.yaml)")
    cv.add_argument("--config", help="YAML/JSON of segmenter settings (default: built-in)")
    cv.add_argument("--folds", type=int, help="default: the settings' (5)")
    cv.add_argument("--seed", type=int, help="default: the settings' (0)")
    cv.add_argument("--device", choices=["cpu", "cuda"])
    cv.add_argument("--work-dir", required=True, help="folder for the proposed masks (NIfTI)")
    cv.add_argument("--output", help="JSON file for the full result (no timings)")
    cv.set_defaults(func=_cmd_lesion_segmentation_cv)


def _cmd_lesion_segmentation_cv(args: argparse.Namespace) -> int:
    import dataclasses

    from oncoweave.core.errors import InputError
    from oncoweave.imaging.radiomics import read_case_sheet
    from oncoweave.imaging.segmenter import read_settings
    from oncoweave.imaging.segmenter_cv import segmentation_benchmark

    started = time.perf_counter()
    settings = read_settings(args.config)
    overrides = {name: getattr(args, name) for name in ("folds", "seed")
                 if getattr(args, name) is not None}
    settings = dataclasses.replace(settings, **overrides)
    settings.validate()
    cases = read_case_sheet(args.sheet)
    for case in cases:
        if case["label"] != 1:
            raise InputError(f"patient {case['patient']}: the segmenter reads mask value 1, "
                             f"not {case['label']}", path=args.sheet)
    params = args.params or (DEFAULT_PARAMS.with_name("radiomics_pet.yaml")
                             if {case["modality"] for case in cases} == {"PT"} else DEFAULT_PARAMS)
    result = segmentation_benchmark(cases, params, args.work_dir, settings, args.device)
    cv_seconds = result.pop("cv_seconds")  # printed, not written: the JSON has no timings
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['n_lesions']} lesions, {settings.folds}-fold patient-level CV; Dice and "
          "HD95 on the held-out lesions' context crops (centred on the given mask)")
    for fold in result["per_fold"]:
        hd95 = "n/a" if fold["hd95_mm"] is None else f"{fold['hd95_mm']:.1f} mm"
        print(f"fold {fold['fold']}: {fold['n_test']} lesions, Dice {fold['dice']:.3f}, "
              f"HD95 {hd95}, {fold['n_empty']} empty")
    print(f"mean: Dice {result['cv_dice']:.3f}, HD95 {result['cv_hd95_mm']:.1f} mm "
          f"({cv_seconds:.1f} s for {settings.folds} fits)")
    whole = result["whole_image"]
    print(f"whole image, sliding windows, largest component, on the image grid: a lesion found "
          f"in {whole['found']}/{result['n_lesions']}, Dice mean {whole['dice_mean']:.3f}, "
          f"median {whole['dice_median']:.3f}")
    for short, summary in result["radiomics"].items():
        spearman = "n/a" if summary["spearman"] is None else f"{summary['spearman']:.3f}"
        print(f"radiomics {short} ({result['radiomics_features'][short]}), proposed vs given "
              f"mask, {summary['n']} lesions: Spearman {spearman}, median relative difference "
              f"{summary['median_relative_difference']:+.3f}")
    print(f"{time.perf_counter() - started:.1f} s in all")
    return 0
