"""The torch modules of the fusion network: an encoder per modality, pooling over the modalities
a patient has, risk and response heads; modality dropout and the Cox loss that train it.

Each modality (a named group of columns of the patient feature table) has its own encoder, an MLP
``Linear -> LayerNorm -> GELU -> Dropout -> Linear`` to a shared embedding of ``embedding_dim``
numbers. The patient's representation is the pooling of the embeddings of the modalities the
patient *has* (``fusion="mean"``: their mean; ``"attention"``: gated-attention weights over
them), and two linear heads read it: a Cox risk (log hazard ratio) and a response logit.
LayerNorm rather than BatchNorm: a patient's prediction does not depend on who else is in the
batch, and a batch of one works.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from oncoweave.fusion.net_settings import FUSIONS


class ModalityEncoder(nn.Sequential):
    """One modality's columns (+ missingness indicators) -> its embedding."""

    def __init__(self, n_inputs: int, hidden_dim: int, embedding_dim: int, dropout: float):
        super().__init__(nn.Linear(n_inputs, hidden_dim), nn.LayerNorm(hidden_dim), nn.GELU(),
                         nn.Dropout(dropout), nn.Linear(hidden_dim, embedding_dim))


class FusionNet(nn.Module):
    """Per-modality encoders, pooling over the present modalities, a risk and a response head.

    ``forward(inputs, present)``: ``inputs`` is one (n, n_inputs[m]) tensor per modality in the
    order of ``n_inputs``; ``present`` is an (n, n_modalities) bool tensor. Returns
    ``(risk, response_logit, fused)`` of shapes (n,), (n,), (n, embedding_dim). A row with no
    present modality gets a zero fused vector (the caller masks its outputs).
    """

    def __init__(self, n_inputs: Mapping[str, int], hidden_dim: int = 32,
                 embedding_dim: int = 16, dropout: float = 0.3, fusion: str = "mean"):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.modalities = list(n_inputs)
        self.fusion = fusion
        self.encoders = nn.ModuleDict({
            name: ModalityEncoder(size, hidden_dim, embedding_dim, dropout)
            for name, size in n_inputs.items()})
        # Gated attention (Ilse et al. 2018), one score per modality embedding.
        self.attention = (nn.Sequential(nn.Linear(embedding_dim, embedding_dim), nn.Tanh(),
                                        nn.Linear(embedding_dim, 1))
                          if fusion == "attention" else None)
        self.risk_head = nn.Linear(embedding_dim, 1)
        self.response_head = nn.Linear(embedding_dim, 1)

    def fuse(self, inputs: Sequence[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        embeddings = torch.stack([self.encoders[name](x)
                                  for name, x in zip(self.modalities, inputs)], dim=1)
        if self.attention is None:
            weights = present.to(embeddings.dtype)
            weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        else:
            scores = self.attention(embeddings).squeeze(-1).masked_fill(~present, -torch.inf)
            # A row with nothing present would be all -inf: softmax of zeros, then masked to 0.
            scores = torch.where(present.any(dim=1, keepdim=True), scores,
                                 torch.zeros_like(scores))
            weights = torch.softmax(scores, dim=1) * present.to(embeddings.dtype)
        return (embeddings * weights.unsqueeze(-1)).sum(dim=1)

    def forward(self, inputs: Sequence[torch.Tensor], present: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fused = self.fuse(inputs, present)
        return self.risk_head(fused).squeeze(-1), self.response_head(fused).squeeze(-1), fused


def drop_modalities(present: torch.Tensor, probability: float,
                    generator: torch.Generator) -> torch.Tensor:
    """``present`` with each True hidden with ``probability``, keeping >= 1 per row that had one."""
    draws = torch.rand(present.shape, generator=generator, device=present.device)
    kept = present & (draws >= probability)
    # Rows left with nothing keep the present modality with the highest draw.
    rescue = torch.nn.functional.one_hot(draws.masked_fill(~present, -1.0).argmax(dim=1),
                                         present.shape[1]).bool()
    empty = (~kept.any(dim=1, keepdim=True)) & present.any(dim=1, keepdim=True)
    return kept | (rescue & empty)


def cox_loss(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood with Breslow's tie handling, averaged over events.

    For each event i: risk_i - log(sum of exp(risk_j) over j with time_j >= time_i); everyone
    tied at time_i is in the risk set (Breslow). Zero (with a gradient) when there is no event.
    """
    order = torch.argsort(time, descending=True, stable=True)
    risk, time, event = risk[order], time[order], event[order]
    log_cumulative = torch.logcumsumexp(risk, dim=0)
    # Sorted by decreasing time, the risk set of a tie group ends at its last member.
    ascending = -time.contiguous()
    last_of_ties = torch.searchsorted(ascending, ascending, right=True) - 1
    log_risk_set = log_cumulative[last_of_ties]
    n_events = event.sum()
    return -((risk - log_risk_set) * event).sum() / n_events.clamp(min=1.0)
