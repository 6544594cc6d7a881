"""Workers under supervisord with the packaged supervisord.conf (restarts crashed workers)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from nas import defaults, paths
from nas.coordinator.fleets.options import FleetOptions
from nas.errors import NasError
from nas.store.url import mask

SUPERVISOR_CONF = Path(__file__).with_name("supervisord.conf")
GROUP = "nas-worker"  # the workers' program name in supervisord.conf


class SupervisorFleet:
    def __init__(self, options: FleetOptions | None = None):
        pass  # nothing to choose: the packaged supervisord.conf says it all

    def _env(self, url: str | None = None, count: int = 1, threads: int = 1,
             studies: list[str] = (), serve: bool = False) -> dict[str, str]:
        home = paths.home()
        paths.logs_dir()
        args = " ".join([*(f"--study {s}" for s in studies), *(["--serve"] if serve else [])])
        env = {**os.environ, **defaults.thread_env(threads), defaults.ENV_HOME: str(home),
               "NAS_WORKERS": str(count), "NAS_BIN": str(Path(sys.executable).with_name("nas")),
               "NAS_WORKER_ARGS": args}
        if url:
            env[defaults.ENV_URL] = url
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
            reason = _error_line(out.stderr or out.stdout)
            if "path too long" in reason:  # sockaddr_un holds 107 bytes, its temp name included
                reason += (f" (its socket lives in NAS_HOME, {paths.home()}: a NAS_HOME under "
                           f"~90 characters works)")
            raise NasError(f"supervisord failed: {reason}")
        return [f"supervisord started {count} workers on {mask(url)}"]

    def _running(self) -> bool:
        return (paths.home() / "supervisor.sock").exists()

    def ps(self) -> list[str]:
        if not self._running():
            return []
        return [line for line in self._ctl("status").splitlines() if line.startswith(GROUP)]

    def down(self) -> list[str]:
        """Stop the workers (not the when-done listener), then supervisord itself."""
        if not self._running():
            return []
        listed = self.ps()
        stopped = [line for line in self._ctl("stop", f"{GROUP}:*").splitlines() if line.strip()]
        self._ctl("shutdown")
        if not stopped:
            return [f"no worker was running ({len(listed)} had exited); supervisord shut down"]
        return stopped


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        raise NasError(f"{name} not found: pip install supervisor")
    return path


def _error_line(output: str) -> str:
    """supervisord's own reason ("Error: ..."), not the "For help, use ... -h" after it."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error")]
    return (errors or lines or ["no output"])[-1]
