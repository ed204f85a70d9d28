"""oncoweave: precision-oncology cohort workflow (Snakemake) and the science behind it."""

__version__ = "0.1.0"
