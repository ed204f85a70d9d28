"""Where the targeted driver genes lie on GRCh37/hg19 and on GRCh38, to recognise positions of the
other build (standard library only).

A VCF on hg19 without ##contig lengths passes the contig checks; its records just fall outside
the GRCh38 gene regions. Positions inside a gene's GRCh37 span betray it. Spans are the genes'
1-based, inclusive extents (NCBI Gene, GRCh37.p13 and GRCh38.p14 annotations).
"""

from __future__ import annotations

# gene: (chromosome without 'chr', GRCh37 start, GRCh37 end, GRCh38 start, GRCh38 end)
DRIVER_GENE_SPANS = {
    "TP53": ("17", 7_565_097, 7_590_856, 7_661_779, 7_687_550),
    "EGFR": ("7", 55_086_714, 55_324_313, 55_019_017, 55_211_628),
    "BRCA1": ("17", 41_196_312, 41_277_500, 43_044_295, 43_125_483),
    "BRCA2": ("13", 32_889_611, 32_973_805, 32_315_474, 32_400_266),
}


def grch37_gene_at(chromosome: str, pos: int) -> str | None:
    """The driver gene whose GRCh37 span holds ``chromosome:pos`` ('chr17' or '17') but whose
    GRCh38 span does not (EGFR's spans overlap: a position in both says nothing), else None."""
    key = chromosome.removeprefix("chr")
    for gene, (chrom, start37, end37, start38, end38) in DRIVER_GENE_SPANS.items():
        if key == chrom and start37 <= pos <= end37 and not start38 <= pos <= end38:
            return gene
    return None
