"""`oncoweave` commands of the variants stage, from the input checks to the cohort table.

``python -m oncoweave.cli.variants <command>`` offers these commands alone: the alignment job runs
its FASTQ check that way, in an environment without most of the other stages' libraries. The
parsers take their defaults from light modules and each command imports what it runs when it runs,
so building the parser imports none of pandas, scipy, pysam or scikit-allel.
"""

from __future__ import annotations

import sys
from pathlib import Path

from oncoweave.core.errors import InputError
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR
from oncoweave.variants.identity import PAIR_IDENTITY_VALUES
from oncoweave.variants.maf import DEFAULT_MAF_STATUSES


def register(subparsers) -> None:
    _add_input_checks(subparsers)
    _add_check_identity(subparsers)
    _add_classify(subparsers)
    _add_export(subparsers)
    _add_merge(subparsers)
    _add_compare_callers(subparsers)


# --- input checks ----------------------------------------------------------------------------

def _add_input_checks(subparsers) -> None:
    fastq = subparsers.add_parser(
        "check-fastq", help="check a FASTQ file or pair for truncation and broken records")
    fastq.add_argument("fastq", help="FASTQ (gzip or plain); read 1 of a pair")
    fastq.add_argument("fastq2", nargs="?", help="read 2 of the pair (same record count)")
    fastq.add_argument("--label", help="where the file comes from, for the error message "
                                       "(e.g. 'samples.tsv row 3')")
    fastq.set_defaults(func=_cmd_check_fastq)

    vcf = subparsers.add_parser(
        "import-vcf", help="bring a user VCF into reference contig coordinates (bgzip + tabix)")
    vcf.add_argument("input", help="VCF/BCF in GRCh38 chromosome or reference contig coordinates")
    vcf.add_argument("output", help="output .vcf.gz (a .tbi index is written beside it)")
    vcf.add_argument("--reference", required=True, help="reference FASTA (indexed or writable)")
    vcf.add_argument("--regions", default="",
                     help="regions.tsv of a gene-region reference; leave out for full GRCh38")
    vcf.add_argument("--tumour-sample", required=True, help="tumour sample id for the output")
    vcf.add_argument("--normal-sample", help="normal sample id for the output")
    vcf.add_argument("--tumour-column", help="tumour's column in the input (default: its id)")
    vcf.add_argument("--normal-column", help="normal's column in the input (default: its id)")
    vcf.add_argument("--allow-empty", action="store_true",
                     help="import a file that keeps no usable record or loses most of its "
                          "records instead of stopping (the workflow's inputs.allow_empty_calls)")
    vcf.set_defaults(func=_cmd_import_vcf)

    maf = subparsers.add_parser(
        "import-maf", help="check a published-cohort MAF; per-patient VCFs and TMB counts")
    maf.add_argument("input", help="MAF (GDC/cBioPortal columns, GRCh38; may be gzipped)")
    maf.add_argument("--reference", required=True, help="reference FASTA (indexed)")
    maf.add_argument("--regions", default="",
                     help="regions.tsv of a gene-region reference; leave out for full GRCh38")
    maf.add_argument("--outdir", help="write <patient>.vcf.gz per patient with rows in the "
                                      "reference, and tmb_counts.tsv")
    maf.set_defaults(func=_cmd_import_maf)


def _cmd_check_fastq(args) -> int:
    from oncoweave.variants.fastq import check_fastq, check_fastq_pair

    try:
        if args.fastq2:
            first, second = check_fastq_pair(args.fastq, args.fastq2)
            print(f"{first.path} + {second.path}: {first.records:,} read pairs, "
                  f"{first.bases + second.bases:,} bases")
        else:
            summary = check_fastq(args.fastq)
            print(f"{summary.path}: {summary.records:,} reads, {summary.bases:,} bases")
    except InputError as err:
        if args.label:
            raise InputError(f"{args.label}: {err}") from None
        raise
    return 0


def _cmd_import_vcf(args) -> int:
    from oncoweave.genome.reference import ContigMap
    from oncoweave.variants.inputs import import_vcf

    summary = import_vcf(args.input, args.output, reference_fasta=args.reference,
                         contig_map=ContigMap.from_tsv(args.regions),
                         tumour_sample=args.tumour_sample, normal_sample=args.normal_sample,
                         tumour_column=args.tumour_column, normal_column=args.normal_column,
                         allow_empty=args.allow_empty)
    print(f"{args.input}: {summary.records_read:,} records read, {summary.records_written:,} "
          f"written to {args.output}, {summary.outside_regions:,} outside the reference regions, "
          f"{summary.without_alt:,} without an ALT allele")
    if summary.note:
        print(f"warning: {summary.note}")
    return 0


