"""Therapy evidence and matching, tumour mutational burden, immunotherapy response."""
