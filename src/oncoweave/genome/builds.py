"""Where the targeted driver genes lie on GRCh37/hg19 and on GRCh38, to recognise positions of the
other build (standard library only).

A VCF on hg19 without ##contig lengths passes the contig checks; its records just fall outside
the GRCh38 gene regions. Positions inside a gene's GRCh37 span betray it. Spans are the genes'
1-based, inclusive extents (NCBI Gene, GRCh37.p13 and GRCh38.p14 annotations).
"""

from __future__ import annotations

# Chromosome lengths of the two builds, to recognise a file made on GRCh37/hg19.
GRCH38_LENGTHS = {
    "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259,
    "6": 170805979, "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422,
    "11": 135086622, "12": 133275309, "13": 114364328, "14": 107043718, "15": 101991189,
    "16": 90338345, "17": 83257441, "18": 80373285, "19": 58617616, "20": 64444167,
    "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415,
}
GRCH37_LENGTHS = {
    "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260,
    "6": 171115067, "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747,
    "11": 135006516, "12": 133851895, "13": 115169878, "14": 107349540, "15": 102531392,
    "16": 90354753, "17": 81195210, "18": 78077248, "19": 59128983, "20": 63025520,
    "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566,
}

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
