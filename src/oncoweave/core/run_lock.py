"""Resuming a run that was killed: re-running the same command picks up where it stopped.

A run killed with SIGKILL (or a power loss) leaves Snakemake's lock in .snakemake/locks, and the
next run stops with LockException until `snakemake --unlock`. The workflow records the host and pid
of the process that holds the lock (when its run starts); a later run on the same host whose
recorded process is gone removes that stale lock and says so. Files the killed jobs left half
written are re-made by `rerun-incomplete` (profiles/default, Snakemake's workflow profile).

A lock left by a cluster run is not removed: its jobs may still be running on the nodes. The
message then names the commands that resume it. Standard library only (read at parse time).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

LOCK_FOLDER = Path(".snakemake") / "locks"
HOLDER_RECORD = Path(".snakemake") / "oncoweave" / "lock_holder.json"


def record_lock_holder(local: bool, workdir: str | Path = ".") -> None:
    """Record this process as the holder of the run's lock (call when the run starts)."""
    record = Path(workdir) / HOLDER_RECORD
    record.parent.mkdir(parents=True, exist_ok=True)
    temporary = record.with_name(f".{record.name}.{os.getpid()}")
    temporary.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                     "local": bool(local)}))
    os.replace(temporary, record)


def clear_stale_lock(workdir: str | Path = ".") -> str | None:
    """Remove the lock a killed local run left behind; return what was done (for the log), or
    None when there is no lock or its holder may still be running."""
    workdir = Path(workdir)
    locks = sorted((workdir / LOCK_FOLDER).glob("*.lock"))
    if not locks:
        return None
    record = workdir / HOLDER_RECORD
    try:
        holder = json.loads(record.read_text())
        host, pid, local = str(holder["host"]), int(holder["pid"]), bool(holder["local"])
        # The holder writes its record after taking the lock: a newer lock is another run's,
        # one that may be starting now.
        recorded_after_locking = max(lock.stat().st_mtime for lock in locks) <= \
            record.stat().st_mtime
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a lock this workflow recorded: Snakemake's own message stands
    if host != socket.gethostname() or _running(pid) or not recorded_after_locking:
        return None
    if not local:
        return (f"the cluster run started by process {pid} on {host} was killed and left its "
                "lock; its jobs may still be running: check `squeue --me`, cancel them or let "
                "them finish, then run `snakemake --unlock` and the same command again")
    for lock in locks:
        lock.unlink(missing_ok=True)
    return (f"removed the lock left by a killed run (process {pid} on {host}); this run resumes "
            "it, re-making what its jobs left incomplete")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
