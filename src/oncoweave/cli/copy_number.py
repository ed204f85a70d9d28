"""`oncoweave copy-number ...`: the per-gene copy-number table from a published cohort's table
(cBioPortal/GISTIC data_cna.txt, a .seg file, or a wide table of <GENE>_cnv columns), its per-gene
cohort summary (the cohort report's page), the copy-number driver calls, and their therapy
evidence."""

from __future__ import annotations

from pathlib import Path

from oncoweave.drivers.defaults import DEFAULT_DRIVER_THRESHOLD

MAX_GENES_LISTED = 10  # more genes are summed in the import summary


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "copy-number", help="copy number per patient and gene: import, driver calls, therapies")
    commands = parser.add_subparsers(dest="cn_command", required=True, metavar="<action>")
    entry = commands.add_parser("import", help="per-gene copy-number Parquet from a published "
                                "table (GISTIC/cBioPortal, segments or <GENE>_cnv columns)")
    source = entry.add_mutually_exclusive_group(required=True)
    source.add_argument("--cna", help="cBioPortal/GISTIC discrete table (data_cna.txt)")
    source.add_argument("--segments", help="cBioPortal .seg file on GRCh38 (log2 seg.mean)")
    source.add_argument("--cnv-columns", help="CSV with a patient column and <GENE>_cnv columns "
                        "(-2..2), e.g. the TCGA tables of MCAT")
    entry.add_argument("--samples", help="TSV of sample -> patient (sample sheet, or "
                       "Tumor_Sample_Barcode + patient); without it a sample id is the patient")
    entry.add_argument("--patient-column", default="case_id",
                       help="patient column of --cnv-columns (default %(default)s)")
    entry.add_argument("--all-genes", action="store_true",
                       help="keep every gene of --cna / --cnv-columns, not only TP53, BRCA1, "
                            "BRCA2, EGFR")
    entry.add_argument("--output", required=True, help="Parquet to write (COPY_NUMBER_SCHEMA)")
    entry.set_defaults(func=_cmd_import)

    summary = commands.add_parser("summary", help="per gene, patients amplified / gained / lost "
                                  "/ deep-deleted: printed, and the cohort report's page")
    table = summary.add_mutually_exclusive_group(required=True)
    table.add_argument("--copy-number", help="copy-number Parquet (import output, or the "
                       "workflow's results/cohort/copy_number.parquet)")
    table.add_argument("--cna", help="cBioPortal/GISTIC discrete table (data_cna.txt)")
    table.add_argument("--segments", help="cBioPortal .seg file on GRCh38 (log2 seg.mean)")
    table.add_argument("--cnv-columns", "--table", dest="cnv_columns",
                       help="CSV with a patient column and <GENE>_cnv columns (-2..2), e.g. the "
                            "TCGA tables of MCAT")
    summary.add_argument("--samples", help="TSV of sample -> patient (as for import)")
    summary.add_argument("--patient-column", default="case_id",
                         help="patient column of --cnv-columns (default %(default)s)")
    summary.add_argument("--all-genes", action="store_true",
                         help="every gene of --cna / --cnv-columns, not only TP53, BRCA1, BRCA2, "
                              "EGFR")
    summary.add_argument("--top", type=int, default=MAX_GENES_LISTED,
                         help="genes printed, most altered first (default %(default)s)")
    summary.add_argument("--out", help="HTML page to write (the cohort report's copy-number "
                         "page, every gene)")
    summary.add_argument("--tsv", help="the per-gene summary as TSV, every gene")
    summary.set_defaults(func=_cmd_summary)

    drivers = commands.add_parser("drivers", help="copy-number driver calls beside the point "
                                  "calls' driver scores")
    drivers.add_argument("--copy-number", required=True, help="copy-number import output")
    drivers.add_argument("--drivers", required=True, help="drivers Parquet (score-drivers)")
    drivers.add_argument("--min-driver-score", type=float, default=DEFAULT_DRIVER_THRESHOLD)
    drivers.add_argument("--output", required=True, help="Parquet to write (CN_DRIVERS_SCHEMA)")
    drivers.set_defaults(func=_cmd_drivers)

    therapies = commands.add_parser("therapies", help="therapies Parquet of the copy-number "
                                    "driver calls against the evidence")
    therapies.add_argument("--cn-drivers", required=True, help="copy-number drivers output")
    therapies.add_argument("--evidence", required=True, help="build-evidence output")
    therapies.add_argument("--clinical", help="clinical sheet (patient, cancer_type)")
    therapies.add_argument("--output", required=True, help="Parquet to write (THERAPIES_SCHEMA)")
    therapies.set_defaults(func=_cmd_therapies)


