"""N containers of the nas image through the Docker SDK, found again by label."""
from __future__ import annotations

import os
from pathlib import Path

from nas import defaults
from nas.errors import NasError

LABEL = "io.nas.fleet"
SECRET_PATH = "/run/secrets/db_password"


def container_spec(index: int, image: str, url: str, threads: int, studies: list[str],
                   password_file: str | None = None) -> dict:
    """Keyword arguments for docker's `containers.run` for worker `index` (unit-tested)."""
    command = ["worker", "--serve", *[a for s in studies for a in ("--study", s)]]
    env = {defaults.ENV_URL: url, **defaults.thread_env(threads)}
    volumes = {}
    if password_file:
        env[defaults.ENV_PASSWORD_FILE] = SECRET_PATH
        volumes[str(Path(password_file).absolute())] = {"bind": SECRET_PATH, "mode": "ro"}
    return {"image": image, "command": command, "environment": env, "volumes": volumes,
            "labels": {LABEL: "worker", f"{LABEL}.index": str(index)},
            "name": None, "detach": True, "init": True, "network_mode": "host",
            "stop_signal": "SIGTERM", "restart_policy": {"Name": "unless-stopped"},
            "nano_cpus": threads * 1_000_000_000}


class DockerFleet:
    def __init__(self, image: str = defaults.IMAGE):
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
        secret = os.environ.get(defaults.ENV_PASSWORD_FILE)
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
            c.stop(timeout=int(defaults.STOP_GRACE))
            c.remove()
            out.append(f"stopped container {c.short_id}")
        return out
