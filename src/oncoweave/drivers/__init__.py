"""Driver scoring for TP53, BRCA1, BRCA2 and EGFR: features, training labels, the model, its
evaluation, scoring and figures."""
