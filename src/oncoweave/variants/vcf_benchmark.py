"""A seeded synthetic annotated VCF on the reference's contigs, to time VCF reading at scale.

The records look like ``oncoweave classify-variants`` output after ``bcftools csq``: one ALT per
record (multiallelic sites split), REF matching the FASTA, INFO STATUS/T_DP/T_ALT/T_VAF/N_DP/
N_ALT/N_VAF/FISHER_P/BCSQ and FORMAT GT:AD:DP of one tumour sample. Lines are built with numpy
string operations, then re-written by ``bcftools view`` as bcftools csq re-writes every record
(htslib's writer: floats with six significant digits, FISHER_P drawn with seven; the
##bcftools_viewVersion line kept, its dated Command line dropped as the workflow drops csq's),
bgzipped and tabix-indexed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

SYNTHETIC_TUMOUR = "TUMOUR"
STATUSES = np.array(["somatic", "germline", "loh", "tumour_only"])
FILTERS = np.array(["PASS", "PASS", "PASS", "low_vaf"])
BASES = np.array(list("ACGT"))

_HEADER = """##fileformat=VCFv4.2
{contigs}##source=oncoweave synthetic benchmark VCF (seed {seed})
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=low_vaf,Description="Tumour VAF below the floor">
##INFO=<ID=STATUS,Number=1,Type=String,Description="somatic, germline, loh or tumour_only">
##INFO=<ID=T_DP,Number=1,Type=Integer,Description="Tumour depth">
##INFO=<ID=T_ALT,Number=1,Type=Integer,Description="Tumour ALT reads">
##INFO=<ID=T_VAF,Number=1,Type=Float,Description="Tumour VAF">
##INFO=<ID=N_DP,Number=1,Type=Integer,Description="Normal depth">
##INFO=<ID=N_ALT,Number=1,Type=Integer,Description="Normal ALT reads">
##INFO=<ID=N_VAF,Number=1,Type=Float,Description="Normal VAF">
##INFO=<ID=FISHER_P,Number=1,Type=Float,Description="Fisher exact p">
##INFO=<ID=BCSQ,Number=.,Type=String,Description="bcftools csq consequences">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allele depths">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}
"""


def write_synthetic_vcf(path: str | Path, fasta_path: str | Path, records: int, *,
                        seed: int = 0, threads: int = 4) -> Path:
    """Write ``records`` seeded records (bgzipped, .tbi-indexed) on the FASTA's contigs.

    About 85 % SNVs, 8 % deletions and 7 % insertions; every tenth site is multiallelic, split
    into two records at the same position; one record in 20 has no normal (N_* missing) and one
    in 50 a missing AD. The same seed gives the same file.
    """
    import pysam

    path = Path(path)
    rng = np.random.default_rng(seed)
    with pysam.FastaFile(str(fasta_path)) as fasta:
        contigs = dict(zip(fasta.references, fasta.lengths, strict=True))
        sequences = {name: np.frombuffer(fasta.fetch(name).upper().encode(), dtype="S1")
                     for name in contigs}
    names = np.array(list(contigs))
    lengths = np.array(list(contigs.values()), dtype=np.int64)
    sites = records - records // 11  # split multiallelic sites give the remaining records
    contig_index = np.sort(rng.choice(len(names), size=sites, p=lengths / lengths.sum()))
    positions = np.empty(sites, dtype=np.int64)
    for index, length in enumerate(lengths):
        chosen = contig_index == index
        positions[chosen] = np.sort(rng.integers(2, length - 10, size=int(chosen.sum())))
    split = rng.permutation(sites) < records - sites
    repeat = np.where(split, 2, 1)
    contig_index, positions = np.repeat(contig_index, repeat), np.repeat(positions, repeat)
    second = np.zeros(len(positions), dtype=bool)
    second[np.cumsum(repeat)[split] - 1] = True
    ref, alt = _alleles(rng, names, contig_index, positions, second, sequences)
    lines = _record_lines(rng, names[contig_index], positions, ref, alt)
    header = _HEADER.format(contigs="".join(f"##contig=<ID={name},length={length}>\n"
                                            for name, length in contigs.items()),
                            seed=seed, sample=SYNTHETIC_TUMOUR)
    _bgzip_and_index(path, header, lines, threads)
    return path


def _alleles(rng, names, contig_index, positions, second, sequences):
    """REF from the FASTA; SNV, deletion (2-4 bp REF) or insertion (REF + 1-3 bases) ALTs."""
    kind = rng.choice(3, size=len(positions), p=[0.85, 0.08, 0.07])
    ref_length = np.where(kind == 1, rng.integers(2, 5, size=len(positions)), 1)
    later = np.flatnonzero(second)
    kind[later], ref_length[later] = kind[later - 1], ref_length[later - 1]
    ref = np.empty(len(positions), dtype=object)
    for index, name in enumerate(names):
        chosen = np.flatnonzero(contig_index == index)
        sequence = sequences[name]
        for size in np.unique(ref_length[chosen]):
            rows = chosen[ref_length[chosen] == size]
            starts = positions[rows] - 1
            pieces = [sequence[starts + k] for k in range(size)]
            joined = pieces[0].astype("U")
            for piece in pieces[1:]:
                joined = np.char.add(joined, piece.astype("U"))
            ref[rows] = joined
    ref = ref.astype("U")
    first_base = np.array([value[:1] for value in ref])
    shift = rng.integers(1, 4, size=len(ref))
    shift[later] = shift[later - 1] % 3 + 1  # a split site's two ALTs differ
    base_index = (np.searchsorted(BASES, np.where(np.isin(first_base, BASES), first_base, "A"))
                  + shift) % 4
    snv_alt = BASES[base_index]
    inserted = np.char.add(BASES[rng.integers(0, 4, size=len(ref))],
                           np.where(rng.random(len(ref)) < 0.5, BASES[base_index], ""))
    alt = np.where(kind == 0, snv_alt,
                   np.where(kind == 1, first_base, np.char.add(first_base, inserted)))
    # A split site keeps one kind: the second record repeats the first's REF with another ALT.
    # (three inserted bases: longer than any first insertion).
    alt = np.where(second & (kind != 0), _join(ref, BASES[base_index], "TG"), alt)
    return ref, alt


def _record_lines(rng, chrom, positions, ref, alt) -> np.ndarray:
    n = len(positions)
    t_depth = rng.integers(20, 400, size=n)
    t_alt = rng.binomial(t_depth, rng.uniform(0.02, 0.6, size=n))
    n_depth = rng.integers(15, 200, size=n)
    n_alt = rng.binomial(n_depth, 0.01)
    fisher = rng.random(n) ** 8
    has_normal = rng.random(n) >= 0.05
    status = np.where(has_normal, STATUSES[rng.integers(0, 3, size=n)], "tumour_only")
    t_vaf = np.char.mod("%.4g", t_alt / t_depth)
    info = _join("STATUS=", status, ";T_DP=", t_depth.astype("U"), ";T_ALT=", t_alt.astype("U"),
                 ";T_VAF=", t_vaf)
    normal = _join(";N_DP=", n_depth.astype("U"), ";N_ALT=", n_alt.astype("U"), ";N_VAF=",
                   np.char.mod("%.4g", n_alt / n_depth), ";FISHER_P=",
                   np.char.mod("%.7g", fisher))
    info = np.char.add(info, np.where(has_normal, normal, ""))
    depth = t_depth.astype("U")
    ad = _join(np.char.mod("%d", t_depth - t_alt), ",", t_alt.astype("U"))
    ad = np.where(rng.random(n) < 0.02, ".", ad)
    sample = _join(np.where(t_alt * 4 > t_depth, "0/1", "0/0"), ":", ad, ":", depth)
    quality = np.char.mod("%.1f", rng.uniform(3, 250, size=n))
    filters = FILTERS[rng.integers(0, 4, size=n)]
    return _join(chrom, "\t", positions.astype("U"), "\t.\t", ref, "\t", alt, "\t", quality, "\t",
                 filters, "\t", info, "\tGT:AD:DP\t", sample, "\n")


def _join(*parts) -> np.ndarray:
    joined = np.asarray(parts[0], dtype="U")
    for part in parts[1:]:
        joined = np.char.add(joined, part)
    return joined


def _bgzip_and_index(path: Path, header: str, lines: np.ndarray, threads: int) -> None:
    """Through ``bcftools view`` (htslib writes the records, as csq's output is written) into
    bgzip, without the dated ##bcftools_viewCommand line (the same seed gives the same file)."""
    import threading

    with path.open("wb") as handle:
        bgzip = subprocess.Popen(["bgzip", "-c", "-@", str(threads)], stdin=subprocess.PIPE,
                                 stdout=handle)
        view = subprocess.Popen(["bcftools", "view", "-Ov", "-"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)

        def feed() -> None:
            view.stdin.write(header.encode())
            for start in range(0, len(lines), 200_000):
                view.stdin.write("".join(lines[start:start + 200_000]).encode())
            view.stdin.close()

        feeder = threading.Thread(target=feed)
        feeder.start()
        for line in iter(view.stdout.readline, b""):  # the header, line by line
            if not line.startswith(b"##bcftools_viewCommand="):
                bgzip.stdin.write(line)
            if line.startswith(b"#CHROM"):
                break
        while chunk := view.stdout.read(1 << 20):
            bgzip.stdin.write(chunk)
        feeder.join()
        bgzip.stdin.close()
        for name, process in (("bcftools view", view), ("bgzip", bgzip)):
            if process.wait() != 0:
                raise RuntimeError(f"{name} failed (exit {process.returncode})")
    subprocess.run(["tabix", "-f", "-p", "vcf", str(path)], check=True)


def time_vcf_import(workdir: str | Path, records: int, seed: int = 0) -> list[dict]:
    """Seconds of ``bcftools query`` (the export's fields, to a file), of export_variants
    (VCF -> Parquet) and of record counting per contig on one synthetic VCF, with the ratio of
    each to bcftools query. The bundled reference is indexed in ``workdir``."""
    import shutil
    import time

    import pysam

    from oncoweave.genome.gene_models import canonical_models
    from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
    from oncoweave.variants.export import export_variants
    from oncoweave.variants.inputs import _records_per_contig
    from oncoweave.variants.vcf_reading import _QUERY

    workdir = Path(workdir)
    fasta = workdir / "grch38_gene_regions.fa"
    shutil.copy(BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa", fasta)
    pysam.faidx(str(fasta))
    vcf = write_synthetic_vcf(workdir / f"synthetic_{records}.vcf.gz", fasta, records, seed=seed)
    query = "\t".join(list(_QUERY.values()) + ["%QUAL", "%INFO/FISHER_P"]) + "\n"
    timings = []

    def timed(step: str, run) -> None:
        start = time.perf_counter()
        run()
        timings.append({"step": step, "seconds": time.perf_counter() - start})

    def query_to_file() -> None:
        with (workdir / "query.tsv").open("wb") as handle:
            subprocess.run(["bcftools", "query", "-f", query, str(vcf)], stdout=handle,
                           check=True)

    timed("bcftools query (export fields)", query_to_file)
    models = canonical_models(BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3",
                              BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv")
    timed("oncoweave VCF -> Parquet (export)", lambda: export_variants(
        vcf, workdir / "variants.parquet", patient="P1", tumour_sample=SYNTHETIC_TUMOUR,
        normal_sample=None, contig_map=ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv"),
        transcripts=models, fasta_path=fasta, pair_identity="no_normal", purity=None,
        metadata={}))
    timed("oncoweave records per contig", lambda: _records_per_contig(vcf))
    baseline = timings[0]["seconds"]
    for timing in timings:
        timing["ratio_to_bcftools_query"] = timing["seconds"] / baseline
    return timings
