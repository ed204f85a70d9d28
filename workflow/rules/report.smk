# The cohort report (`snakemake --report report.zip`, or report.html for a small cohort): figures
# and tables over the cohort's Parquet tables, each wrapped in report() under its stage's category
# (the categories are described in workflow/report/workflow.rst). Other stages wrap their own
# outputs: MultiQC (report_qc), saturation lollipops (score_saturation), run time
# (gather_benchmarks).


rule plot_oncoprint:
    input:
        unpack(oncoprint_inputs),
    output:
        report(
            "results/report/oncoprint.png",
            caption="../report/oncoprint.rst",
            category="Variants",
            subcategory="Cohort overview",
        ),
    log:
        "logs/plot_oncoprint/oncoprint.log",
    benchmark:
        "benchmarks/plot_oncoprint/oncoprint.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        patients=PATIENTS,
        driver_threshold=config["fusion"]["driver_threshold"],
    script:
        "../scripts/plot_oncoprint.py"


rule plot_lollipop:
    input:
        drivers="results/cohort/drivers.parquet",
        domains=WORKFLOW_ROOT / "resources/drivers/protein_domains.tsv",
        proteins=WORKFLOW_ROOT / "resources/reference/canonical_proteins.fa",
    output:
        report(
            "results/report/lollipops/{gene}.png",
            caption="../report/lollipop.rst",
            category="Variants",
            subcategory="Lollipops",
            labels={"gene": "{gene}", "figure": "cohort mutations"},
        ),
    log:
        "logs/plot_lollipop/{gene}.log",
    benchmark:
        "benchmarks/plot_lollipop/{gene}.tsv"
    wildcard_constraints:
        gene=_one_of(DRIVER_GENES),
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        patients=PATIENTS,
        driver_threshold=config["fusion"]["driver_threshold"],
    script:
        "../scripts/plot_lollipop.py"


rule plot_vaf_distribution:
    input:
        "results/cohort/variants.parquet",
    output:
        report(
            "results/report/vaf_distribution.png",
            caption="../report/vaf_distribution.rst",
            category="Variants",
            subcategory="Cohort overview",
        ),
    log:
        "logs/plot_vaf_distribution/vaf_distribution.log",
    benchmark:
        "benchmarks/plot_vaf_distribution/vaf_distribution.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/plot_vaf_distribution.py"


rule tabulate_therapy_tiers:
    input:
        shard_files("therapies.parquet"),
    output:
        table="results/cohort/therapy_tiers.parquet",
        page=report(
            "results/report/therapy_tiers.html",
            caption="../report/therapy_tiers.rst",
            category="Therapies",
        ),
    log:
        "logs/tabulate_therapy_tiers/therapy_tiers.log",
    benchmark:
        "benchmarks/tabulate_therapy_tiers/therapy_tiers.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        patients=PATIENTS,
    script:
        "../scripts/tabulate_therapy_tiers.py"


rule summarize_radiomics:
    input:
        "results/cohort/radiomics.parquet",
    output:
        report(
            "results/report/radiomics_summary.html",
            caption="../report/radiomics_summary.rst",
            category="Imaging",
        ),
    log:
        "logs/summarize_radiomics/radiomics_summary.log",
    benchmark:
        "benchmarks/summarize_radiomics/radiomics_summary.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/summarize_radiomics.py"


rule check_cohort_tables:
    # The MAF is flagged for the report here, as an input: it is the file a reader downloads
    # for maftools or cBioPortal, and this rule is what checks it.
    input:
        unpack(cohort_tables),
        maf=report(
            "results/cohort/variants.maf",
            caption="../report/variants_maf.rst",
            category="Cohort tables",
        ),
    output:
        report(
            "results/report/cohort_tables.html",
            caption="../report/cohort_tables.rst",
            category="Cohort tables",
        ),
    log:
        "logs/check_cohort_tables/cohort_tables.log",
    benchmark:
        "benchmarks/check_cohort_tables/cohort_tables.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/check_cohort_tables.py"


rule summarize_copy_number:
    # Only when the config names a copy-number table (all_outputs asks for it then).
    input:
        "results/cohort/copy_number.parquet",
    output:
        report(
            "results/report/copy_number_summary.html",
            caption="../report/copy_number_summary.rst",
            category="Variants",
            subcategory="Cohort overview",
        ),
    log:
        "logs/summarize_copy_number/copy_number_summary.log",
    benchmark:
        "benchmarks/summarize_copy_number/copy_number_summary.tsv"
    conda:
        "../../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/summarize_copy_number.py"
