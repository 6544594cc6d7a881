"""What `nas workers` passes every fleet alike; each way reads the fields that concern it."""
from __future__ import annotations

from dataclasses import dataclass

from nas import defaults


@dataclass(frozen=True)
class FleetOptions:
    image: str = defaults.IMAGE        # --via docker
    partition: str | None = None       # --via slurm
    time_limit: str | None = None      # --via slurm
