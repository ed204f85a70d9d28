# Consequences (bcftools csq) and the variants tables: per patient, cohort Parquet and MAF.


rule annotate_consequences:
    input:
        calls="results/shards/{shard}/classified",
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
        gff3=REFERENCE["gff3"],
    output:
        directory("results/shards/{shard}/annotated"),
    log:
        "logs/annotate_consequences/{shard}.log",
    benchmark:
        "benchmarks/annotate_consequences/{shard}.tsv"
    conda:
        "../../envs/bcftools.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        patients=lambda wildcards: SHARDS[wildcards.shard],
    shell:
        # -l -s -: annotate each variant on its own, whatever its genotype. Genotype-aware modes drop
        # low-VAF tumour alleles (called 0/0) and merge unrelated hets into false compound changes;
        # -p a: calls are unphased (the default -p r stops on unphased heterozygous genotypes).
        # Then the header without its ##bcftools/csqCommand line (a date and paths that differ
        # between runs; ##bcftools/csqVersion stays, the variants table records it): the same
        # records, and two runs write the same file.
        "(mkdir -p {output:q} && for patient in {params.patients}; do"
        " out={output:q}/$patient"
        " && bcftools csq -l -s - -p a -f {input.fasta:q} -g {input.gff3:q} -Ob"
        " -o $out.csq.bcf {input.calls:q}/$patient.vcf.gz"
        " && bcftools view --no-version -h $out.csq.bcf"
        " | grep -v '^##bcftools[^=]*Command=' > $out.header"
        " && bcftools reheader -h $out.header -o $out.bcf $out.csq.bcf"
        " && rm $out.csq.bcf $out.header || exit 1; done) 2> {log}"


rule export_variants:
    input:
        annotated="results/shards/{shard}/annotated",
        identity="results/shards/{shard}/identity.tsv",
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
        gff3=REFERENCE["gff3"],
        canonical=REFERENCE["canonical_transcripts"],
    output:
        "results/shards/{shard}/variants.parquet",
    log:
        "logs/export_variants/{shard}.log",
    benchmark:
        "benchmarks/export_variants/{shard}.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        patients=shard_patient_rows,
        contig_map=REFERENCE["contig_map"],
        config_hash=CONFIG_HASH,
    script:
        "../scripts/export_variants.py"


rule merge_variants:
    input:
        shard_files("variants.parquet"),
    output:
        parquet="results/cohort/variants.parquet",
        maf="results/cohort/variants.maf",
    log:
        "logs/merge_variants/cohort.log",
    benchmark:
        "benchmarks/merge_variants/cohort.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        config_hash=CONFIG_HASH,
    script:
        "../scripts/merge_variants.py"
