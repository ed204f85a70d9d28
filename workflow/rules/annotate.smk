# Consequences (bcftools csq) and the variants tables: per patient, cohort Parquet and MAF.


rule annotate_consequences:
    input:
        vcf="results/calls/{patient}/classified.vcf.gz",
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
        gff3=REFERENCE["gff3"],
    output:
        "results/annotated/{patient}.bcf",
    log:
        "logs/annotate_consequences/{patient}.log",
    benchmark:
        "benchmarks/annotate_consequences/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/bcftools.yaml"
    shell:
        # -l -s -: annotate each variant on its own, whatever its genotype. Genotype-aware modes drop
        # low-VAF tumour alleles (called 0/0) and merge unrelated hets into false compound changes;
        # -p a: calls are unphased (the default -p r stops on unphased heterozygous genotypes).
        "bcftools csq -l -s - -p a -f {input.fasta:q} -g {input.gff3:q} -Ob -o {output:q} {input.vcf:q}"
        " 2> {log}"


rule export_variants:
    input:
        bcf="results/annotated/{patient}.bcf",
        identity="results/qc/identity/{patient}.tsv",
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
        gff3=REFERENCE["gff3"],
        canonical=REFERENCE["canonical_transcripts"],
    output:
        "results/variants/{patient}.parquet",
    params:
        samples=patient_sample_names,
        purity=tumour_purity,
        contig_map=REFERENCE["contig_map"],
        config_hash=CONFIG_HASH,
    log:
        "logs/export_variants/{patient}.log",
    benchmark:
        "benchmarks/export_variants/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/export_variants.py"


rule merge_variants:
    input:
        expand("results/variants/{patient}.parquet", patient=PATIENTS),
    output:
        parquet="results/cohort/variants.parquet",
        maf="results/cohort/variants.maf",
    params:
        config_hash=CONFIG_HASH,
    log:
        "logs/merge_variants/cohort.log",
    benchmark:
        "benchmarks/merge_variants/cohort.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/merge_variants.py"
