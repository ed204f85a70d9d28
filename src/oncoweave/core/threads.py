"""Thread pools of the libraries a single-threaded job calls: xgboost and OpenMP on one thread,
BLAS on one thread.

xgboost creates and fills its DMatrix with OpenMP threads (all cores) even when the model trains
on one (``n_jobs=1``); on a busy 2-core machine those threads wait on each other, so a label copy
of a few hundred rows took ~6 ms instead of ~0.1 ms, ~15 s of a toy-cohort fusion evaluation.
One thread changes no result: the models already train on one thread, and xgboost's data copies
and per-row predictions do not depend on the thread count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadpoolctl import threadpool_limits


@contextmanager
def single_threaded_openmp() -> Iterator[None]:
    """xgboost's global thread count and every loaded OpenMP runtime held to one thread while
    the block runs (xgboost is imported first, so its OpenMP runtime is among them)."""
    import xgboost
    from threadpoolctl import threadpool_limits

    with xgboost.config_context(nthread=1), threadpool_limits(limits=1, user_api="openmp"):
        yield


def single_threaded_blas() -> threadpool_limits:
    """BLAS on one thread: on tables of a few hundred rows extra threads only contend (a PCA of
    300 x 3000 took 7 s instead of 0.2 s, logistic fits on 964 x 21 were 10x slower, on a busy
    2-core machine)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
