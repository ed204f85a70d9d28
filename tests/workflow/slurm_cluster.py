"""A throw-away single-node Slurm (munge + slurmctld + slurmd) for tests, and the user-profile link.

Everything lives in one private directory: its own munge socket, ports, state and pid files, so it
neither needs nor disturbs a Slurm or munge already on the machine. Facts behind the settings:
/work/shared/notes/slurm-ci.md (no accounting, squeue for status, GPU GRES on /dev/null links).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DEBIAN_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
COMMANDS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol", "sinfo", "scancel")
GPU_TYPE = "testgpu"
GPU_COUNT = 2
NODE_CPUS = 8          # beyond the hardware (config_overrides): group jobs ask for several
NODE_MEMORY_MB = 64000     # also beyond the hardware: the profile asks 8 GB per mapping job


def link_user_profile(repo: Path, name: str = "slurm", home: Path | None = None) -> Path:
    """Link ~/.config/snakemake/<name> -> <repo>/profiles/<name>, so `snakemake --profile <name>` works.

    Snakemake looks a bare profile name up in the working directory, then ~/.config/snakemake and
    /etc/xdg/snakemake. An existing link is replaced; a real folder there is the user's own: kept.
    """
    config_dir = (home or Path.home()) / ".config" / "snakemake"
    config_dir.mkdir(parents=True, exist_ok=True)
    link = config_dir / name
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not a link; remove it or merge by hand")
    link.symlink_to((repo / "profiles" / name).resolve(), target_is_directory=True)
    return link


def missing_commands() -> list[str]:
    return [c for c in COMMANDS if shutil.which(c) is None and not Path("/usr/sbin", c).exists()]


def ensure_installed() -> str | None:
    """Install the Slurm and munge Debian packages when missing; a reason to skip when impossible."""
    if not missing_commands():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"Slurm not installed ({', '.join(missing_commands())} missing) and not root with apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *DEBIAN_PACKAGES]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        result = subprocess.run(install, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            return f"apt-get install {' '.join(DEBIAN_PACKAGES)} failed: {result.stderr[-500:]}"
    return None if not missing_commands() else f"still missing after install: {missing_commands()}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    """One node (`hostname -s`) with partitions `main` (default) and `gpu`, and two fake GPUs."""

    root: Path
    partitions: tuple[str, ...] = ("main", "gpu")
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment for client commands (and snakemake): points them at this cluster."""
        path = os.pathsep.join([str(self.root / "bin"), os.environ.get("PATH", "")])
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    # ---- configuration ----------------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ("etc", "state", "spool", "log", "run", "dev", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._write_srun_shim()
        for i in range(GPU_COUNT):
            # gres File= must name a device: a link to /dev/null passes, a plain file is rejected.
            (self.root / "dev" / f"gpu{i}").symlink_to("/dev/null")
        (self.root / "etc" / "gres.conf").write_text(
            f"AutoDetect=off\nName=gpu Type={GPU_TYPE} File={self.root}/dev/gpu[0-{GPU_COUNT - 1}]\n")
        (self.root / "etc" / "task_prolog.sh").write_text(
            # `print` lines go to the job's output: evidence of the GPUs Slurm gave each job.
            '#!/bin/sh\necho "print oncoweave-slurm: SLURM_JOB_ID=$SLURM_JOB_ID'
            ' CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset}"\n')
        (self.root / "etc" / "task_prolog.sh").chmod(0o755)
        self.conf.write_text(self._slurm_conf())

    def _write_srun_shim(self) -> None:
        """`srun` that knows this cluster's slurm.conf.

        The jobstep plugin (0.6.1) strips every SLURM_* variable but a few ids, SLURM_CONF included,
        before its nested `srun`; a real cluster's /etc/slurm/slurm.conf (or configless DNS) does not
        need it, but a private test cluster does.
        """
        srun = shutil.which("srun") or "/usr/bin/srun"
        shim = self.root / "bin" / "srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {srun} "$@"\n')
        shim.chmod(0o755)

    def _slurm_conf(self) -> str:
        r = self.root
        first, *others = self.partitions
        lines = [
            "ClusterName=oncoweave-test",
            f"SlurmctldHost={self.node}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            f"AuthInfo=socket={r}/munge/munge.socket",
            "SlurmUser=root",
            f"StateSaveLocation={r}/state",
            f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/run/slurmctld.pid",
            f"SlurmdPidFile={r}/run/slurmd.pid",
            f"SlurmctldLogFile={r}/log/slurmctld.log",
            f"SlurmdLogFile={r}/log/slurmd.log",
            f"TaskProlog={r}/etc/task_prolog.sh",
            "MpiDefault=none",          # no PMIx library here; srun in jobs needs none
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "MinJobAge=3600",           # finished jobs stay visible to squeue for the whole run
            "MailProg=/bin/true",
            "GresTypes=gpu",
            f"NodeName={self.node} CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB}"
            f" Gres=gpu:{GPU_TYPE}:{GPU_COUNT} State=UNKNOWN",
            f"PartitionName={first} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            *(f"PartitionName={p} Nodes={self.node} MaxTime=INFINITE State=UP" for p in others),
        ]
        return "\n".join(lines) + "\n"

    # ---- daemons ----------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        self._start_munge()
        self._run(["slurmctld", "-c", "-f", str(self.conf)])
        self.pids["slurmctld"] = self._read_pid("slurmctld")
        self._run(["slurmd", "-f", str(self.conf)])
        self.pids["slurmd"] = self._read_pid("slurmd")
        self._wait_idle(timeout)

    def _start_munge(self) -> None:
        munge_dir = self.root / "munge"
        munge_dir.mkdir(exist_ok=True)
        munge_dir.chmod(0o711)  # munged insists that every client can traverse to its socket
        munge_user = pwd.getpwnam("munge")
        os.chown(munge_dir, munge_user.pw_uid, munge_user.pw_gid)
        self._run(["runuser", "-u", "munge", "--", "munged",
                   f"--socket={munge_dir}/munge.socket", f"--pid-file={munge_dir}/munged.pid",
                   f"--log-file={munge_dir}/munged.log", f"--seed-file={munge_dir}/munged.seed"])
        self.pids["munged"] = self._read_pid("munged", munge_dir / "munged.pid")

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr}{self.log_tail()}")

    def _read_pid(self, name: str, path: Path | None = None, timeout: float = 15) -> int:
        path = path or self.root / "run" / f"{name}.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            time.sleep(0.1)
        raise RuntimeError(f"{name} wrote no pid file {path}{self.log_tail()}")

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.query(["sinfo", "-h", "-N", "-o", "%T", "-n", self.node], check=False)
            if set(state.split()) == {"idle"}:  # one line per partition the node is in
                return
            time.sleep(0.5)
        raise RuntimeError(f"node {self.node} not idle after {timeout} s (state {state!r}){self.log_tail()}")

    def query(self, command: list[str], check: bool = True) -> str:
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=30)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr}")
        return result.stdout

    def stop(self, timeout: float = 20) -> None:
        """Cancel jobs left over, then stop slurmd, slurmctld and munged, each by its own PID."""
        if "slurmctld" in self.pids:
            self.query(["scancel", "--full", "-u", "root"], check=False)
            self._wait_no_running_jobs(timeout)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                _terminate(pid, timeout)

    def _wait_no_running_jobs(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.query(["squeue", "-h", "-t", "RUNNING,COMPLETING,PENDING"], check=False).strip():
                return
            time.sleep(0.5)

    def log_tail(self, lines: int = 15) -> str:
        tails = []
        for log in sorted((self.root / "log").glob("*.log")):
            tails.append(f"\n--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-lines:]))
        return "".join(tails)


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def start_cluster(partitions: tuple[str, ...] = ("main", "gpu")) -> SlurmCluster:
    """Write the configuration and start the daemons; stops whatever started if bring-up fails."""
    root = Path(tempfile.mkdtemp(prefix="oncoweave-slurm-"))
    root.chmod(0o755)  # munged (user munge) must reach its socket folder inside
    cluster = SlurmCluster(root, partitions=partitions)
    try:
        cluster.write_config()
        cluster.start()
    except BaseException:
        remove_cluster(cluster)
        raise
    return cluster


def remove_cluster(cluster: SlurmCluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.root, ignore_errors=True)
