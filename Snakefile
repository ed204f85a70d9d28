# `snakemake --cores N` from the checkout's root. The workflow's entry is workflow/Snakefile (where the
# Snakemake workflow catalog and `module:` users find it); this file only includes it.


include: "workflow/Snakefile"


# An included file's first or default_target rule is not the default target of the including file.
workflow.default_target = "all"
