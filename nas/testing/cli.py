"""The real `nas` CLI in a subprocess, its environment, and polling for what it does."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nas as _nas_package

# The source checkout this nas runs from: the CLI runs there, benches write under it.
ROOT = Path(_nas_package.__file__).resolve().parent.parent

# A study that finishes in seconds: every code path, nothing worth measuring.
SMALL = ["-m", "pure", "-t", "cartpole", "-g", "3", "-s", "1", "-p", "20", "--sampler", "random",
         "--pruner", "none"]


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any NAS_ setting, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    env.update(overrides)
    return env


def nas(*args: str, env: dict[str, str], timeout: float = 300, check: bool = False):
    """Run the real `nas` CLI in a subprocess."""
    out = subprocess.run([sys.executable, "-m", "nas", *args], env=env, capture_output=True,
                         text=True, timeout=timeout, cwd=ROOT)
    if check and out.returncode != 0:
        raise AssertionError(f"nas {' '.join(args)} exited {out.returncode}:\n{out.stderr}")
    return out


def start_nas(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    sink = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "nas", *args], env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)


def wait_until(condition, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll `condition` until it returns a truthy value or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