def _cmd_import_maf(args) -> int:
    from oncoweave.core.io import write_tsv
    from oncoweave.genome.reference import ContigMap
    from oncoweave.variants.maf_import import maf_tmb_counts, read_maf, split_maf
    from oncoweave.variants.maf_vcf import maf_to_vcf

    contig_map = ContigMap.from_tsv(args.regions)
    rows = read_maf(args.input, args.reference, contig_map)
    inside, outside = split_maf(rows)
    print(f"{args.input}: {len(rows):,} rows of {rows['patient'].nunique():,} patients, "
          f"{len(inside):,} inside the reference, {len(outside):,} outside (TMB only)")
    if args.outdir:
        outdir = Path(args.outdir)
        for patient, patient_rows in inside.groupby("patient", sort=True):
            maf_to_vcf(patient_rows, outdir / f"{patient}.vcf.gz", args.reference,
                       tumour_sample=str(patient))
        write_tsv(maf_tmb_counts(rows).reset_index(), outdir / "tmb_counts.tsv")
        print(f"{outdir}: {inside['patient'].nunique():,} VCF(s) and tmb_counts.tsv")
    return 0


# --- tumour/normal identity ------------------------------------------------------------------

def _add_check_identity(subparsers) -> None:
    parser = subparsers.add_parser(
        "check-identity", help="check that a tumour and its normal come from the same individual")
    parser.add_argument("--vcf", required=True, help="joint tumour+normal VCF with GT, AD, DP")
    parser.add_argument("--patient", required=True)
    parser.add_argument("--tumour", required=True, help="tumour sample name in the VCF")
    parser.add_argument("--normal", help="normal sample name in the VCF (omit: tumour-only)")
    parser.add_argument("--output", required=True, help="identity TSV to write (one row)")
    parser.add_argument("--min-depth", type=int, default=20)
    parser.add_argument("--min-sites", type=int, default=10)
    parser.add_argument("--min-concordance", type=float, default=0.9)
    parser.set_defaults(func=_cmd_check_identity)


def _cmd_check_identity(args) -> int:
    from oncoweave.variants.identity import check_pair_identity, write_identity_tsv

    result = check_pair_identity(args.vcf, args.tumour, args.normal, min_depth=args.min_depth,
                                 min_sites=args.min_sites, min_concordance=args.min_concordance)
    write_identity_tsv(result, args.patient, args.output)
    print(f"{args.patient}\t{result.status}\tsites={result.n_sites}\t"
          f"concordance={'NA' if result.concordance is None else f'{result.concordance:.3f}'}")
    return 0


# --- classification --------------------------------------------------------------------------

def _add_classify(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify-variants",
        help="classify joint tumour/normal candidates as somatic, germline, LOH or tumour-only")
    parser.add_argument("--input", required=True, help="candidates VCF/BCF (AD, DP, ADF, ADR)")
    parser.add_argument("--output", required=True, help="classified .vcf.gz to write (+ .tbi)")
    parser.add_argument("--tumour", required=True, help="tumour sample name in the VCF")
    parser.add_argument("--normal", help="normal sample name in the VCF (omit: tumour-only)")
    parser.add_argument("--pair-failed", action="store_true",
                        help="the pair failed the identity check: analyse the tumour alone")
    parser.add_argument("--threshold", action="append", metavar="KEY=VALUE",
                        help="override a CallingThresholds field (repeatable)")
    parser.set_defaults(func=_cmd_classify)


def _cmd_classify(args) -> int:
    from oncoweave.variants.classify import CallingThresholds, classify_vcf

    thresholds = CallingThresholds.from_mapping(_threshold_options(args.threshold),
                                                source="--threshold")
    summary = classify_vcf(args.input, args.output, args.tumour, args.normal, thresholds,
                           pair_ok=not args.pair_failed)
    print("\t".join(f"{key}={value}" for key, value in summary.items()))
    return 0


def _threshold_options(items: list[str] | None) -> dict[str, int | float]:
    """['min_vaf=0.1', ...] -> {'min_vaf': 0.1}; values are parsed as int, else float."""
    from oncoweave.core.tables import parse_key_values

    values: dict[str, int | float] = {}
    for key, text in parse_key_values(items, "--threshold").items():
        try:
            values[key] = int(text)
        except ValueError:
            try:
                values[key] = float(text)
            except ValueError:
                raise InputError(f"--threshold {key}: not a number: {text!r}") from None
    return values


