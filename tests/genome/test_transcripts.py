"""Transcript models, HGVS c. notation and the targets BED, checked against published facts.

Known coordinates (GRCh38, ClinVar/COSMIC): TP53 c.524G>A p.R175H chr17:7675088 C>T; EGFR c.2573T>G
p.L858R chr7:55191822 T>G; EGFR c.2235_2249del (COSMIC's commonest exon-19 deletion, p.E746_A750del)
chr7:55174771 AGGAATTAAGAGAAGC>A; BRCA1 c.68_69del (185delAG) chr17:43124027 ACT>A; BRCA1 c.5266dup
(5382insC) chr17:43057062 T>TG; TP53 intron 6 is flanked by c.672 and c.673.
"""

from __future__ import annotations

import csv
import shutil

import pysam
import pytest

from oncoweave.cli.main import main
from oncoweave.core.errors import InputError
from oncoweave.genome.gene_models import canonical_models, canonical_transcripts, load_transcripts
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.genome.sequence import complement, left_normalise, reverse_complement, translate
from oncoweave.genome.hgvs_arrays import c_position_array, hgvs_c_array
from oncoweave.genome.transcripts import VariantError

GFF3 = BUNDLED_REFERENCE_DIR / "gene_models.regions.gff3"
CANONICAL = BUNDLED_REFERENCE_DIR / "canonical_transcripts.tsv"
CONTIGS = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    """The bundled reference, indexed in a temporary copy (indexes are not committed)."""
    copy = tmp_path_factory.mktemp("reference") / "grch38_gene_regions.fa"
    shutil.copy(BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa", copy)
    pysam.faidx(str(copy))
    with pysam.FastaFile(str(copy)) as handle:
        yield handle


@pytest.fixture(scope="module")
def models():
    return canonical_models(GFF3, CANONICAL)


def codon(transcript, protein_pos, fasta) -> str:
    bases = "".join(fasta.fetch(transcript.contig, p - 1, p)
                    for p in transcript.codon_positions(protein_pos))
    # codon_positions come in transcript order: a minus-strand codon only needs complementing
    return bases if transcript.strand == "+" else complement(bases)


def test_canonical_cds_translate_to_the_bundled_proteins(models, fasta):
    proteins = {record.name.split("_")[0]: record.sequence
                for record in pysam.FastxFile(str(BUNDLED_REFERENCE_DIR / "canonical_proteins.fa"))}
    with CANONICAL.open() as handle:
        lengths = {row["gene"]: int(row["protein_length_aa"])
                   for row in csv.DictReader(handle, delimiter="\t")}
    assert set(models) == {"TP53", "BRCA1", "BRCA2", "EGFR"}
    for gene, transcript in models.items():
        assert translate(transcript.cds_sequence(fasta)) == proteins[gene]
        assert transcript.protein_length == lengths[gene]


def test_ids_lose_their_version_and_genes_get_their_name(models):
    assert canonical_transcripts(CANONICAL)["TP53"] == "ENST00000269305"
    assert models["BRCA2"].transcript_id == "NM_000059"  # GFF3 ID carries .3
    assert models["TP53"].gene == "TP53"  # its gene feature is gene:ENSG00000141510
    tp53 = load_transcripts(GFF3, {"ENST00000269305.9"})["ENST00000269305"]
    assert (tp53.contig, tp53.strand, len(tp53.exons), len(tp53.cds)) == ("chr17_TP53", "-", 11, 10)
    assert tp53.exons == tuple(sorted(tp53.exons))


def test_tp53_r175h(models, fasta):
    tp53 = models["TP53"]
    assert tp53.cds_to_genomic(524) == 35088
    assert CONTIGS.to_genomic("chr17_TP53", 35088) == ("chr17", 7675088)
    assert tp53.hgvs_c(35088, "C", "T", fasta) == "c.524G>A"
    assert translate(codon(tp53, 175, fasta)) == "R"
    assert translate(codon(tp53, 175, fasta).replace("CGC", "CAC")) == "H"


def test_egfr_l858r(models, fasta):
    egfr = models["EGFR"]
    assert egfr.cds_to_genomic(2573) == 172806
    assert CONTIGS.to_genomic("chr7_EGFR", 172806) == ("chr7", 55191822)
    assert egfr.hgvs_c(172806, "T", "G", fasta) == "c.2573T>G"
    assert codon(egfr, 858, fasta) == "CTG"
    assert egfr.codon_positions(858)[1] == 172806


def test_egfr_exon19_deletions_keep_their_own_positions(models, fasta):
    # COSMIC lists c.2235_2249del and c.2236_2250del as two mutations: c.2250 (A) differs from
    # c.2235 (G), so neither slides onto the other; both delete residues E746-A750.
    egfr = models["EGFR"]
    cds = egfr.cds_sequence(fasta)
    assert cds[2234] == "G" and cds[2249] == "A"
    assert CONTIGS.to_genomic("chr7_EGFR", 155755) == ("chr7", 55174771)
    assert egfr.hgvs_c(155755, "AGGAATTAAGAGAAGC", "A", fasta) == "c.2235_2249del"
    assert egfr.hgvs_c(155756, "GGAATTAAGAGAAGCA", "G", fasta) == "c.2236_2250del"
    protein = translate(cds)
    assert protein[745:750] == "ELREA"
    for first in (2235, 2236):
        mutated = cds[:first - 1] + cds[first + 14:]
        assert translate(mutated) == protein[:745] + protein[750:]


def test_deletion_is_shifted_3prime_on_the_minus_strand(models, fasta):
    brca1 = models["BRCA1"]
    assert brca1.cds_sequence(fasta)[65:69] == "AGAG"  # c.66-69: deleting AG is ambiguous
    first, last = sorted((brca1.cds_to_genomic(66), brca1.cds_to_genomic(67)))
    anchor = first - 1
    ref = fasta.fetch("chr17_BRCA1", anchor - 1, last)
    assert brca1.hgvs_c(anchor, ref, ref[0], fasta) == "c.68_69del"
    assert left_normalise(fasta, "chr17_BRCA1", anchor, ref, ref[0]) == (124027, "ACT", "A")
    assert CONTIGS.to_genomic("chr17_BRCA1", 124027) == ("chr17", 43124027)


def first_homopolymer(transcript, fasta) -> int:
    """1-based c. of the first base of a 3-base run inside one CDS exon, with other bases around."""
    cds = transcript.cds_sequence(fasta)
    for i in range(1, len(cds) - 4):
        run = {cds[i], cds[i + 1], cds[i + 2]}
        if (len(run) == 1 and cds[i - 1] not in run and cds[i + 3] not in run
                and transcript.cds_to_genomic(i + 3) - transcript.cds_to_genomic(i + 1) == 2):
            return i + 1
    raise AssertionError("no homopolymer found")


def test_indels_in_a_run_are_shifted_3prime_on_the_plus_strand(models, fasta):
    brca2 = models["BRCA2"]
    run_start = first_homopolymer(brca2, fasta)
    anchor = brca2.cds_to_genomic(run_start) - 1
    two = fasta.fetch("chr13_BRCA2", anchor - 1, anchor + 1)  # anchor + first base of the run
    assert brca2.hgvs_c(anchor, two, two[0], fasta) == f"c.{run_start + 2}del"
    assert brca2.hgvs_c(anchor, two[0], two, fasta) == f"c.{run_start + 2}dup"


def test_dup_insertion_and_delins(models, fasta):
    brca1, egfr = models["BRCA1"], models["EGFR"]
    assert CONTIGS.to_genomic("chr17_BRCA1", 57062) == ("chr17", 43057062)
    assert brca1.hgvs_c(57062, "T", "TG", fasta) == "c.5266dup"
    # c.2573 T, c.2574 G: inserting A between them repeats neither neighbour
    assert egfr.cds_sequence(fasta)[2572:2574] == "TG"
    assert egfr.hgvs_c(172806, "T", "TA", fasta) == "c.2573_2574insA"
    assert egfr.hgvs_c(172806, "TG", "GT", fasta) == "c.2573_2574delinsGT"
    # minus strand: the inserted bases are written in transcript orientation
    tp53 = models["TP53"]
    c524 = tp53.cds_to_genomic(524)
    assert tp53.hgvs_c(c524 - 1, "G", "GCC", fasta) == "c.524_525insGG"


def test_c_positions_in_introns_and_utrs(models, fasta):
    tp53, egfr = models["TP53"], models["EGFR"]
    last_of_exon6 = tp53.cds_to_genomic(672)
    assert tp53.cds_to_genomic(673) < last_of_exon6  # minus strand
    assert tp53.c_position(last_of_exon6 - 1) == "672+1"
    acceptor = tp53.cds_to_genomic(673) + 2
    assert tp53.c_position(acceptor) == "673-2"
    # the intron ends in the AG splice-acceptor consensus
    assert reverse_complement(fasta.fetch("chr17_TP53", acceptor - 2, acceptor)) == "AG"
    assert tp53.hgvs_c(acceptor, "T", "C", fasta) == "c.673-2A>G"
    assert egfr.cds[0][0] == 262 and egfr.c_position(250) == "-12"
    assert tp53.c_position(tp53.cds_to_genomic(1182) - 5) == "*5"
    assert tp53.c_position(tp53.cds_to_genomic(1) + 1) == "-1"


def test_variants_outside_the_transcript_have_no_hgvs(models, fasta):
    tp53 = models["TP53"]
    position = tp53.start - 100
    base = fasta.fetch("chr17_TP53", position - 1, position)
    assert tp53.hgvs_c(position, base, "A" if base != "A" else "C", fasta) is None
    with pytest.raises(ValueError, match="does not match"):
        tp53.hgvs_c(35088, "G", "T", fasta)


def test_make_targets_reproduces_the_committed_bed(tmp_path, models):
    output = tmp_path / "targets.bed"
    assert main(["make-targets", "--flank", "20", "--output", str(output)]) == 0
    assert output.read_text() == (BUNDLED_REFERENCE_DIR / "targets.bed").read_text()
    rows = [line.split("\t") for line in output.read_text().splitlines()]
    keys = [(contig, int(start)) for contig, start, _, _ in rows]
    assert keys == sorted(keys)
    for contig, start, end, gene in rows:
        assert models[gene].contig == contig
    tp53_last_exon = models["TP53"].cds[0]  # 29609-29690 -> BED 29588-29710
    assert ["chr17_TP53", str(tp53_last_exon[0] - 21), str(tp53_last_exon[1] + 20), "TP53"] in rows


def test_targets_without_flank_cover_exactly_the_cds(tmp_path, models):
    output = tmp_path / "cds.bed"
    assert main(["make-targets", "--flank", "0", "--output", str(output)]) == 0
    covered = sum(int(end) - int(start) for _, start, end, _ in
                  (line.split("\t") for line in output.read_text().splitlines()))
    assert covered == sum(t.cds_length for t in models.values()) == 1182 + 5592 + 10257 + 3633


def test_bad_gff3_names_file_and_row(tmp_path):
    gff3 = tmp_path / "bad.gff3"
    gff3.write_text("##gff-version 3\nchr1\tx\tmRNA\t10\tten\t.\t+\t.\tID=transcript:T1\n")
    with pytest.raises(InputError, match=r"bad.gff3, row 2, column 'end'"):
        load_transcripts(gff3)
    with pytest.raises(InputError, match=r"gene_models.regions.gff3: transcripts not found: ENST0"):
        load_transcripts(GFF3, {"ENST00000000000.1"})


def test_bad_canonical_table_and_cli_error(tmp_path, capsys):
    table = tmp_path / "canonical.tsv"
    table.write_text("gene\ttranscript\nTP53\tENST00000269305.9\n")
    with pytest.raises(InputError,
                       match=r"canonical.tsv: missing columns \['canonical_transcript'\]"):
        canonical_transcripts(table)
    output = tmp_path / "out.bed"
    assert main(["make-targets", "--canonical", str(table), "--output", str(output)]) == 2
    assert "canonical.tsv" in capsys.readouterr().err
    assert not output.exists() and list(tmp_path.iterdir()) == [table]


@pytest.mark.parametrize("gene", ["TP53", "BRCA1", "BRCA2", "EGFR"])
def test_array_c_positions_and_hgvs_equal_the_one_by_one_texts(models, fasta, gene):
    """The export's array path (c_position_array, hgvs_c_array) against c_position and hgvs_c: every
    exon edge +-3, both UTRs and beyond the ends, and seeded SNVs, deletions and insertions."""
    import numpy as np

    transcript = models[gene]
    rng = np.random.default_rng(7)
    length = fasta.get_reference_length(transcript.contig)
    edges = [np.arange(edge - 3, edge + 4) for exon in transcript.exons for edge in exon]
    positions = np.unique(np.concatenate(
        edges + [rng.integers(max(1, transcript.start - 300),
                              min(length, transcript.end + 300), 3000)]))
    assert c_position_array(transcript, positions).to_pylist() == [transcript.c_position(int(p)) for p in positions]
    sites = rng.integers(max(2, transcript.start - 50), min(length - 10, transcript.end + 50), 3000)
    kinds = rng.choice(3, size=len(sites), p=[0.8, 0.1, 0.1])
    refs, alts = [], []
    for site, kind in zip(sites.tolist(), kinds.tolist()):
        ref = fasta.fetch(transcript.contig, site - 1, site + (2 if kind == 1 else 0)).upper()
        following = fasta.fetch(transcript.contig, site, site + 2).upper()
        refs.append(ref)
        alts.append({0: "ACGT"[("ACGT".index(ref[0]) + 1) % 4] if ref[0] in "ACGT" else "A",
                     1: ref[0], 2: ref + ("A" if site % 2 else following)}[kind])
    expected = [transcript.hgvs_c(site, ref, alt, fasta)
                for site, ref, alt in zip(sites.tolist(), refs, alts)]
    assert hgvs_c_array(transcript, sites, refs, alts, fasta).to_pylist() == expected
    assert any(text and text.endswith("dup") for text in expected)
    wrong = list(refs)
    wrong[5] = "ACGT"[("ACGT".index(refs[5][0]) + 1) % 4] + refs[5][1:]
    wrong[9] = "N"
    with pytest.raises(VariantError, match="does not match the reference") as caught:
        hgvs_c_array(transcript, sites, wrong, alts, fasta)
    assert caught.value.index == 5
