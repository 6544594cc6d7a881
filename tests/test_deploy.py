"""Deployment files: compose validated by the Compose v2 reference implementation,
the Dockerfile by hadolint, and supervisord running real workers on the test database."""
from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import sys
from pathlib import Path

import pytest
import yaml

from nas.testing import ROOT, SMALL, nas, query, traversable, wait_until

BIN = Path(sys.executable).parent


def compose_config(tmp_path, filename: str, **env) -> tuple[dict, str, str]:
    password = secrets.token_hex(12)
    secret = tmp_path / "db_password"
    secret.write_text(password)
    full_env = {**os.environ, "NAS_DB_PASSWORD_FILE": str(secret), **env}
    out = subprocess.run([str(BIN / "docker-compose"), "-f", str(ROOT / filename),
                          "--profile", "dashboard", "config"],
                         env=full_env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout), out.stdout, password


def test_compose_file_is_valid_and_keeps_its_invariants(tmp_path):
    config, rendered, password = compose_config(tmp_path, "docker-compose.yml")
    assert password not in rendered and "POSTGRES_PASSWORD:" not in rendered
    services = config["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["stop_signal"] == "SIGTERM"
    assert worker["stop_grace_period"] == "2m0s"
    assert worker["restart"] == "unless-stopped"
    assert worker["environment"]["NAS_THREADS"] == "5"
    assert worker["environment"]["NAS_CHECKPOINT_SECONDS"] == "60"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert all(p["host_ip"] == "127.0.0.1" for p in services["db"]["ports"])
    assert services["db"]["image"].split(":")[1] not in ("latest", "")
    assert "healthcheck" in services["db"]
    assert services["dashboard"]["profiles"] == ["dashboard"]


def test_workers_only_compose_for_more_machines(tmp_path):
    config, rendered, password = compose_config(
        tmp_path, "docker-compose.workers.yml", NAS_DATABASE_URL="postgresql://nas_owner@db.example/nas")
    assert list(config["services"]) == ["worker"] and password not in rendered
    assert config["services"]["worker"]["environment"]["NAS_DATABASE_URL"].endswith("/nas")
    assert config["services"]["worker"]["environment"]["NAS_CHECKPOINT_SECONDS"] == "60"


def test_dockerfile_passes_hadolint():
    out = subprocess.run([str(BIN / "hadolint"), str(ROOT / "Dockerfile")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def supervisor_env(nas_env, home: Path, workers: int, study: str) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    return {**nas_env, "NAS_HOME": str(home), "NAS_WORKERS": str(workers), "NAS_THREADS": "1",
            "NAS_BIN": str(BIN / "nas"), "NAS_WORKER_ARGS": f"--study {study}",
            "PYTHONPATH": str(ROOT)}


def supervisorctl(env, *args) -> str:
    out = subprocess.run([str(BIN / "supervisorctl"), "-c", str(ROOT / "deploy/supervisord.conf"),
                          *args], env=env, capture_output=True, text=True, cwd=ROOT)
    return out.stdout


@pytest.fixture
def supervisord(nas_env, tmp_path):
    started = []

    def start(study: str, **extra: str) -> dict:
        env = {**supervisor_env(nas_env, traversable(tmp_path) / "sv", 3, study), **extra}
        subprocess.run([str(BIN / "supervisord"), "-c", str(ROOT / "deploy/supervisord.conf")],
                       env=env, check=True, cwd=ROOT)
        started.append(env)
        return env

    yield start
    for env in started:
        supervisorctl(env, "shutdown")


def test_supervisord_runs_three_workers_to_the_exact_budget_then_exits(nas_env, db_url, supervisord):
    nas("study", "create", "sv", *SMALL, "-n", "9", env=nas_env, check=True)
    env = supervisord("sv")
    home = Path(env["NAS_HOME"])
    pid = int(wait_until(lambda: (home / "supervisord.pid").exists()
                         and (home / "supervisord.pid").read_text().strip(), 30, what="supervisord's pid"))
    # every worker exits 0 (budget spent), and supervisord, with nothing left to do, follows
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), 300, what="supervisord to exit by itself")
    assert "every worker is done" in (home / "logs" / "when-done.log").read_text()
    logs = list((home / "logs").glob("nas-worker_0*.log"))
    assert len(logs) == 3 and all("no budget left" in log.read_text() for log in logs)
    # exit 0 is expected: a worker that had exited otherwise would have been restarted
    assert "exited: nas-worker_0" in (sv := (home / "logs" / "supervisord.log").read_text())
    assert "not expected" not in sv and sv.count("(exit status 0; expected)") == 3
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY state") == [("done", 9)]
    assert query(db_url, "SELECT count(*) FROM trials WHERE state = 'COMPLETE'") == [(9,)]


def test_supervisorctl_stop_all_leaves_no_running_trial(nas_env, db_url, supervisord):
    nas("study", "create", "svstop", "--objective", "tests.fixtures.objectives:evolve_paced",
        "-t", "cartpole", "-n", "6", "-g", "40", "-p", "100", "-s", "1", "--pruner", "none", env=nas_env, check=True)
    env = supervisord("svstop", NAS_TEST_GENERATION_SECONDS="1")  # trials outlast the stop
    wait_until(lambda: query(db_url, "SELECT count(*) FROM trials WHERE state = 'RUNNING'")[0][0] == 3,
               300, what="three running trials")
    out = supervisorctl(env, "stop", "all")
    assert out.count("nas-worker_0") == 3 and out.count("stopped") == 4  # and the listener
    assert query(db_url, "SELECT count(*) FROM trials WHERE state = 'RUNNING'") == [(0,)]
    assert query(db_url, "SELECT count(*) FROM nas.claims WHERE state = 'active'") == [(0,)]
    assert query(db_url, "SELECT count(*) FROM trials WHERE state = 'WAITING'") == [(3,)]


def test_container_spec_for_docker_workers(tmp_path):
    from nas.coordinator.fleets import LABEL, container_spec

    secret = tmp_path / "pw"
    secret.write_text("hunter2-secret")
    spec = container_spec(3, "nas:0.1.0", "postgresql://nas_owner@db/nas", 4, ["a", "b"], str(secret))
    assert spec["image"] == "nas:0.1.0" and spec["detach"] and spec["init"]
    assert spec["command"] == ["worker", "--serve", "--study", "a", "--study", "b"]
    assert spec["environment"]["NAS_THREADS"] == "4" == spec["environment"]["OMP_NUM_THREADS"]
    assert spec["environment"]["NAS_DATABASE_PASSWORD_FILE"] == "/run/secrets/db_password"
    assert spec["volumes"] == {str(secret): {"bind": "/run/secrets/db_password", "mode": "ro"}}
    assert spec["labels"] == {LABEL: "worker", f"{LABEL}.index": "3"}
    assert spec["stop_signal"] == "SIGTERM" and spec["restart_policy"] == {"Name": "unless-stopped"}
    assert spec["nano_cpus"] == 4_000_000_000
    assert "hunter2-secret" not in str(spec)


def test_docker_workers_get_the_password_as_a_file_never_in_their_environment(tmp_path, monkeypatch):
    import stat

    from nas.coordinator.fleets import container_spec, split_secret

    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))
    bare, secret = split_secret("postgresql+psycopg2://nas_owner:p%2Fq w@db:5432/nas", None)
    assert "p/q w" not in bare and "p%2Fq" not in bare and bare.endswith("nas_owner@db:5432/nas")
    assert open(secret).read() == "p/q w"
    assert stat.S_IMODE((tmp_path / "home" / "secrets").stat().st_mode) == 0o700
    spec = container_spec(0, "nas:0.1.0", bare, 2, [], secret)
    assert "p/q w" not in str(spec["environment"]) and "p%2Fq" not in str(spec)
    assert spec["volumes"] == {secret: {"bind": "/run/secrets/db_password", "mode": "ro"}}
    assert split_secret("postgresql://u@db/nas", "/run/pw") == ("postgresql://u@db/nas", "/run/pw")


