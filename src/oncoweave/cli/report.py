"""`oncoweave` commands of the reports: a patient's HTML report and the per-gene coverage summary
it shows."""

from __future__ import annotations

from pathlib import Path

from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD, DRIVER_GENES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "patient-report", help="one self-contained HTML report for a patient from its tables")
    parser.add_argument("--patient", required=True, help="patient id")
    parser.add_argument("--drivers", required=True, help="drivers Parquet (score_drivers)")
    parser.add_argument("--therapies", required=True, help="therapies Parquet (match_therapies)")
    parser.add_argument("--tmb", required=True, help="TMB Parquet (compute_tmb)")
    parser.add_argument("--icb", required=True, help="immunotherapy predictions Parquet")
    parser.add_argument("--identity", help="identity TSV (check_sample_identity)")
    parser.add_argument("--coverage", help="coverage Parquet (summarize-coverage)")
    parser.add_argument("--lesion", nargs=3, action="append", default=[],
                        metavar=("IMAGE", "MASK", "INGEST_PARQUET"),
                        help="a de-identified lesion working copy (repeatable)")
    parser.add_argument("--radiomics", help="cohort radiomics Parquet")
    parser.add_argument("--no-imaging", action="store_true",
                        help="the cohort has no images (the imaging stage did not run)")
    parser.add_argument("--similar", help="similar-patients Parquet")
    parser.add_argument("--fusion", help="fused predictions Parquet (evaluate_fusion)")
    parser.add_argument("--copy-number", help="copy-number driver calls Parquet (copy-number "
                        "drivers); without it the report says the run has no copy number")
    parser.add_argument("--driver-threshold", type=float, default=DEFAULT_DRIVER_THRESHOLD)
    parser.add_argument("--output", required=True, help="HTML to write")
    parser.set_defaults(func=_cmd_report)

    coverage = subparsers.add_parser(
        "summarize-coverage", help="a patient's mosdepth coverage per driver gene, as Parquet")
    coverage.add_argument("--patient", required=True)
    coverage.add_argument("--sample", nargs=4, action="append", required=True,
                          metavar=("SAMPLE", "TYPE", "REGIONS_BED", "THRESHOLDS_BED"),
                          help="a sample's mosdepth outputs (repeat for the normal)")
    coverage.add_argument("--output", required=True, help="Parquet to write")
    coverage.set_defaults(func=_cmd_coverage)


def _cmd_report(args) -> int:
    from oncoweave.report.patient import render_patient_report
    from oncoweave.report.patient_imaging import Lesion

    render_patient_report(
        args.patient, args.output, drivers=args.drivers, therapies=args.therapies, tmb=args.tmb,
        icb=args.icb, identity=args.identity, coverage=args.coverage,
        lesions=[Lesion(Path(i), Path(m), Path(r)) for i, m, r in args.lesion],
        imaging_run=not args.no_imaging, radiomics=args.radiomics, similar=args.similar,
        fusion=args.fusion, copy_number=args.copy_number,
        driver_threshold=args.driver_threshold)
    return 0


def _cmd_coverage(args) -> int:
    from oncoweave.variants.coverage import summarize_coverage

    summarize_coverage(args.patient, args.output, [tuple(s) for s in args.sample],
                       genes=DRIVER_GENES)
    return 0
