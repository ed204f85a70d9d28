"""`oncoweave` commands of the reference genome: contig positions on GRCh38, and the targets BED.

The parsers' defaults come from :mod:`oncoweave.genome.reference` (standard library only); each
command imports what it runs when it runs.
"""

from __future__ import annotations

from oncoweave.core.errors import InputError
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR


def register(subparsers) -> None:
    to_grch38 = subparsers.add_parser(
        "to-grch38", help="convert reference-contig positions to GRCh38 chromosome positions")
    to_grch38.add_argument("--regions", default=str(BUNDLED_REFERENCE_DIR / "regions.tsv"),
                           help="regions.tsv of the reference (default: the bundled "
                                "mini-reference)")
    to_grch38.add_argument("positions", nargs="+", metavar="CONTIG:POS")
    to_grch38.set_defaults(func=_cmd_to_grch38)

    targets = subparsers.add_parser(
        "make-targets", help="BED of the canonical transcripts' CDS segments +- a flank")
    targets.add_argument("--gff3", default=str(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"))
    targets.add_argument("--canonical",
                         default=str(BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv"))
    targets.add_argument("--flank", type=int, default=20, help="bases added on each side [20]")
    targets.add_argument("--output", required=True, help="BED file to write")
    targets.set_defaults(func=_cmd_make_targets)


def _cmd_to_grch38(args) -> int:
    from oncoweave.genome.reference import ContigMap

    contig_map = ContigMap.from_tsv(args.regions)
    for item in args.positions:
        contig, _, pos = item.rpartition(":")
        try:
            chrom, genomic = contig_map.to_genomic(contig, int(pos))
        except (KeyError, ValueError) as err:
            raise InputError(f"cannot convert {item!r}: {err}") from None
        print(f"{item}\t{chrom}:{genomic}")
    return 0


def _cmd_make_targets(args) -> int:
    from oncoweave.genome.gene_models import canonical_models, target_intervals, write_targets_bed

    if args.flank < 0:
        raise InputError(f"--flank must be >= 0, got {args.flank}")
    models = canonical_models(args.gff3, args.canonical)
    write_targets_bed(target_intervals(list(models.values()), args.flank), args.output)
    return 0
