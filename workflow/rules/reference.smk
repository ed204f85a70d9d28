# The reference FASTA is linked into results/ so that its indexes are built there, never beside a
# read-only reference that a core shares.


rule link_reference:
    input:
        REFERENCE["fasta_source"],
    output:
        REFERENCE["fasta"],
    log:
        "logs/link_reference/genome.log",
    benchmark:
        "benchmarks/link_reference/genome.tsv"
    conda:
        "../../envs/align.yaml"
    threads: 1
    resources:
        mem_mb=100,
        runtime=5,
    shell:
        "ln -sf {input:q} {output:q} 2> {log}"


rule index_reference:
    input:
        REFERENCE["fasta"],
    output:
        REFERENCE["fasta"] + ".fai",
    log:
        "logs/index_reference/genome.log",
    benchmark:
        "benchmarks/index_reference/genome.tsv"
    conda:
        "../../envs/align.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    shell:
        "samtools faidx {input:q} 2> {log}"


rule index_reference_bwa:
    input:
        REFERENCE["fasta"],
    output:
        # One folder output (genome.fa.{amb,ann,bwt,pac,sa} inside): one file for each alignment
        # job to depend on instead of five.
        directory(BWA_INDEX),
    log:
        "logs/index_reference_bwa/genome.log",
    benchmark:
        "benchmarks/index_reference_bwa/genome.tsv"
    conda:
        "../../envs/align.yaml"
    threads: 1
    resources:
        # bwa index needs ~5.4 GB for a full GRCh38; seconds for the bundled regions.
        mem_mb=8000,
        runtime=120,
    params:
        prefix=BWA_INDEX_PREFIX,
    shell:
        "(mkdir -p {output:q} && bwa index -p {params.prefix:q} {input:q}) 2> {log}"
