"""The directory compiled kernels are kept in between processes (numba's cache)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nas import defaults
from nas.errors import NasError


def kernel_cache_dir() -> Path:
    """Per user and machine, so a worker compiles once per machine, not per trial or
    process: the configured directory (defaults.kernel_cache_setting), else a private one
    under the system's temporary directory when that cannot be made (a container user
    without a home). Only a directory of ours: code is loaded from here."""
    preferred = defaults.kernel_cache_setting()
    candidates = [preferred, Path(tempfile.gettempdir()) / f"nas-kernels-{os.getuid()}"]
    for path in candidates:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if path.stat().st_uid == os.getuid() and os.access(path, os.W_OK | os.X_OK):
                return path.absolute()
        except OSError:
            continue
    raise NasError(f"no writable directory for compiled kernels (tried {candidates[0]}); "
                   f"set {defaults.ENV_KERNEL_CACHE}")