# --- variants tables -------------------------------------------------------------------------

def _add_export(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-variants", help="variants Parquet from a classified, csq-annotated VCF")
    parser.add_argument("--vcf", required=True, help="classify-variants output after bcftools csq")
    parser.add_argument("--output", required=True, help="Parquet file to write")
    parser.add_argument("--patient", required=True)
    parser.add_argument("--tumour", required=True, help="tumour sample name in the VCF")
    parser.add_argument("--normal", help="normal sample id (omit: tumour-only)")
    parser.add_argument("--fasta", required=True, help="reference FASTA that csq ran on (indexed)")
    parser.add_argument("--gff3", default=str(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"))
    parser.add_argument("--canonical",
                        default=str(BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv"))
    parser.add_argument("--contig-map", default="",
                        help="regions.tsv mapping contigs to GRCh38 (omit: contigs are "
                        "chromosomes)")
    parser.add_argument("--pair-identity", required=True, choices=PAIR_IDENTITY_VALUES)
    parser.add_argument("--purity", type=float)
    parser.add_argument("--metadata", action="append", metavar="KEY=VALUE",
                        help="extra provenance for the Parquet metadata (repeatable)")
    parser.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    from oncoweave.core.tables import parse_key_values
    from oncoweave.genome.gene_models import canonical_models
    from oncoweave.genome.reference import ContigMap
    from oncoweave.variants.export import export_variants

    df = export_variants(
        args.vcf, args.output, patient=args.patient, tumour_sample=args.tumour,
        normal_sample=args.normal, contig_map=ContigMap.from_tsv(args.contig_map),
        transcripts=canonical_models(args.gff3, args.canonical), fasta_path=args.fasta,
        pair_identity=args.pair_identity, purity=args.purity,
        metadata=parse_key_values(args.metadata, "--metadata"))
    print(f"{args.output}: {len(df)} variants, "
          f"{int(((df['status'] == 'somatic') & (df['filter'] == 'PASS')).sum())} somatic PASS")
    return 0


def _add_merge(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge-variants", help="merge per-sample variants tables into a cohort Parquet and MAF")
    parser.add_argument("--output", required=True, help="cohort Parquet to write")
    parser.add_argument("--maf", help="also write the MAF (maftools / cBioPortal)")
    parser.add_argument("--maf-statuses", default=",".join(DEFAULT_MAF_STATUSES),
                        help="comma-separated statuses the MAF keeps (default: %(default)s)")
    parser.add_argument("--metadata", action="append", metavar="KEY=VALUE",
                        help="extra provenance for the Parquet metadata (repeatable)")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="per-sample variants Parquet")
    parser.set_defaults(func=_cmd_merge)


def _cmd_merge(args) -> int:
    from oncoweave.core.tables import parse_key_values
    from oncoweave.variants.cohort import merge_variants

    merged = merge_variants(args.inputs, args.output, args.maf,
                            parse_key_values(args.metadata, "--metadata"),
                            maf_statuses=args.maf_statuses.split(","))
    print(f"{args.output}: {len(merged)} variants of {merged['patient'].nunique()} patients")
    return 0


# --- caller comparison -----------------------------------------------------------------------

def _add_compare_callers(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare-callers",
        help="score bcftools and freebayes somatic calls of a run against the toy truth")
    parser.add_argument("--run-dir", required=True,
                        help="a workflow working directory that ran the toy cohort")
    parser.add_argument("--patients", nargs="+", metavar="PATIENT",
                        help="paired patients to compare (default: all)")
    parser.add_argument("--output", help="TSV to write the scores table to")
    parser.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    import tempfile

    from oncoweave.core.io import write_tsv
    from oncoweave.variants.caller_evaluation import (
        compare_callers,
        format_comparison,
        run_inputs,
    )

    inputs = run_inputs(args.run_dir, args.patients)
    with tempfile.TemporaryDirectory(prefix="oncoweave-compare-") as work_dir:
        try:
            scores, timings = compare_callers(inputs, Path(work_dir))
        except RuntimeError as err:  # a tool failed: its message, no traceback
            print(f"oncoweave compare-callers: {err}", file=sys.stderr)
            return 1
    print(format_comparison(scores, timings))
    if args.output:
        write_tsv(scores, args.output, float_format="%.4f")
    return 0


if __name__ == "__main__":
    # Only this stage's commands (and their imports): the alignment job's FASTQ check.
    from oncoweave.cli.main import main

    sys.exit(main(modules=("oncoweave.cli.variants",)))
