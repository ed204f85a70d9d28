"""Multimodal fusion: patient features, survival metrics, models, evaluation, retrieval."""
