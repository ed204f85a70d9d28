# Calling: one pileup of each patient's tumour (+ normal) to normalised candidates, a tumour/normal
# identity check, and the somatic / germline / LOH / tumour-only classification (oncoweave.variants.classify).


rule call_variants:
    input:
        unpack(patient_bams),
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
        targets=REFERENCE["targets"],
    output:
        vcf="results/calls/{patient}/candidates.vcf.gz",
        tbi="results/calls/{patient}/candidates.vcf.gz.tbi",
    params:
        # Name each BAM's reads after its sheet sample, whatever SM tag the BAM carries.
        sample_names=bam_sample_names,
        min_bq=config["calling"]["min_base_quality"],
        min_mq=config["calling"]["min_mapping_quality"],
    log:
        "logs/call_variants/{patient}.log",
    benchmark:
        "benchmarks/call_variants/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    conda:
        "../../envs/bcftools.yaml"
    shell:
        # -d/-L lift the depth caps (indels vanish at high depth otherwise); -p applies -m/-F per sample,
        # so a 10 % tumour indel is a candidate even when the pooled fraction is lower; call -m -A keeps
        # every allele seen, the classification decides later. Then left-align and split multiallelic
        # sites, and keep only sites where a real allele was seen.
        "(bcftools mpileup -f {input.fasta:q} -T {input.targets:q} -G <(printf '%s' {params.sample_names:q})"
        " -a FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP -d 100000 -L 100000 -p -m 2 -F 0.02"
        " -q {params.min_mq} -Q {params.min_bq} -Ou {input.bams:q}"
        " | bcftools call -m -A -Ou"
        " | bcftools norm -f {input.fasta:q} -m -any -Ou"
        " | bcftools view -e 'ALT=\"<*>\" || ALT=\".\"' -Oz -o {output.vcf:q}"
        " && bcftools index -t {output.vcf:q}) 2> {log}"


rule import_vcf:
    input:
        vcf=input_vcf,
        fasta=REFERENCE["fasta"],
        fai=REFERENCE["fasta"] + ".fai",
    output:
        vcf="results/calls/{patient}/imported.vcf.gz",
        tbi="results/calls/{patient}/imported.vcf.gz.tbi",
    params:
        samples=patient_sample_names,
        contig_map=REFERENCE["contig_map"],
        label=vcf_row_label,
    log:
        "logs/import_vcf/{patient}.log",
    benchmark:
        "benchmarks/import_vcf/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/import_vcf.py"


rule check_sample_identity:
    input:
        candidate_calls,
    output:
        "results/qc/identity/{patient}.tsv",
    params:
        samples=patient_sample_names,
        settings=config["identity"],
    log:
        "logs/check_sample_identity/{patient}.log",
    benchmark:
        "benchmarks/check_sample_identity/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/check_sample_identity.py"


rule classify_variants:
    input:
        vcf=candidate_calls,
        identity="results/qc/identity/{patient}.tsv",
    output:
        vcf="results/calls/{patient}/classified.vcf.gz",
        tbi="results/calls/{patient}/classified.vcf.gz.tbi",
    params:
        samples=patient_sample_names,
        thresholds=config["calling"]["thresholds"],
    log:
        "logs/classify_variants/{patient}.log",
    benchmark:
        "benchmarks/classify_variants/{patient}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/classify_variants.py"
