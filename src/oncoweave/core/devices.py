"""Where computation runs: the torch device of a GPU rule (CUDA when the job has one, else the
CPU), and torch's CPU threads while a model fits or predicts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError

if TYPE_CHECKING:
    import torch


def select_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"device must be cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device cuda was asked for but torch sees no CUDA device")
    return torch.device(device)


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """``threads`` torch CPU threads inside (0: unchanged), the caller's count restored."""
    import torch

    was_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(was_threads)
