# Re-running the same command after a kill resumes the run: a lock left by a killed local run is
# removed (oncoweave.core.run_lock) and what its jobs left half written is re-made
# (rerun-incomplete, profiles/default).
from snakemake.logging import logger

from oncoweave.core import run_lock

if not (workflow.remote_exec or workflow.subprocess_exec):
    _resumed = run_lock.clear_stale_lock()
    if _resumed:
        logger.warning(f"oncoweave: {_resumed}")


onstart:
    run_lock.record_lock_holder(local=workflow.local_exec)
