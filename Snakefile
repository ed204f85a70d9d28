# oncoweave: a precision-oncology cohort from reads to annotated variants (see README.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/paths.smk"
include: "workflow/rules/toy.smk"
include: "workflow/rules/sheets.smk"
include: "workflow/rules/input_functions.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/call.smk"
include: "workflow/rules/annotate.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/drivers.smk"
include: "workflow/rules/therapies.smk"
include: "workflow/rules/imaging.smk"
include: "workflow/rules/fusion.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/patient_report.smk"


rule all:
    input:
        all_outputs(),
        "results/benchmarks.parquet",
    default_target: True
