"""`oncoweave` commands of the toy cohort: its reads, VCFs and clinical table, and its images.

The parsers' defaults come from :mod:`oncoweave.genome.reference` (standard library only); each
command imports what it runs when it runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from oncoweave.core.errors import InputError
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "toy-cohort", help="simulate a tumour/normal cohort (reads, truth VCF, sample sheet)")
    parser.add_argument("outdir", metavar="OUTDIR")
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--vcf-patients", type=int, default=0,
                        help="tumour-only patients given as VCFs, after the read patients")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference",
                        default=str(BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa"))
    parser.add_argument("--gff3", default=str(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"))
    parser.add_argument("--canonical",
                        default=str(BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv"))
    parser.add_argument("--targets", default=str(BUNDLED_REFERENCE_DIR / "targets.bed"))
    parser.add_argument("--tumour-depth", type=float, default=200)
    parser.add_argument("--normal-depth", type=float, default=100)
    parser.add_argument("--read-length", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.set_defaults(func=_cmd_toy_cohort)

    images = subparsers.add_parser(
        "toy-images", help="the toy cohort's CT phantoms (one DICOM patient with planted PHI)")
    images.add_argument("outdir")
    images.add_argument("--patients", required=True,
                        help="comma-separated NUMBER:ID pairs, e.g. 4:P04,5:P05")
    images.add_argument("--seed", type=int, required=True)
    images.add_argument("--dicom", default="", help="comma-separated patient ids written as DICOM")
    images.add_argument("--sheet", required=True, help="image sheet TSV to write")
    images.set_defaults(func=_cmd_toy_images)

    maf = subparsers.add_parser(
        "toy-maf-cohort", help="simulate a published-cohort MAF (GRCh38, TCGA/GENIE columns)")
    maf.add_argument("--patients", type=int, required=True)
    maf.add_argument("--seed", type=int, default=1)
    maf.add_argument("--output", required=True, help="MAF to write (.gz: gzipped)")
    maf.add_argument("--median-mutations", type=float, default=75.0,
                     help="median coding mutations per patient (log-normal)")
    maf.set_defaults(func=_cmd_toy_maf_cohort)


def _cmd_toy_cohort(args) -> int:
    from oncoweave.toy.cohort import make_toy_cohort
    from oncoweave.toy.reads import SimulationSettings

    settings = SimulationSettings(tumour_depth=args.tumour_depth, normal_depth=args.normal_depth,
                                  read_length=args.read_length, threads=args.threads,
                                  seed=args.seed)
    started = time.perf_counter()
    make_toy_cohort(args.outdir, args.patients, Path(args.reference), Path(args.gff3),
                    Path(args.canonical), Path(args.targets), settings, args.vcf_patients)
    print(f"toy cohort of {args.patients} read + {args.vcf_patients} VCF patients in {args.outdir} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


def _parse_patients(text: str) -> list[tuple[int, str]]:
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        number, _, patient = item.partition(":")
        if not number.isdigit() or not patient:
            raise InputError(f"--patients item '{item}' is not NUMBER:ID (e.g. 4:P04)")
        pairs.append((int(number), patient))
    return pairs


def _cmd_toy_images(args: argparse.Namespace) -> int:
    from oncoweave.toy.images import make_toy_images, write_images_sheet

    rows = make_toy_images(args.outdir, _parse_patients(args.patients), args.seed,
                           [p for p in args.dicom.split(",") if p])
    write_images_sheet(rows, args.sheet)
    print(f"{args.sheet}: {len(rows)} toy image(s) under {args.outdir}")
    return 0


def _cmd_toy_maf_cohort(args) -> int:
    from oncoweave.toy.maf_cohort import simulate_maf_cohort

    if args.patients < 1:
        raise InputError(f"--patients must be at least 1 (got {args.patients})")
    started = time.perf_counter()
    summary = simulate_maf_cohort(args.patients, args.output, args.seed,
                                  median_mutations=args.median_mutations)
    print(f"{args.output}: {summary.rows:,} rows of {summary.patients:,} patients, "
          f"{summary.in_regions:,} in the reference regions ({summary.hotspots:,} hotspots) "
          f"({time.perf_counter() - started:.1f} s)")
    return 0