def test_every_fleet_is_made_the_same_way(tmp_path, monkeypatch):
    """One constructor for every --via: each fleet takes the same FleetOptions and reads
    the fields that concern it."""
    from nas.coordinator.fleets import FLEETS, FleetOptions, fleet

    monkeypatch.setenv("NAS_HOME", str(tmp_path / "home"))
    options = FleetOptions(image="nas:test", partition="long", time_limit="1:00:00")
    for via in FLEETS:
        made = fleet(via, options)
        assert all(callable(getattr(made, verb)) for verb in ("up", "ps", "down")), via
    assert fleet("docker", options).image == "nas:test"
    assert (fleet("slurm", options).partition, fleet("slurm", options).time_limit) == ("long", "1:00:00")
    assert fleet("local").ps() == []  # no worker of this NAS_HOME's fleet runs


@pytest.mark.parametrize("via", ["local", "supervisor"])
def test_nas_workers_up_ps_down(nas_env, db_url, tmp_path, via):
    # a short NAS_HOME: supervisord's socket (and its temporary name) must fit in 107 bytes,
    # which an xdist worker's tmp_path plus this test's name does not
    home = traversable(Path(tempfile.mkdtemp(prefix=f"nas-{via[:3]}-", dir="/tmp")))
    env = {**nas_env, "NAS_HOME": str(home), "NAS_TEST_GENERATION_SECONDS": "1"}
    nas("study", "create", "fleet", "--objective", "tests.fixtures.objectives:evolve_paced",
        "-t", "cartpole", "-n", "4", "-g", "40", "-p", "100", "-s", "1", "--pruner", "none", env=env, check=True)
    up = nas("workers", "up", "2", "--via", via, "--threads", "1", "--study", "fleet", env=env, check=True)
    assert up.stdout.strip()
    wait_until(lambda: query(db_url, "SELECT count(*) FROM trials WHERE state = 'RUNNING'")[0][0] == 2,
               300, what="two running trials")
    listing = nas("workers", "ps", "--via", via, env=env, check=True).stdout
    assert listing.count("\n") == 2 and "RUNNING" in listing.upper()
    down = nas("workers", "down", "--via", via, env=env, check=True, timeout=200)
    assert down.stdout.count("stopped") == 2
    assert query(db_url, "SELECT count(*) FROM trials WHERE state = 'RUNNING'") == [(0,)]
    assert query(db_url, "SELECT count(*) FROM nas.claims WHERE state = 'active'") == [(0,)]
    assert nas("workers", "ps", "--via", via, env=env, check=True).stdout.strip() in ("no workers", "")


def test_a_supervisor_fleet_that_finished_leaves_nothing_running(nas_env, db_url, tmp_path):
    home = traversable(tmp_path) / "fleet-done"
    env = {**nas_env, "NAS_HOME": str(home)}
    nas("study", "create", "done", *SMALL, "-n", "2", env=env, check=True)
    nas("workers", "up", "2", "--via", "supervisor", "--threads", "1", "--study", "done",
        env=env, check=True)
    wait_until(lambda: not (home / "supervisor.sock").exists(), 300,
               what="supervisord to shut down after its workers finished")
    assert query(db_url, "SELECT count(*) FROM trials WHERE state = 'COMPLETE'") == [(2,)]
    assert nas("workers", "ps", "--via", "supervisor", env=env, check=True).stdout.strip() == "no workers"
    assert nas("workers", "down", "--via", "supervisor", env=env, check=True).stdout.strip() == "no workers"
