"""A real single-node Slurm cluster for tests: munged, slurmctld and slurmd from Debian's
packages, every file under one temporary directory, started and stopped by the fixture.

Private everywhere it matters, so it never meets a system Slurm or munge: its own munge
key and socket, its own ports, state, spool, pid and log files, and clients that find it
through SLURM_CONF alone. The daemons run in the foreground as this process's children
(`-D`, `-F`), so stopping them is terminating our own processes by pid.

Config choices: select/cons_tres over 2 CPUs (config_overrides: whatever the machine has),
proctrack/linuxproc and task/none (no cgroups in a container), SlurmUser=root (the suite
runs as root), OverTimeLimit=0 and a short KillWait, so a time limit acts when it says.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = {"slurmctld": "slurmctld", "slurmd": "slurmd", "sbatch": "slurm-client",
            "munged": "munge"}
CPUS = 2
KILL_WAIT = 5  # seconds between a time limit's SIGTERM and its SIGKILL
PARTITION = "debug"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmCluster:
    def __init__(self, root: Path):
        self.root = root
        self.node = subprocess.run(["hostname", "-s"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        self.conf = root / "slurm.conf"
        self.munge_socket = root / "munge" / "munge.socket"
        self.procs: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # --- files ---------------------------------------------------------------------------
    def _write_munge(self) -> None:
        folder = self.munge_socket.parent
        folder.mkdir()
        os.chmod(folder, 0o755)  # munged: clients must reach its socket; the key stays 0400
        key = folder / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)

    def _write_conf(self) -> None:
        r = self.root
        for sub in ("state", "spool", "log"):
            (r / sub).mkdir()
        self.conf.write_text(f"""\
ClusterName=nastest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SlurmdParameters=config_overrides
ReturnToService=2
KillWait={KILL_WAIT}
OverTimeLimit=0
MinJobAge=300
InactiveLimit=0
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={CPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

    # --- daemons -------------------------------------------------------------------------
    def _spawn(self, *argv: str) -> None:
        log = open(self.root / "log" / f"{Path(argv[0]).name}.out", "ab")
        self.procs.append(subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT))

    def start(self, timeout: float = 60) -> None:
        self._write_munge()
        self._write_conf()
        m = self.munge_socket.parent
        self._spawn("munged", "-F", f"--socket={self.munge_socket}", f"--key-file={m}/munge.key",
                    f"--log-file={m}/munged.log", f"--pid-file={m}/munged.pid",
                    f"--seed-file={m}/munged.seed")
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged's socket")
        self._spawn("slurmctld", "-D", "-f", str(self.conf))
        self._wait(lambda: self.run("scontrol", "ping").returncode == 0, timeout, "slurmctld")
        self._spawn("slurmd", "-D", "-f", str(self.conf), "-N", self.node)
        self._wait(lambda: self.node_state() == "idle", timeout, "the node to be idle")

    def node_state(self) -> str:
        return self.run("sinfo", "-h", "-n", self.node, "-o", "%t").stdout.strip()

    def run(self, *argv: str, check: bool = False) -> subprocess.CompletedProcess:
        out = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=30)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {out.returncode}: {out.stderr}")
        return out

    def _wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited {proc.returncode} while waiting "
                                       f"for {what}: see {self.root / 'log'}\n{self.logs()}")
            if condition():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text()[-3000:]
                         for p in sorted((self.root / "log").glob("*")) if p.is_file())

    def jobs(self) -> list[str]:
        """Every job the controller still lists as pending or running."""
        out = self.run("squeue", "-h", "-r", "-o", "%i %T")
        return out.stdout.split("\n") if out.stdout.strip() else []

    def stop(self, timeout: float = 30) -> None:
        """Cancel what still runs, wait for it to leave, then stop the daemons (ours, by pid)."""
        if self.procs and all(p.poll() is None for p in self.procs):
            self.run("scancel", "--full", "--signal=KILL", "--user=root")
            deadline = time.monotonic() + timeout
            while self.jobs() and time.monotonic() < deadline:
                time.sleep(0.2)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
