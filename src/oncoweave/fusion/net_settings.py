"""Settings of the fusion network and its training (the ``fusion.network`` config section);
importing them does not import torch."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from oncoweave.core.errors import InputError
from oncoweave.core.settings import settings_from_config

FUSIONS = ("mean", "attention")


@dataclass(frozen=True)
class FusionNetSettings:
    """Everything that decides the network and its training.

    The defaults were chosen on a synthetic cohort and on TCGA-BLCA's MCAT folds (a lower
    learning rate, 100 epochs and dropout 0.5 overfit least; attention pooling and early stopping
    did no better there). They train the toy cohort (8-40 patients) in well under a second.
    """

    seed: int = 0
    hidden_dim: int = 32  # width of each modality encoder's hidden layer
    embedding_dim: int = 16  # size of every modality's embedding and of the fused one
    dropout: float = 0.5  # inside the encoders
    modality_dropout: float = 0.25  # chance of hiding a present modality, per patient and step
    fusion: str = "mean"  # "mean" or "attention" pooling over the present modalities
    epochs: int = 100
    batch_size: int = 0  # 0: full batch (the Cox risk set is the whole training set)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2  # AdamW's decoupled weight decay
    response_weight: float = 1.0  # weight of the response BCE against the Cox loss
    validation_fraction: float = 0.0  # > 0: early stopping on a seeded inner validation split
    patience: int = 20  # epochs without a better validation loss before stopping
    log_every: int = 25  # log (epoch, loss) every this many epochs
    # CPU threads while fitting (0: torch's default). The network is small: one thread is about
    # as fast, and far faster when other jobs share the cores (OpenMP threads then spin-wait).
    torch_threads: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None,
                    source: str | Path | None = None) -> FusionNetSettings:
        """Settings from a dict (e.g. a YAML section); unknown keys and bad values are refused."""
        settings = settings_from_config(cls, config, "fusion network", source)
        settings.validate(source)
        return settings

    def validate(self, source: str | Path | None = None) -> None:
        problems = []
        for name in ("hidden_dim", "embedding_dim", "epochs", "patience", "log_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.torch_threads < 0:
            problems.append("torch_threads must be >= 0 (0: torch's default)")
        if self.batch_size < 0:
            problems.append("batch_size must be >= 0 (0: full batch)")
        for name in ("dropout", "modality_dropout"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1)")
        if not 0 <= self.validation_fraction < 0.5:
            problems.append("validation_fraction must be in [0, 0.5)")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            problems.append("learning_rate must be > 0")
        for name in ("weight_decay", "response_weight"):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                problems.append(f"{name} must be >= 0")
        if self.fusion not in FUSIONS:
            problems.append(f"fusion must be one of {', '.join(FUSIONS)}")
        if problems:
            raise InputError(f"bad fusion network settings: {'; '.join(problems)}", path=source)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
