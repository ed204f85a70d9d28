"""The therapy stage's command defaults, importable for nothing (standard library only): the depth
and the territory a panel TMB estimate needs."""

from __future__ import annotations

DEFAULT_MIN_DEPTH = 20  # a depth mosdepth --thresholds counts
DEFAULT_MIN_CALLABLE_MB = 1.0  # smallest callable territory for a reportable TMB
