"""The bundled toy cohort: simulated reads, VCFs, clinical outcomes and images."""
