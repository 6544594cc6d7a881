"""A fleet of workers on this machine, one module per way of running them:

    local       detached `nas worker` processes, found again with psutil (processes.py)
    supervisor  supervisord with the packaged supervisord.conf (supervisor.py)
    docker      containers of the nas image via the Docker SDK (docker.py)
    slurm       a Slurm job array of nas-workers.sbatch, one worker per task (slurm.py)

Every way is a `Fleet`, made by `fleet(via, options)` the same way for every `--via`:
each takes the one FleetOptions and reads what concerns it (docker the image, slurm the
partition and time limit). Every way passes the thread cap, stops with SIGTERM and waits
the same stop grace.
"""
from __future__ import annotations

from typing import Protocol

from nas.coordinator.fleets.docker import LABEL, DockerFleet, container_spec, split_secret
from nas.coordinator.fleets.options import FleetOptions
from nas.coordinator.fleets.processes import LocalFleet, SearchFleet
from nas.coordinator.fleets.slurm import SlurmFleet
from nas.coordinator.fleets.supervisor import SupervisorFleet


class Fleet(Protocol):
    def __init__(self, options: FleetOptions | None = None) -> None: ...

    def up(self, count: int, url: str, threads: int | None, studies: list[str],
           serve: bool) -> list[str]:
        """Start `count` workers; one line per thing started."""

    def ps(self) -> list[str]:
        """One line per worker of this fleet."""

    def down(self) -> list[str]:
        """Stop them gracefully (SIGTERM, then the stop grace); one line per worker."""


FLEETS: dict[str, type[Fleet]] = {"local": LocalFleet, "supervisor": SupervisorFleet,
                                  "docker": DockerFleet, "slurm": SlurmFleet}


def fleet(via: str, options: FleetOptions | None = None) -> Fleet:
    return FLEETS[via](options or FleetOptions())


__all__ = ["FLEETS", "LABEL", "DockerFleet", "Fleet", "FleetOptions", "LocalFleet", "SearchFleet",
           "SlurmFleet", "SupervisorFleet", "container_spec", "fleet", "split_secret"]