def _read_table(args):
    """(COPY_NUMBER_SCHEMA rows, the file read) of the source the arguments name."""
    from oncoweave.variants.copy_number import (
        COPY_NUMBER_GENES,
        read_gistic_table,
        read_sample_map,
        read_segments,
    )
    from oncoweave.variants.copy_number_tables import read_cnv_columns

    if getattr(args, "copy_number", None):
        from oncoweave.core.tables import read_parquet
        from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA

        return read_parquet(args.copy_number, expected_schema=COPY_NUMBER_SCHEMA)[0], \
            args.copy_number
    samples = read_sample_map(args.samples) if args.samples else None
    genes = None if args.all_genes else COPY_NUMBER_GENES
    if args.cna:
        return read_gistic_table(args.cna, samples, genes), args.cna
    if args.segments:
        return read_segments(args.segments, samples), args.segments
    if samples is not None:
        print("note: --samples is not used with --cnv-columns (its rows are patients)")
    return read_cnv_columns(args.cnv_columns, genes, args.patient_column), args.cnv_columns


def _cmd_summary(args) -> int:
    from oncoweave.core.io import replaced_on_success
    from oncoweave.report.cohort_copy_number import (
        copy_number_page,
        copy_number_summary,
        summary_lines,
    )
    from oncoweave.report.cohort_tables import write_html

    table, given = _read_table(args)
    summary = copy_number_summary(table)
    print(f"{Path(given).name}: {table['patient'].nunique()} patients x {len(summary)} genes, "
          f"{len(table)} gene calls; most amplified or deep-deleted first:")
    for line in summary_lines(summary, args.top):
        print(f"  {line}")
    if args.out:
        write_html(copy_number_page(table, Path(given).name), args.out)
        print(f"{args.out}: the per-gene page ({len(summary)} genes)")
    if args.tsv:
        with replaced_on_success(args.tsv) as temporary:
            summary.to_csv(temporary, sep="\t", index=False)
        print(f"{args.tsv}: the per-gene summary")
    return 0


def _cmd_import(args) -> int:
    from oncoweave.variants.copy_number import COPY_NUMBER_GENES, write_copy_number

    table, given = _read_table(args)
    genes = None if args.all_genes else COPY_NUMBER_GENES
    write_copy_number(table, args.output, {"input": Path(given).name})
    print(f"{args.output}: {len(table)} gene calls, {table['patient'].nunique()} patients")
    counts = table.groupby(["gene", "call"]).size().unstack(fill_value=0)
    if len(counts) > MAX_GENES_LISTED:
        counts = counts.sum().to_frame(f"{len(counts)} genes").T
    for gene, row in counts.iterrows():
        print(f"  {gene}: " + ", ".join(f"{call} {int(n)}" for call, n in row.items() if n))
    absent = sorted(set(genes or ()) - set(table["gene"]))
    if absent:
        print(f"note: no calls for {', '.join(absent)} (not in the table, or NA throughout)")
    return 0


def _cmd_drivers(args) -> int:
    from oncoweave.core.tables import read_parquet, write_parquet
    from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA, copy_number_drivers
    from oncoweave.variants.copy_number import COPY_NUMBER_SCHEMA

    copy_number, _ = read_parquet(args.copy_number, expected_schema=COPY_NUMBER_SCHEMA)
    drivers, _ = read_parquet(args.drivers)
    table = copy_number_drivers(copy_number, drivers, min_driver_score=args.min_driver_score)
    write_parquet(table, args.output, CN_DRIVERS_SCHEMA,
                  {"min_driver_score": str(args.min_driver_score)})
    print(f"{args.output}: {len(table)} gene calls, {int(table['driver'].sum())} copy-number "
          f"drivers ({int(table['biallelic'].sum())} biallelic losses)")
    return 0


def _cmd_therapies(args) -> int:
    from oncoweave.core.sheets import read_sheet
    from oncoweave.core.tables import read_parquet, write_parquet
    from oncoweave.drivers.copy_number import CN_DRIVERS_SCHEMA
    from oncoweave.therapy.copy_number_matching import match_copy_number
    from oncoweave.therapy.evidence import EVIDENCE_SCHEMA
    from oncoweave.therapy.matching import THERAPIES_SCHEMA

    calls, _ = read_parquet(args.cn_drivers, expected_schema=CN_DRIVERS_SCHEMA)
    evidence, _ = read_parquet(args.evidence, expected_schema=EVIDENCE_SCHEMA)
    cancer_types = {}
    if args.clinical:
        clinical = read_sheet(args.clinical)
        if "cancer_type" in clinical:
            cancer_types = dict(zip(clinical["patient"], clinical["cancer_type"]))
    patients = [(patient, (cancer_types.get(patient) or "").strip() or None)
                for patient in dict.fromkeys(calls["patient"])]
    table = match_copy_number(calls, evidence, patients)
    write_parquet(table, args.output, THERAPIES_SCHEMA)
    tier_one = int(table["amp_tier"].isin(["IA", "IB"]).sum())
    print(f"{args.output}: {len(table)} therapy matches of copy-number drivers "
          f"({tier_one} tier I)")
    return 0
