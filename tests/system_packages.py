"""Debian packages a test needs (chromium, pgbouncer, kubectl, slurm-wlm, munge),
installed the way deploy/ensure-postgres.sh installs PostgreSQL: with apt-get when the
suite runs as root, else the test is skipped with the reason.

One apt-get at a time (a file lock), and `apt-get update` at most once per session, so
several fixtures asking at once neither collide on dpkg's lock nor refetch the lists."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

LOCK = Path("/tmp/nas-tests-apt.lock")
_updated = False


def ensure(commands: dict[str, str], timeout: float = 900) -> dict[str, str]:
    """{command: debian package} -> {command: path}; installs what is missing or skips."""
    missing = {c: p for c, p in commands.items() if shutil.which(c) is None}
    if missing:
        _install(sorted(set(missing.values())), timeout)
    found = {c: shutil.which(c) for c in commands}
    absent = [c for c, path in found.items() if path is None]
    if absent:
        pytest.skip(f"{', '.join(absent)} not installed and could not be installed with apt-get")
    return found  # type: ignore[return-value]


def _install(packages: list[str], timeout: float) -> None:
    global _updated
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"needs {' '.join(packages)} (apt-get install as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _updated:
                subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=timeout,
                               capture_output=True, check=True)
                _updated = True
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                           env=env, timeout=timeout, capture_output=True, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            pytest.skip(f"apt-get install {' '.join(packages)} failed: "
                        f"{detail.decode(errors='replace').strip().splitlines()[-1:] or exc}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
