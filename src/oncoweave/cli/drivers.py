"""`oncoweave` commands of driver scoring: the training set, training the scorer, and scoring
variants, a patient's variants table or every SNV of the four genes."""

from __future__ import annotations

from oncoweave.drivers.defaults import DRIVERS_RESOURCE_DIR, SEED, SHIPPED_MODEL_DIR


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-driver-training-set",
        help="labelled, annotated TP53/BRCA1/BRCA2/EGFR variants for the driver scorer")
    parser.add_argument("--drivers-dir", default=str(DRIVERS_RESOURCE_DIR),
                        help="label/hotspot/domain resources [resources/drivers]")
    parser.add_argument("--output", required=True, help="Parquet to write")
    parser.set_defaults(func=_cmd_build)

    train = subparsers.add_parser("train-driver-model",
                                  help="fit, evaluate and write the driver scorer + model card")
    train.add_argument("--training", required=True, help="build-driver-training-set Parquet")
    train.add_argument("--output-dir", required=True, help="folder for model and card")
    train.add_argument("--seed", type=int, default=SEED)
    train.add_argument("--tp53-functional",
                       help="IARC R21 TP53 functional CSV (Kato 2003) for the card's "
                            "independent validation; not used for training [skipped if absent]")
    train.set_defaults(func=_cmd_train)

    msa = subparsers.add_parser(
        "build-msa-features",
        help="offline: per-residue conservation and substitution log-odds from homolog "
             "alignments (TP53, BRCA1, BRCA2) -> resources/drivers/msa_features.tsv")
    msa.add_argument("--msa-dir", required=True,
                     help="folder of the alignments (shared data protein_msas_3genes)")
    msa.add_argument("--output", required=True, help="TSV to write")
    msa.set_defaults(func=_cmd_build_msa)

    bench = subparsers.add_parser(
        "benchmark-driver-functional",
        help="Spearman of TP53 missense driver scores with yeast transactivation (IARC R21, "
             "Kato 2003), residues held out of training, with and without the MSA features")
    bench.add_argument("--tp53-functional", required=True, help="tp53_FunctionIshioka_r21.csv")
    bench.add_argument("--training", help="build-driver-training-set Parquet [rebuilt]")
    bench.add_argument("--folds", type=int, default=5, help="residue folds [5]")
    bench.add_argument("--seed", type=int, default=SEED)
    bench.set_defaults(func=_cmd_benchmark_functional)
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


def _cmd_build(args) -> int:
    from oncoweave.core.tables import write_parquet
    from oncoweave.drivers.labels import TRAINING_SCHEMA, build_training_set

    table = build_training_set(args.drivers_dir)
    counts = table.groupby(["gene", "label"]).size().to_dict()
    write_parquet(table, args.output, TRAINING_SCHEMA,
                  {"label_counts": str({f"{g}:{l}": n for (g, l), n in counts.items()})})
    return 0


def _cmd_train(args) -> int:
    from oncoweave.core.tables import read_parquet
    from oncoweave.drivers.labels import TRAINING_SCHEMA
    from oncoweave.drivers.training import train_driver_model

    training, _ = read_parquet(args.training, TRAINING_SCHEMA)
    train_driver_model(training, args.output_dir, args.seed,
                       tp53_functional=args.tp53_functional)
    return 0


def _cmd_build_msa(args) -> int:
    from oncoweave.drivers.features import DriverKnowledge
    from oncoweave.drivers.msa import build_msa_table, write_msa_table
    from oncoweave.genome.sequence import translate

    knowledge = DriverKnowledge.load()
    wild_types = {gene: translate(s.cds_sequence) for gene, s in knowledge.genes.items()}
    rows, summaries = build_msa_table(args.msa_dir, wild_types)
    write_msa_table(rows, args.output)
    for gene, summary in summaries.items():
        print(f"{gene}: {summary['sequences']} sequences, Neff {summary['neff']} (80 % "
              f"identity), residues {summary['first']}-{summary['last']} "
              f"({summary['residues']} covered); alignment human row differs from the "
              f"canonical protein at: {', '.join(summary['wild_type_mismatches']) or 'none'}")
    return 0


def _cmd_benchmark_functional(args) -> int:
    import json

    from oncoweave.core.tables import read_parquet
    from oncoweave.drivers.features import DriverKnowledge
    from oncoweave.drivers.functional import functional_validation
    from oncoweave.drivers.labels import TRAINING_SCHEMA, build_training_set

    knowledge = DriverKnowledge.load()
    training = read_parquet(args.training, TRAINING_SCHEMA)[0] if args.training \
        else build_training_set(knowledge=knowledge)
    result = functional_validation(args.tp53_functional, training, knowledge, args.seed,
                                   args.folds)
    print(json.dumps(result, indent=2))
    return 0


def _load_model(directory: str):
    import xgboost as xgb

    from oncoweave.core.errors import InputError
    from oncoweave.drivers.model import DriverModel

    try:
        return DriverModel.load(directory)
    except (OSError, KeyError, ValueError, xgb.core.XGBoostError) as err:
        raise InputError(f"cannot load the driver model ({err})", path=directory) from None


def _cmd_score_variants(args) -> int:
    from oncoweave.core.tables import write_parquet
    from oncoweave.drivers.features import DriverKnowledge
    from oncoweave.drivers.scoring import read_variant_input, score_variants, score_variants_schema

    table, kind = read_variant_input(args.input)
    scored = score_variants(table, kind, _load_model(args.model_dir), DriverKnowledge.load())
    write_parquet(scored, args.output, score_variants_schema(scored),
                  {"model_dir": args.model_dir, "input": args.input})
    return 0


def _cmd_score_drivers(args) -> int:
    from oncoweave.core.tables import read_parquet, write_parquet
    from oncoweave.drivers.schema import DRIVERS_SCHEMA
    from oncoweave.drivers.scoring import score_drivers
    from oncoweave.variants.schema import VARIANTS_SCHEMA

    variants, metadata = read_parquet(args.variants, VARIANTS_SCHEMA)
    drivers = score_drivers(variants, _load_model(args.model_dir))
    write_parquet(drivers, args.output, DRIVERS_SCHEMA, {**metadata, "model_dir": args.model_dir})
    return 0


def _cmd_score_saturation(args) -> int:
    from oncoweave.core.tables import write_parquet
    from oncoweave.drivers.features import DriverKnowledge
    from oncoweave.drivers.plots import lollipop_plots
    from oncoweave.drivers.schema import SATURATION_SCHEMA
    from oncoweave.drivers.scoring import score_saturation

    knowledge = DriverKnowledge.load()
    saturation = score_saturation(_load_model(args.model_dir), knowledge)
    write_parquet(saturation, args.output, SATURATION_SCHEMA, {"model_dir": args.model_dir})
    if args.plots:
        lollipop_plots(saturation, knowledge, args.plots)
    return 0


_COMMANDS = {"score-variants": _cmd_score_variants, "score-drivers": _cmd_score_drivers,
             "score-saturation": _cmd_score_saturation}
