"""A fleet of workers on this machine, one module per way of running them:

    local       detached `nas worker` processes (processes.py)
    supervisor  supervisord with the packaged supervisord.conf (supervisor.py)
    docker      containers of the nas image via the Docker SDK (docker.py)
    slurm       a Slurm job array of nas-workers.sbatch, one worker per task (slurm.py)

Every way passes the thread cap, stops with SIGTERM and waits the same stop grace.
"""
from nas.coordinator.fleets.docker import LABEL, DockerFleet, container_spec, split_secret
from nas.coordinator.fleets.processes import LocalFleet, SearchFleet
from nas.coordinator.fleets.slurm import SlurmFleet
from nas.coordinator.fleets.supervisor import SupervisorFleet

FLEETS = {"local": LocalFleet, "supervisor": SupervisorFleet, "docker": DockerFleet,
          "slurm": SlurmFleet}

__all__ = ["FLEETS", "LABEL", "DockerFleet", "LocalFleet", "SearchFleet", "SlurmFleet", "SupervisorFleet",
           "container_spec", "split_secret"]
