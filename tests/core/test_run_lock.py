"""A killed run's lock is removed by the next run on the same host, and only then: not while its
holder runs, not when a newer run took the lock, not for a cluster run (which gets the commands
that resume it instead), not for a lock the workflow did not record."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from oncoweave.core.run_lock import HOLDER_RECORD, LOCK_FOLDER, clear_stale_lock, record_lock_holder


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _lock(workdir, mtime=None):
    (workdir / LOCK_FOLDER).mkdir(parents=True, exist_ok=True)
    locks = [workdir / LOCK_FOLDER / name for name in ("0.input.lock", "0.output.lock")]
    for lock in locks:
        lock.write_text("results/x\n")
        if mtime is not None:
            os.utime(lock, (mtime, mtime))
    return locks


def _record(workdir, pid, local=True, host=None):
    path = workdir / HOLDER_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host or socket.gethostname(), "pid": pid,
                                "local": local}))


def test_a_killed_local_runs_lock_is_removed_and_said(tmp_path):
    locks = _lock(tmp_path, mtime=time.time() - 60)
    _record(tmp_path, _dead_pid())
    message = clear_stale_lock(tmp_path)
    assert message.startswith("removed the lock left by a killed run")
    assert not any(lock.exists() for lock in locks)


@pytest.mark.parametrize("case", ["holder alive", "other host", "newer lock", "no record",
                                  "no lock"])
def test_a_lock_that_may_be_live_is_kept(tmp_path, case):
    locks = [] if case == "no lock" else _lock(tmp_path, mtime=time.time() - 60)
    if case == "holder alive":
        _record(tmp_path, os.getpid())
    elif case == "other host":
        _record(tmp_path, _dead_pid(), host="another-node")
    elif case == "newer lock":
        _record(tmp_path, _dead_pid())
        _lock(tmp_path, mtime=time.time() + 60)  # taken by a run after the recorded one
    elif case == "no lock":
        _record(tmp_path, _dead_pid())
    assert clear_stale_lock(tmp_path) is None
    assert all(lock.exists() for lock in locks)


def test_a_killed_cluster_runs_lock_is_kept_with_the_commands_that_resume_it(tmp_path):
    locks = _lock(tmp_path, mtime=time.time() - 60)
    _record(tmp_path, _dead_pid(), local=False)
    message = clear_stale_lock(tmp_path)
    assert "squeue --me" in message and "snakemake --unlock" in message
    assert all(lock.exists() for lock in locks)


def test_the_record_names_this_process_on_this_host(tmp_path):
    record_lock_holder(local=True, workdir=tmp_path)
    recorded = json.loads((tmp_path / HOLDER_RECORD).read_text())
    assert recorded == {"host": socket.gethostname(), "pid": os.getpid(), "local": True}
