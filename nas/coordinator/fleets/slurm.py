"""Workers as one Slurm job array per `nas workers up N --via slurm`: `sbatch --array=1-N`
of the packaged nas-workers.sbatch (deploy/slurm/ links to it), one `nas worker` per task.

Found again through the job ids `sbatch --parsable` printed (kept in $NAS_HOME/workers.slurm)
and squeue's own output. Stopped like every other fleet: one SIGTERM to each running task
(`scancel --signal=TERM --full`: plain scancel would SIGKILL after KillWait, often 30 s,
less than a generation), so the worker re-queues its trial at a generation boundary and
exits 0; after the stop grace, plain scancel for whatever is left. A task nearing its time
limit gets the same SIGTERM from the script's `--signal=B:TERM@120`.

The password reaches the jobs in a file under $NAS_HOME/secrets (NAS_DATABASE_PASSWORD_FILE),
never in sbatch's argv, the job script or the job's environment: $NAS_HOME, like the logs
under it, must be on a filesystem the compute nodes share.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nas import defaults, paths
from nas.coordinator.fleets.docker import split_secret
from nas.coordinator.fleets.options import FleetOptions
from nas.errors import NasError
from nas.store.url import parse

SBATCH_SCRIPT = Path(__file__).with_name("nas-workers.sbatch")
# squeue fields: array job id (what sbatch printed), task id, state, elapsed, limit,
# node list when running or the reason when pending.
FORMAT = "%F|%i|%T|%M|%l|%R"
# Slurm's answers for a job that ended between squeue and scancel: nothing left to stop.
GONE = ("Invalid job id", "already completing or completed")
COMMAND_TIMEOUT = 120  # sbatch retries for a while when slurmctld is busy


@dataclass(frozen=True)
class Task:
    job: str
    id: str
    state: str
    elapsed: str
    limit: str
    where: str

    def line(self) -> str:
        if self.state == "PENDING":
            return f"slurm job {self.id} PENDING ({self.where})"
        return f"slurm job {self.id} {self.state} {self.elapsed} of {self.limit} on {self.where}"


def cpus_per_task(cpus: int | None, threads: int | None) -> int | None:
    """--cpus, else --threads, else NAS_THREADS, else None (the script's own default):
    one number, since the worker's threads are the CPUs Slurm gives its task."""
    if cpus and threads and cpus != threads:
        raise NasError(f"--cpus {cpus} and --threads {threads} disagree: under Slurm a worker's "
                       "threads are its task's CPUs, give one of them")
    if cpus or threads:
        return cpus or threads
    if defaults.threads_setting():
        return defaults.resolve_threads(None)
    return None


def sbatch_argv(count: int, cpus: int | None, studies: list[str], serve: bool, logs: Path,
                partition: str | None = None, time_limit: str | None = None) -> list[str]:
    """The sbatch command line: options override the script's #SBATCH lines; what follows
    the script goes to `nas worker`. No secret in it: `ps` shows it to every user."""
    argv = ["sbatch", "--parsable", f"--array=1-{count}", "--export=ALL",
            f"--output={logs}/nas-worker-%A_%a.log"]
    argv += [f"--cpus-per-task={cpus}"] if cpus else []
    argv += [f"--partition={partition}"] if partition else []
    argv += [f"--time={time_limit}"] if time_limit else []
    worker = [a for s in studies for a in ("--study", s)] + (["--serve"] if serve else [])
    return argv + [str(SBATCH_SCRIPT), *worker]


def job_env(url: str) -> dict[str, str]:
    """sbatch's environment, which the jobs inherit: the URL without its password, the
    password in a file only this user can reach, and this nas (NAS_BIN, unless set): the
    venv must sit on a filesystem the compute nodes share, as $NAS_HOME does."""
    bare, secret = split_secret(url, None)
    env = {k: v for k, v in os.environ.items() if k != defaults.ENV_PASSWORD_FILE}
    env.update({defaults.ENV_URL: bare, defaults.ENV_HOME: str(paths.home()),
                "NAS_BIN": os.environ.get("NAS_BIN") or str(Path(sys.executable).with_name("nas"))})
    if secret:
        env[defaults.ENV_PASSWORD_FILE] = secret
    return env


class SlurmFleet:
    def __init__(self, options: FleetOptions | None = None):
        options = options or FleetOptions()
        self.partition, self.time_limit = options.partition, options.time_limit
        self.state = paths.home() / "workers.slurm"

    def up(self, count: int, url: str, threads: int | None, studies: list[str], serve: bool) -> list[str]:
        _tool("sbatch")  # before the password file is written
        argv = sbatch_argv(count, threads, studies, serve, paths.logs_dir("slurm"),
                           self.partition, self.time_limit)
        job = _run(argv, env=job_env(url)).strip().split(";")[0]  # "id[;cluster]"
        if not job.isdigit():
            raise NasError(f"sbatch printed no job id: {job!r}")
        self._save(self._jobs() + [job])  # `down` forgets them all
        lines = [f"submitted slurm job {job}: {count} workers"
                 + (f", {threads} CPU{'s' * (threads != 1)} each" if threads else "")
                 + f" (logs in {paths.logs_dir('slurm')})"]
        if parse(url).host in ("localhost", "127.0.0.1", "::1"):
            lines.append(f"note: the database is at {parse(url).host}: workers on other nodes "
                         "cannot reach it (use its network address)")
        return lines

    def ps(self) -> list[str]:
        return [t.line() for t in self._tasks()]

    def down(self, grace: float = defaults.STOP_GRACE) -> list[str]:
        tasks = self._tasks()
        jobs = sorted({t.job for t in tasks})
        left: set[str] = set()
        if jobs:
            _scancel("--state=PENDING", *jobs)
            _scancel("--state=RUNNING", "--signal=TERM", "--full", *jobs)
            deadline = time.monotonic() + grace
            while (left := {t.id for t in self._tasks()}) and time.monotonic() < deadline:
                time.sleep(1)
            if left:  # SIGTERM again (a worker's second stop is at once), SIGKILL after KillWait
                _scancel(*jobs)
        self._save([])
        return [f"cancelled slurm job {t.id} (pending)" if t.state == "PENDING"
                else f"killed slurm job {t.id} (still running after the {grace:.0f} s stop grace)"
                if t.id in left else f"stopped slurm job {t.id}" for t in tasks]

    # --- state ---------------------------------------------------------------------------
    def _jobs(self) -> list[str]:
        return json.loads(self.state.read_text()) if self.state.exists() else []

    def _save(self, jobs: list[str]) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        self.state.write_text(json.dumps(jobs))

    def _tasks(self) -> list[Task]:
        """This user's pending and running tasks of the arrays nas submitted (squeue --me:
        a job id squeue no longer knows is an error there, a missing line here)."""
        mine = set(self._jobs())
        if not mine:
            return []
        out = _run(["squeue", "--me", "--noheader", "--array", f"--format={FORMAT}"])
        tasks = [Task(*line.split("|", 5)) for line in out.splitlines() if line.count("|") >= 5]
        return [t for t in tasks if t.job in mine]


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    """A Slurm command's stdout; its own last error line as a NasError otherwise."""
    _tool(argv[0])
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NasError(f"{argv[0]} did not answer within {COMMAND_TIMEOUT}s (is slurmctld up?)") from None
    if out.returncode != 0:
        said = (out.stderr.strip() or out.stdout.strip() or f"exit status {out.returncode}")
        raise NasError(f"{argv[0]} failed: {said.splitlines()[-1]}")
    return out.stdout


def _tool(name: str) -> None:
    if shutil.which(name) is None:
        raise NasError(f"{name} not found: --via slurm needs Slurm's client commands "
                       "(sbatch, squeue, scancel) on PATH, as on a cluster's login node")


def _scancel(*args: str) -> None:
    try:
        _run(["scancel", *args])
    except NasError as exc:
        if not any(g in str(exc) for g in GONE):
            raise
