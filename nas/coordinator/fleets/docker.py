"""N containers of the nas image through the Docker SDK, found again by label."""
from __future__ import annotations

import os
from pathlib import Path

from nas import defaults, paths
from nas.coordinator.fleets.options import FleetOptions
from nas.errors import NasError
from nas.store.url import parse, without_password

LABEL = "io.nas.fleet"
SECRET_PATH = "/run/secrets/db_password"


def split_secret(url: str, password_file: str | None) -> tuple[str, str | None]:
    """(the URL without its password, a file holding it) for the containers: a password
    in a container's environment is shown by `docker inspect` to anyone with the socket.
    The file lives in $NAS_HOME/secrets (0700, so nobody else on the host reads it) and is
    0644 itself, so the image's non-root user can read it once it is mounted."""
    parsed = parse(url)
    if parsed.password is None:
        return url, password_file
    folder = paths.home() / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / "db_password"
    path.write_text(parsed.password)
    os.chmod(path, 0o644)
    return without_password(parsed).render_as_string(hide_password=False), str(path)


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
    def __init__(self, options: FleetOptions | None = None):
        self.image = (options or FleetOptions()).image

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
        bare, secret = split_secret(url, defaults.password_file())
        started = []
        for i in range(count):
            spec = container_spec(i, self.image, bare, threads, studies, secret)
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
