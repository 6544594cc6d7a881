"""Every tunable of nas, defined once and read by the CLI, the worker and the store alike
(after rq's `defaults.py`).

Environment variables are resolved here and nowhere else. Values are read when this
module is imported, which for a worker is at process start: a fleet changes a setting by
giving its workers a different environment, never by mutating it at run time.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from nas import __version__
from nas.errors import NasError


def _number(name: str, default: float, kind=float, zero: bool = False):
    """A positive number from the environment: one clear line (a NasError, raised when
    the setting is read, inside the CLI's handler) for anything else."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        noun = "a whole number" if kind is int else "a number"
        raise NasError(f"{name} must be {noun} {'of 0 or more' if zero else 'above 0'}, "
                       f"got {raw!r}")
    return value


# --- environment variable names -------------------------------------------------------
ENV_HOME = "NAS_HOME"
ENV_URL = "NAS_DATABASE_URL"
ENV_PASSWORD_FILE = "NAS_DATABASE_PASSWORD_FILE"
ENV_THREADS = "NAS_THREADS"
ENV_DEVICE = "NAS_DEVICE"
ENV_HEALTH_FILE = "NAS_HEALTH_FILE"
ENV_ENGINE = "NAS_ENGINE"
ENV_KERNEL_CACHE = "NAS_KERNEL_CACHE"
ENV_KERNEL_CACHE_IMAGE = "NAS_KERNEL_CACHE_IMAGE"
# Set by `nas workers up --via local` on the workers it starts (local:<NAS_HOME>), read by
# nobody but the fleet: how `workers ps|down` find them again.
ENV_FLEET = "NAS_FLEET"

# --- worker lifecycle -----------------------------------------------------------------
# Read when asked for, not at import: a bad value is then one line from the CLI rather than
# a traceback from whichever module imported this one first.
def heartbeat_interval() -> int:
    """Optuna's trial heartbeat and nas's worker heartbeat both beat this often (s)."""
    return _number("NAS_HEARTBEAT_INTERVAL", 10, int)


def heartbeat_grace() -> int:
    """A worker unseen this long (s) is dead and its trial retried."""
    return _number("NAS_HEARTBEAT_GRACE", 60, int)


def max_retry() -> int:
    """How often one trial may be re-queued after its worker died or was stopped."""
    return _number("NAS_MAX_RETRY", 3, int, zero=True)


def serve_poll() -> float:
    """`--serve` workers look for new studies this often (s) when idle."""
    return _number("NAS_SERVE_POLL", 5)


def db_retry_seconds() -> float:
    """A worker rides out a database outage this long before giving up."""
    return _number("NAS_DB_RETRY_SECONDS", 600)


def checkpoint_seconds() -> float | None:
    """A running trial checkpoints its lineage this often (s of trial time; 0: every
    generation), so kill -9 or a lost host loses at most this much of it. `off`: never,
    not even on a stop request: an interrupted trial starts again from generation 0 (for
    trials too short to be worth it, or a baseline to measure checkpoints against)."""
    if os.environ.get("NAS_CHECKPOINT_SECONDS", "").strip().lower() == "off":
        return None
    return _number("NAS_CHECKPOINT_SECONDS", 60, zero=True)


def check_settings() -> None:
    """Read every numeric setting once, so a bad one fails the command at its start."""
    for read in (heartbeat_interval, heartbeat_grace, max_retry, serve_poll, db_retry_seconds,
                 lock_timeout, checkpoint_seconds):
        read()


# A study whose first trials all fail before reporting anything is paused after this many:
# its objective or task is broken, and every further trial would fail the same way.
FAILED_AT_ONCE_LIMIT = 3
# SIGTERM to exit: one generation plus database round trips. compose's
# stop_grace_period, supervisord's stopwaitsecs and docker stop's timeout match it.
STOP_GRACE = 120.0

# --- images ---------------------------------------------------------------------------
IMAGE = f"nas:{__version__}"

# --- thread caps ----------------------------------------------------------------------
# More threads than any machine has cores is a typo, not a setting (and torch would try).
MAX_THREADS = 1024
# Every integer a study stores is a PostgreSQL integer: larger values are refused by flag.
MAX_INT = 2**31 - 1
# torch's OpenMP/MKL pool gets the worker's threads; every other numeric library one.
TORCH_POOL_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
SINGLE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
# The episode kernels' (numba's) threads: the same OpenMP pool as torch's, of the same size
# (nas.evolution.kernels explains why they must match).
KERNEL_POOL_ENV = "NUMBA_NUM_THREADS"


def resolve_threads(flag: int | None, workers: int = 1) -> int:
    """A worker's thread cap: --threads > NAS_THREADS > cores // workers (at least 1)."""
    if flag is None:
        raw = threads_setting()
        if raw is None:
            return max(1, (os.cpu_count() or 1) // max(1, workers))
        try:
            flag = int(raw)
        except ValueError:
            raise NasError(f"{ENV_THREADS} must be a whole number, got {raw!r}") from None
    if not 1 <= flag <= MAX_THREADS:
        raise NasError(f"threads must be 1 to {MAX_THREADS}, got {flag}")
    return flag


def thread_env(threads: int) -> dict[str, str]:
    """The environment that caps a worker's threads: for child processes, containers and
    supervisord programs alike, so no caller spells the variables out by hand."""
    env = {name: str(threads) for name in TORCH_POOL_ENV}
    env.update({name: "1" for name in SINGLE_THREAD_ENV})
    env[KERNEL_POOL_ENV] = str(threads)  # cap_threads lowers it to torch's count
    env[ENV_THREADS] = str(threads)
    return env


def home_setting() -> Path | None:
    """`$NAS_HOME`, absolute, or None (nas.paths.home then looks for a `.nas`)."""
    value = os.environ.get(ENV_HOME)
    return Path(value).absolute() if value else None


def database_url() -> str | None:
    """`$NAS_DATABASE_URL`, or None (the embedded cluster)."""
    return os.environ.get(ENV_URL) or None


def password_file() -> str | None:
    """`$NAS_DATABASE_PASSWORD_FILE`: a file holding the password a URL leaves out."""
    return os.environ.get(ENV_PASSWORD_FILE) or None


def threads_setting() -> str | None:
    """`$NAS_THREADS` as given (resolve_threads parses it), or None."""
    return os.environ.get(ENV_THREADS)


ENV_MEMORY_LIMIT = "NAS_TRIAL_MEMORY_LIMIT_GB"


def trial_memory_limit() -> int | None:
    """`$NAS_TRIAL_MEMORY_LIMIT_GB` in bytes, or None (the machine's memory)."""
    if not os.environ.get(ENV_MEMORY_LIMIT):
        return None
    return int(_number(ENV_MEMORY_LIMIT, 0) * 2 ** 30)


def health_file() -> Path | None:
    """The file a worker touches on every beat that reached the database
    (`$NAS_HEALTH_FILE`; containers' healthchecks read its age)."""
    name = os.environ.get(ENV_HEALTH_FILE)
    return Path(name) if name else None


def device() -> str:
    """The torch device a worker evolves on unless told otherwise (`--device`)."""
    return os.environ.get(ENV_DEVICE) or "cpu"


# --- evaluation engine ----------------------------------------------------------------
# "kernel": on CPU, tasks with a compiled episode kernel (nas.evolution.kernels) run each
# batch as one kernel call; "torch": every task through the batched torch path (the
# reference the kernels are tested against, and what `--device cuda` always uses).
ENGINES = ("kernel", "torch")


def engine() -> str:
    """The CPU evaluation engine, `$NAS_ENGINE` (default: kernel)."""
    value = os.environ.get(ENV_ENGINE) or "kernel"
    if value not in ENGINES:
        raise NasError(f"{ENV_ENGINE} must be one of {', '.join(ENGINES)}, got {value!r}")
    return value


def kernel_cache_setting() -> Path:
    """Where compiled kernels should be kept: `$NAS_KERNEL_CACHE`, else
    `$XDG_CACHE_HOME/nas/kernels`, else `~/.cache/nas/kernels` (nas.evolution.kernels.cache
    falls back to a private temporary directory when that cannot be made)."""
    if os.environ.get(ENV_KERNEL_CACHE):
        return Path(os.environ[ENV_KERNEL_CACHE])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nas" / "kernels"


def baked_kernel_cache() -> Path | None:
    """A read-only kernel cache an image was built with (`$NAS_KERNEL_CACHE_IMAGE`), copied
    into the writable cache when that is empty (kernels.warm)."""
    value = os.environ.get(ENV_KERNEL_CACHE_IMAGE)
    return Path(value) if value else None


# --- files under $NAS_HOME --------------------------------------------------------------
# `$NAS_HOME/db.lock` serialises starting and stopping the embedded cluster. A command
# waits this long for it, then fails naming the holder, instead of hanging behind a
# stuck (or hostile) process forever.
ENV_LOCK_TIMEOUT = "NAS_LOCK_TIMEOUT"
LOCK_TIMEOUT = 60.0


def lock_timeout() -> float:
    """Seconds to wait for `$NAS_HOME/db.lock` (`$NAS_LOCK_TIMEOUT`, default 60)."""
    return _number(ENV_LOCK_TIMEOUT, LOCK_TIMEOUT)
