"""A private Docker engine for tests/test_docker.py: its own containerd and dockerd, as
this process's children, every socket, pid file and exec root under one run directory,
the data root (images and build cache, kept between runs) in the provisioning cache.

It never meets a system engine: clients reach it through DOCKER_HOST alone and read no
user configuration. --bridge=none (no docker0, which would need iptables NAT; compose's
own network is a user-defined bridge), --iptables=false and --ip-forward=false: the
host's firewall and forwarding are left alone, so no container routes past this machine.
Builds use host networking (the compose override), which reaches the wheel index served
on loopback.

Stopping is terminating our own processes (psutil for the containerd-shims a killed
engine leaves behind, found by the run directory in their command line), then unmounting
whatever the engine left mounted under its roots.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from nas.testing import ROOT

PACKAGES = {"dockerd": "docker.io", "docker": "docker.io", "containerd": "containerd",
            "debootstrap": "debootstrap", "ip": "iproute2"}
CACHE = Path(os.environ.get("NAS_DOCKER_TEST_CACHE", "/var/cache/nas-docker-test"))
PROVISION = ROOT / "deploy" / "docker-test" / "provision.sh"


class PrivateEngine:
    def __init__(self, cache: Path = CACHE):
        self.cache, self.data_root, self.logs = cache, cache / "docker", cache / "logs"
        self.run_dir = Path(tempfile.mkdtemp(prefix="nas-docker-test.", dir="/tmp"))
        self.procs: list[subprocess.Popen] = []
        self.bridges: list[str] = []  # compose networks' bridges, deleted if left behind
        self._lock = None
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
                    and not k.startswith("COMPOSE_")}
        self.env.update(DOCKER_HOST=f"unix://{self.run_dir}/docker.sock",
                        DOCKER_CONFIG=str(self.run_dir / "docker-config"))

    # --- daemons -----------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.cache / "lock", "w")  # one run at a time: they share the data root
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another docker test run holds {self.cache / 'lock'}") from None
        (self.run_dir / "docker-config").mkdir()
        r = self.run_dir
        (r / "containerd.toml").write_text(f"""\
version = 2
root = "{r}/containerd-root"
state = "{r}/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{r}/containerd.sock"
[ttrpc]
  address = "{r}/containerd.sock.ttrpc"
[debug]
  address = "{r}/containerd-debug.sock"
[metrics]
  address = ""
""")
        self._spawn("containerd", "--config", str(r / "containerd.toml"))
        self._wait(lambda: (r / "containerd.sock").is_socket(), 30, "containerd's socket")
        (r / "daemon.json").write_text("{}")  # no /etc/docker/daemon.json setting applies
        driver = os.environ.get("NAS_DOCKER_TEST_STORAGE_DRIVER")
        self._spawn("dockerd", "--config-file", str(r / "daemon.json"), "--iptables=false",
                    "--ip-forward=false", "--ip-masq=false", "--bridge=none",
                    "--data-root", str(self.data_root), "--exec-root", str(r / "exec"),
                    "--host", self.env["DOCKER_HOST"], "--pidfile", str(r / "docker.pid"),
                    "--containerd", str(r / "containerd.sock"),
                    *(["--storage-driver", driver] if driver else []))
        self._wait(lambda: self.docker("version").returncode == 0, timeout, "dockerd to answer")
        # Leftovers of a run killed before its teardown (the data root persists): restart
        # policies would bring them back. The engine is private: all of it is ours.
        left = self.docker("ps", "-aq").stdout.split()
        if left:
            self.docker("rm", "-f", *left, check=True)
        self.docker("volume", "prune", "-f")
        self.docker("network", "prune", "-f")

    def _spawn(self, *argv: str) -> None:
        log = open(self.logs / f"{argv[0]}.log", "ab")
        # Its own session: Ctrl-C reaches pytest, whose teardown stops the stack first.
        self.procs.append(subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True))

    def _wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited {proc.returncode} while waiting for "
                                       f"{what}: see {self.logs}")
            if condition():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}: see {self.logs}")

    def stop(self) -> None:
        """dockerd first (it stops its containers and networks on SIGTERM), then containerd;
        then the shims a killed engine left, and the mounts."""
        for proc, grace in zip(reversed(self.procs), (60, 20)):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        shims = self.leftover_processes()
        for proc in shims:
            proc.kill()
        psutil.wait_procs(shims, timeout=10)
        for bridge in self.bridges:
            if subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode == 0:
                subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
        for root in (self.data_root, self.run_dir):
            for mount in self.mounts_under(root):
                if subprocess.run(["umount", mount]).returncode:
                    subprocess.run(["umount", "-l", mount])
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def leftover_processes(self) -> list[psutil.Process]:
        """Processes of this run (containerd-shims name the run directory)."""
        mine = f"{self.run_dir}/"
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if proc.pid != os.getpid() and any(mine in arg for arg in proc.info["cmdline"] or []):
                found.append(proc)
        return found

    @staticmethod
    def mounts_under(root: Path) -> list[str]:
        """Mount points under `root`, deepest first."""
        prefix = f"{root}/"
        points = [p.mountpoint for p in psutil.disk_partitions(all=True) if p.mountpoint.startswith(prefix)]
        return sorted(points, reverse=True)

    # --- clients -----------------------------------------------------------------------
    def docker(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
        out = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {out.returncode}: {out.stderr}")
        return out

    def inspect(self, target: str, template: str) -> str:
        return self.docker("inspect", "-f", template, target, check=True).stdout.strip()

    def provision(self, what: str, timeout: float = 1800) -> str:
        """deploy/docker-test/provision.sh `what`: its answer (stdout)."""
        out = subprocess.run(["bash", str(PROVISION), what], env={**self.env, "NAS_PYTHON": sys.executable},
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise AssertionError(f"provision.sh {what} failed:\n{out.stderr[-3000:]}")
        return out.stdout.strip()


class WheelIndex:
    """The provisioned wheelhouse served on loopback (a fixed port: TORCH_INDEX_URL is a
    build argument, so a new port each run would invalidate the cached torch layer)."""

    def __init__(self, directory: str, port: int, log: Path):
        self.directory, self.port, self.log = directory, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        import socket
        import urllib.request

        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise RuntimeError(f"127.0.0.1:{self.port} is taken: set NAS_DOCKER_TEST_INDEX_PORT")
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                      "--directory", self.directory, str(self.port)],
                                     stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{self.url}torch/", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the wheel index did not come up: see {self.log}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
