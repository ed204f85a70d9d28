"""A simulated published-cohort MAF (TCGA/GENIE style) of any size, for the MAF import and scale.

``simulate_maf_cohort`` writes N patients' somatic calls on GRCh38 with GDC MAF columns. Each
patient's count of coding mutations is log-normal around ``median_mutations`` (75 by default, an
exome-like cohort: 10,000 patients make about a million rows). Most rows lie in simulated genes
at random positions of chromosomes 1-22, X and Y, outside the bundled reference regions; their
alleles, classes and protein changes are drawn, not annotated, so they only count toward TMB.
Some patients also carry rows in TP53, BRCA1, BRCA2 and EGFR inside the bundled regions, with REF
taken from the bundled FASTA so that they pass the import's REF check, and the hotspots TP53
R175H, R248Q, R273H and EGFR L858R (T790M mostly with it) at pan-cancer rates. Everything comes
from one numpy generator seeded with ``seed``: the same seed writes the same file.
"""

from __future__ import annotations

import gzip
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from oncoweave.core.io import replaced_on_success
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap

BASES = "ACGT"
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
MAF_COHORT_COLUMNS = [
    "Hugo_Symbol", "Entrez_Gene_Id", "Center", "NCBI_Build", "Chromosome", "Start_Position",
    "End_Position", "Strand", "Variant_Classification", "Variant_Type", "Reference_Allele",
    "Tumor_Seq_Allele1", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode",
    "Matched_Norm_Sample_Barcode", "Mutation_Status", "HGVSp_Short", "t_depth", "t_ref_count",
    "t_alt_count",
]
# SNV classes of a coding-exome MAF, roughly as in TCGA MC3 (drawn, not annotated).
SNV_CLASSES = {"Missense_Mutation": 0.60, "Silent": 0.24, "Nonsense_Mutation": 0.05,
               "Splice_Site": 0.02, "3'UTR": 0.04, "5'UTR": 0.015, "Intron": 0.025,
               "Nonstop_Mutation": 0.005, "Translation_Start_Site": 0.005}
VARIANT_KINDS = {"SNP": 0.90, "DEL": 0.06, "INS": 0.04}
INDEL_LENGTHS = {1: 0.65, 2: 0.15, 3: 0.15, 6: 0.05}
# GRCh38 gene bodies of the bundled genes (inside their reference regions) and Entrez ids.
GENE_BODIES = {"TP53": ("chr17", 7668402, 7687550), "BRCA1": ("chr17", 43044295, 43125483),
               "BRCA2": ("chr13", 32315474, 32400266), "EGFR": ("chr7", 55019017, 55211628)}
ENTREZ = {"TP53": 7157, "BRCA1": 672, "BRCA2": 675, "EGFR": 1956}
# Per-patient chance of a (non-hotspot) mutation in each bundled gene.
GENE_RATES = {"TP53": 0.25, "BRCA1": 0.03, "BRCA2": 0.04, "EGFR": 0.04}
# name: (gene, chrom, pos, ref, alt, per-patient rate); GRCh38 coordinates as ClinVar gives them.
HOTSPOTS = {
    "p.R175H": ("TP53", "chr17", 7675088, "C", "T", 0.020),
    "p.R248Q": ("TP53", "chr17", 7674220, "C", "T", 0.015),
    "p.R273H": ("TP53", "chr17", 7673802, "C", "T", 0.015),
    "p.L858R": ("EGFR", "chr7", 55191822, "T", "G", 0.020),
    "p.T790M": ("EGFR", "chr7", 55181378, "C", "T", 0.001),
}
T790M_WITH_L858R = 0.3  # acquired resistance: mostly in L858R tumours


@dataclass(frozen=True)
class MafCohortSummary:
    patients: int
    rows: int
    in_regions: int
    hotspots: int


