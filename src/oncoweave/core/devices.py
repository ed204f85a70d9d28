"""Where computation runs: the torch device of a GPU rule (CUDA when the job has one, else the
CPU), and BLAS held to one thread for the small tables the models fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncoweave.core.errors import InputError

if TYPE_CHECKING:
    import torch
    from threadpoolctl import threadpool_limits


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


def single_threaded_blas() -> threadpool_limits:
    """BLAS on one thread: on tables of a few hundred rows extra threads only contend (a PCA of
    300 x 3000 took 7 s instead of 0.2 s, logistic fits on 964 x 21 were 10x slower, on a busy
    2-core machine)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
