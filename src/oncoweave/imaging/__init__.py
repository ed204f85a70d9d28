"""Imaging: de-identified ingest, radiomics, deep features from a MONAI encoder."""
