"""`nas workers up|ps|down`: a fleet of workers on this machine, three ways.

    local       detached `nas worker` processes, PIDs kept in $NAS_HOME/workers.local
    supervisor  supervisord with the packaged supervisord.conf (restarts crashed workers)
    docker      N containers of the nas image via the Docker SDK, found again by label

Every way passes the thread cap, stops with SIGTERM and waits the same stop grace.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from nas.coordinator.fleet import STOP_GRACE, spawn_worker, terminate
from nas.errors import NasError
from nas.store.url import ENV_URL, mask

SUPERVISOR_CONF = Path(__file__).with_name("supervisord.conf")
LABEL = "io.nas.fleet"


def home() -> Path:
    return Path(os.environ.get("NAS_HOME") or ".nas").absolute()


class LocalFleet:
    def __init__(self):
        self.state = home() / "workers.local"

    def _pids(self) -> list[int]:
        if not self.state.exists():
            return []
        return [p for p in json.loads(self.state.read_text()) if _is_worker(p)]

    def up(self, count: int, url: str, threads: int, studies: list[str], serve: bool) -> list[str]:
        existing = self._pids()
        new = [spawn_worker(url, threads, studies, home() / "logs" / f"worker-local-{len(existing) + i:02d}.log",
                            serve).pid for i in range(count)]
        self.state.write_text(json.dumps(existing + new))
        return [f"started worker pid {pid}" for pid in new]

    def ps(self) -> list[str]:
        return [f"worker pid {pid} running" for pid in self._pids()]

    def down(self) -> list[str]:
        pids = self._pids()
        terminate(pids, STOP_GRACE)
        self.state.write_text("[]")
        return [f"stopped worker pid {pid}" for pid in pids]


def _is_worker(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"nas" in argv and b"worker" in argv


class SupervisorFleet:
    def _env(self, url: str | None = None, count: int = 1, threads: int = 1,
             studies: list[str] = (), serve: bool = False) -> dict[str, str]:
        (home() / "logs").mkdir(parents=True, exist_ok=True)
        args = " ".join([*(f"--study {s}" for s in studies), *(["--serve"] if serve else [])])
        env = {**os.environ, "NAS_HOME": str(home()), "NAS_WORKERS": str(count),
               "NAS_THREADS": str(threads), "NAS_BIN": str(Path(sys.executable).with_name("nas")),
               "NAS_WORKER_ARGS": args}
        if url:
            env[ENV_URL] = url
        return env

    def _ctl(self, *args: str) -> str:
        out = subprocess.run([_tool("supervisorctl"), "-c", str(SUPERVISOR_CONF), *args],
                             env=self._env(), capture_output=True, text=True)
        return out.stdout.strip()

    def up(self, count: int, url: str, threads: int, studies: list[str], serve: bool) -> list[str]:
        if self._running() and self._ctl("pid").isdigit():
            raise NasError("supervisord already runs a fleet here: `nas workers down --via supervisor` first")
        out = subprocess.run([_tool("supervisord"), "-c", str(SUPERVISOR_CONF)],
                             env=self._env(url, count, threads, studies, serve), capture_output=True, text=True)
        if out.returncode != 0:
            raise NasError(f"supervisord failed: {(out.stderr or out.stdout).strip().splitlines()[-1:]}")
        return [f"supervisord started {count} workers on {mask(url)}"]

    def _running(self) -> bool:
        return (home() / "supervisor.sock").exists()

    def ps(self) -> list[str]:
        return self._ctl("status").splitlines() if self._running() else []

    def down(self) -> list[str]:
        if not self._running():
            return []
        stopped = self._ctl("stop", "all").splitlines()
        self._ctl("shutdown")
        return stopped


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        raise NasError(f"{name} not found: pip install supervisor")
    return path


def container_spec(index: int, image: str, url: str, threads: int, studies: list[str],
                   password_file: str | None = None) -> dict:
    """Keyword arguments for docker's `containers.run` for worker `index` (unit-tested)."""
    command = ["worker", "--serve", *[a for s in studies for a in ("--study", s)]]
    env = {ENV_URL: url, "NAS_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": "1"}
    volumes = {}
    if password_file:
        env["NAS_DATABASE_PASSWORD_FILE"] = "/run/secrets/db_password"
        volumes[str(Path(password_file).absolute())] = {"bind": "/run/secrets/db_password", "mode": "ro"}
    return {"image": image, "command": command, "environment": env, "volumes": volumes,
            "labels": {LABEL: "worker", f"{LABEL}.index": str(index)},
            "name": None, "detach": True, "init": True, "network_mode": "host",
            "stop_signal": "SIGTERM", "restart_policy": {"Name": "unless-stopped"},
            "nano_cpus": threads * 1_000_000_000}


class DockerFleet:
    def __init__(self, image: str = "nas:0.1.0"):
        self.image = image

    def _client(self):
        try:
            import docker

            return docker.from_env()
        except ImportError:
            raise NasError("--via docker needs the Docker SDK: pip install docker") from None
        except Exception as exc:  # docker.errors.DockerException: no engine reachable
            raise NasError(f"no Docker engine reachable: {str(exc).splitlines()[0]}") from None

    def up(self, count: int, url: str, threads: int, studies: list[str], serve: bool) -> list[str]:
        client = self._client()
        secret = os.environ.get("NAS_DATABASE_PASSWORD_FILE")
        started = []
        for i in range(count):
            spec = container_spec(i, self.image, url, threads, studies, secret)
            started.append(client.containers.run(**{k: v for k, v in spec.items() if v is not None}))
        return [f"started container {c.short_id}" for c in started]

    def _mine(self):
        return self._client().containers.list(filters={"label": LABEL})

    def ps(self) -> list[str]:
        return [f"container {c.short_id} {c.status}" for c in self._mine()]

    def down(self) -> list[str]:
        out = []
        for c in self._mine():
            c.stop(timeout=int(STOP_GRACE))
            c.remove()
            out.append(f"stopped container {c.short_id}")
        return out


FLEETS = {"local": LocalFleet, "supervisor": SupervisorFleet, "docker": DockerFleet}
