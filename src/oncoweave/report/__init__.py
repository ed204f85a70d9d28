"""The per-patient HTML report and the cohort report's figures and tables."""