def simulate_maf_cohort(n_patients: int, out_path: str | Path, seed: int, *,
                        median_mutations: float = 75.0, sigma: float = 0.8,
                        reference_fasta: str | Path = BUNDLED_REFERENCE_DIR
                        / "grch38_gene_regions.fa",
                        regions: str | Path = BUNDLED_REFERENCE_DIR / "regions.tsv",
                        ) -> MafCohortSummary:
    """Write the MAF (gzipped if ``out_path`` ends in .gz) and say what is in it."""
    import numpy as np
    import pandas as pd

    if n_patients < 1:
        raise ValueError("n_patients must be at least 1")
    rng = np.random.default_rng(seed)
    contig_map = ContigMap.from_tsv(regions)
    counts = np.maximum(1, np.rint(rng.lognormal(np.log(median_mutations), sigma, n_patients)))
    outside = _outside_rows(rng, np.repeat(np.arange(n_patients), counts.astype("int64")),
                            contig_map)
    sequences = _gene_sequences(reference_fasta, contig_map)
    genes = _gene_rows(rng, n_patients, sequences)
    hotspots = _hotspot_rows(rng, n_patients, sequences)
    table = pd.concat([outside, genes, hotspots], ignore_index=True)
    rank = {f"chr{name}": i for i, name in enumerate(_chromosomes())}
    table = table.iloc[np.lexsort((table["Start_Position"].to_numpy(),
                                   table["Chromosome"].map(rank).to_numpy(),
                                   table["patient"].to_numpy()))].reset_index(drop=True)
    _write(_maf_columns(table, n_patients), out_path, n_patients, seed)
    return MafCohortSummary(patients=n_patients, rows=len(table),
                            in_regions=len(genes) + len(hotspots), hotspots=len(hotspots))


def _chromosomes() -> list[str]:
    return [str(n) for n in range(1, 23)] + ["X", "Y"]


