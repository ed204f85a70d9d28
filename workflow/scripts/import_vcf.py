"""A patient given as a VCF enters after calling: brought to reference contig coordinates."""
from oncoweave.cli.glue import run_step
from oncoweave.genome.reference import ContigMap, fasta_contigs
from oncoweave.variants.inputs import check_vcf_contigs, import_vcf


def main():
    contig_map = ContigMap.from_tsv(snakemake.params.contig_map)
    samples = snakemake.params.samples
    check_vcf_contigs(snakemake.input.vcf, fasta_contigs(snakemake.input.fai), contig_map)
    summary = import_vcf(snakemake.input.vcf, snakemake.output.vcf,
                         reference_fasta=snakemake.input.fasta, contig_map=contig_map,
                         tumour_sample=samples["tumour"], normal_sample=samples["normal"])
    print(summary)


run_step(snakemake, main)
