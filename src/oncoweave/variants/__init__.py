"""From input files to the variants table: input checks, pair identity, classification, export,
the cohort table and its MAF."""