def _outside_rows(rng, patient, contig_map: ContigMap):
    """Rows of simulated genes at random positions, none inside a reference region."""
    import numpy as np
    import pandas as pd

    from oncoweave.genome.builds import GRCH38_LENGTHS

    names = _chromosomes()
    lengths = np.array([GRCH38_LENGTHS[name] for name in names], dtype="int64")
    n = len(patient)
    which = rng.choice(len(names), size=n, p=lengths / lengths.sum())
    pos = rng.integers(1, lengths[which] - 10, endpoint=True)
    chrom = np.array([f"chr{name}" for name in names], dtype=object)[which]
    for region in contig_map.regions:  # move the rare rows that fall in a region just past it
        inside = (chrom == region.chrom) & (pos >= region.start - 10) & (pos <= region.end + 10)
        pos[inside] = region.end + 1000 + (pos[inside] - region.start)
    kind, ref, alt = _alleles(rng, n)
    bin_name = pd.Series(pos // 100_000).astype(str)
    gene = "SIM" + pd.Series(chrom, dtype="str").str.removeprefix("chr") + "-" + bin_name
    return _rows(rng, patient, gene, chrom, pos, kind, ref, alt)


def _alleles(rng, n: int, reference=None):
    """(variant type, MAF REF, MAF ALT); ``reference(k, length)`` gives REF bases from a FASTA."""
    import numpy as np

    kinds = np.array(list(VARIANT_KINDS), dtype=object)
    kind = kinds[rng.choice(len(kinds), size=n, p=list(VARIANT_KINDS.values()))]
    length = np.array(list(INDEL_LENGTHS))[rng.choice(len(INDEL_LENGTHS), size=n,
                                                      p=list(INDEL_LENGTHS.values()))]
    letters = np.array(list(BASES), dtype=object)
    codes = rng.integers(0, 4, size=(n, max(INDEL_LENGTHS)))
    random_bases = np.full(n, "", dtype=object)
    indel = np.flatnonzero(kind != "SNP")
    random_bases[indel] = ["".join(letters[row[:k]]) for row, k in zip(codes[indel],
                                                                       length[indel])]
    if reference is None:
        ref = letters[codes[:, 0]].copy()
    else:
        ref = np.array(reference(np.ones(n, dtype="int64")), dtype=object)
    shift = rng.integers(1, 4, size=n)
    ref_code = np.searchsorted(np.array(list(BASES)), ref.astype(str))
    alt = letters[(ref_code + shift) % 4].copy()
    deletion, insertion = kind == "DEL", kind == "INS"
    if reference is None:
        ref[deletion] = random_bases[deletion]
    else:
        ref[deletion] = np.array(reference(length), dtype=object)[deletion]
    alt[deletion] = "-"
    ref[insertion] = "-"
    alt[insertion] = random_bases[insertion]
    return kind, ref, alt


def _rows(rng, patient, gene, chrom, pos, kind, ref, alt, classes=None, hgvs_p=None):
    """The simulation table (MAF columns plus ``patient``) for drawn or given classes."""
    import numpy as np
    import pandas as pd

    n = len(patient)
    ref_length = pd.Series(ref, dtype=object).str.len().to_numpy()
    indel_length = np.where(kind == "INS", pd.Series(alt, dtype=object).str.len().to_numpy(),
                            ref_length)
    if classes is None:
        snv_classes = np.array(list(SNV_CLASSES), dtype=object)
        classes = snv_classes[rng.choice(len(snv_classes), size=n,
                                         p=np.array(list(SNV_CLASSES.values()))
                                         / sum(SNV_CLASSES.values()))]
        in_frame = indel_length % 3 == 0
        for variant_type, suffix in (("DEL", "Del"), ("INS", "Ins")):
            is_type = kind == variant_type
            classes[is_type & in_frame] = f"In_Frame_{suffix}"
            classes[is_type & ~in_frame] = f"Frame_Shift_{suffix}"
    if hgvs_p is None:
        hgvs_p = _protein_changes(rng, classes)
    end = np.where(kind == "INS", pos + 1, pos + ref_length - 1)
    depth = np.maximum(10, rng.poisson(rng.gamma(8.0, 150 / 8.0, size=n)))
    vaf = np.clip(rng.beta(2.5, 5.0, size=n), 0.03, 1.0)
    alt_count = np.minimum(depth, np.maximum(3, rng.binomial(depth, vaf)))
    return pd.DataFrame({
        "patient": patient, "Hugo_Symbol": gene, "Chromosome": chrom,
        "Start_Position": pos.astype("int64"), "End_Position": end.astype("int64"),
        "Variant_Classification": classes, "Variant_Type": kind, "Reference_Allele": ref,
        "Tumor_Seq_Allele2": alt, "HGVSp_Short": hgvs_p, "t_depth": depth,
        "t_ref_count": depth - alt_count, "t_alt_count": alt_count})


def _protein_changes(rng, classes):
    """HGVSp_Short strings that fit each drawn class (p.G12D, p.G12=, p.R213*, p.K45fs ...)."""
    import numpy as np
    import pandas as pd

    n = len(classes)
    acids = np.array(list(AMINO_ACIDS))
    first = pd.Series(acids[rng.integers(0, 20, size=n)], dtype="str")
    second = pd.Series(acids[rng.integers(0, 20, size=n)], dtype="str")
    codon = pd.Series(rng.integers(2, 1500, size=n)).astype("str")
    stem = "p." + first + codon
    choices = {
        "Missense_Mutation": stem + second, "Silent": stem + "=", "Nonsense_Mutation": stem + "*",
        "Frame_Shift_Del": stem + "fs", "Frame_Shift_Ins": stem + "fs",
        "In_Frame_Del": stem + "del", "In_Frame_Ins": stem + "_" + second + codon + "ins" + first,
        "Splice_Site": "p.X" + codon + "_splice", "Nonstop_Mutation": "p.*" + codon + second,
        "Translation_Start_Site": "p.M1?",
    }
    classes = pd.Series(classes, dtype="str")
    changes = pd.Series("", index=classes.index, dtype="str")
    for name, values in choices.items():
        changes = changes.mask(classes == name, values)
    return changes


def _gene_sequences(reference_fasta: str | Path, contig_map: ContigMap) -> dict:
    """gene -> (chrom, offset, upper-case contig sequence) of the bundled gene regions."""
    import pysam

    sequences = {}
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        for region in contig_map.regions:
            gene = region.contig.rpartition("_")[2]
            if gene in GENE_BODIES:
                sequences[gene] = (region.chrom, region.offset, fasta.fetch(region.contig).upper())
    return sequences


def _gene_rows(rng, n_patients: int, sequences: dict):
    """One row per patient and mutated bundled gene, REF from the FASTA."""
    import numpy as np
    import pandas as pd

    tables = []
    for gene, rate in GENE_RATES.items():
        patients = np.flatnonzero(rng.random(n_patients) < rate)
        chrom, offset, sequence = sequences[gene]
        _, start, end = GENE_BODIES[gene]
        pos = rng.integers(start, end - 10, size=len(patients), endpoint=True)

        def reference(lengths, pos=pos, offset=offset, sequence=sequence):
            # A deletion's REF starts at Start_Position, a SNV's is the base there.
            return [sequence[p - offset - 1:p - offset - 1 + k] for p, k in zip(pos, lengths)]

        kind, ref, alt = _alleles(rng, len(patients), reference)
        tables.append(_rows(rng, patients, np.full(len(patients), gene, dtype=object),
                            np.full(len(patients), chrom, dtype=object), pos, kind, ref, alt))
    return pd.concat(tables, ignore_index=True)


def _hotspot_rows(rng, n_patients: int, sequences: dict):
    import numpy as np
    import pandas as pd

    carriers = {name: rng.random(n_patients) < rate
                for name, (*_, rate) in HOTSPOTS.items()}
    carriers["p.T790M"] |= carriers["p.L858R"] & (rng.random(n_patients) < T790M_WITH_L858R)
    tables = []
    for name, (gene, chrom, pos, ref, alt, _) in HOTSPOTS.items():
        _, offset, sequence = sequences[gene]
        if sequence[pos - offset - 1] != ref:  # the bundled FASTA and the table disagree
            raise ValueError(f"hotspot {gene} {name}: REF {ref} is not the reference's base")
        patients = np.flatnonzero(carriers[name])
        k = len(patients)
        tables.append(_rows(rng, patients, np.full(k, gene, dtype=object),
                            np.full(k, chrom, dtype=object), np.full(k, pos, dtype="int64"),
                            np.full(k, "SNP", dtype=object), np.full(k, ref, dtype=object),
                            np.full(k, alt, dtype=object),
                            np.full(k, "Missense_Mutation", dtype=object),
                            np.full(k, name, dtype=object)))
    return pd.concat(tables, ignore_index=True)


def _maf_columns(table, n_patients: int):
    width = max(4, len(str(n_patients)))
    barcode = "SIM-" + (table["patient"] + 1).astype("str").str.zfill(width)
    return table.assign(
        Entrez_Gene_Id=table["Hugo_Symbol"].map(ENTREZ).fillna(0).astype("int64"),
        Center="oncoweave-sim", NCBI_Build="GRCh38", Strand="+",
        Tumor_Seq_Allele1=table["Reference_Allele"], Tumor_Sample_Barcode=barcode + "-T",
        Matched_Norm_Sample_Barcode=barcode + "-N", Mutation_Status="Somatic",
    )[MAF_COHORT_COLUMNS]


def _write(table, out_path: str | Path, n_patients: int, seed: int) -> None:
    """TSV with two comment lines; a .gz without name or time in its header (same bytes)."""
    import pyarrow as pa
    from pyarrow import csv

    out_path = Path(out_path)
    with replaced_on_success(out_path) as temporary, temporary.open("wb") as raw:
        if out_path.suffix == ".gz":
            compressed = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=3,
                                       mtime=0)
        else:
            compressed = nullcontext(raw)
        with compressed as handle:
            handle.write(b"#version 2.4\n")
            handle.write(f"#oncoweave toy-maf-cohort patients={n_patients} seed={seed}\n"
                         .encode())
            handle.write(("\t".join(table.columns) + "\n").encode())
            csv.write_csv(pa.Table.from_pandas(table, preserve_index=False), handle,
                          csv.WriteOptions(include_header=False, delimiter="\t",
                                           quoting_style="none"))


SIMULATED_CANCER_TYPES = ("Lung Adenocarcinoma", "Colorectal Cancer", "Breast Cancer", "Melanoma")
RESPONSES = ("CR", "PR", "SD", "PD")


def simulated_clinical(patients: list[str], seed: int):
    """A clinical-sheet row per patient (the sheet's columns) with seeded outcomes drawn apart
    from the calls: about half the deaths observed, so the outcome models have events."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = len(patients)
    return pd.DataFrame({
        "patient": patients, "age": rng.integers(30, 90, n),
        "sex": rng.choice(["F", "M"], n), "stage": rng.choice(["I", "II", "III", "IV"], n),
        "cancer_type": rng.choice(SIMULATED_CANCER_TYPES, n), "treatment": "",
        "os_months": rng.exponential(30.0, n).round(1) + 0.5,
        "os_event": rng.integers(0, 2, n), "response": rng.choice(RESPONSES, n)})
