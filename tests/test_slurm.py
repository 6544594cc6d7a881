"""`nas workers up|ps|down --via slurm` and deploy/slurm/nas-workers.sbatch.

The tests marked `slurm` run on a real single-node Slurm cluster (tests/slurm_cluster.py:
Debian's slurmctld, slurmd and munge, installed through tests/system_packages.py) that the
module starts and stops: `make test-slurm`. The others need no Slurm and run everywhere.
"""
from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from nas.testing import PASSWORD, PASSWORD_USER, ROOT, SMALL, admin, nas, query, traversable, trial_states, wait_until
from nas import defaults
from nas.coordinator.fleets.slurm import SBATCH_SCRIPT, sbatch_argv

SCRIPT = ROOT / "deploy" / "slurm" / "nas-workers.sbatch"
PACED = ["--objective", "tests.fixtures.objectives:evolve_paced", "--pruner", "none",
         "--sampler", "random", "-m", "pure", "-t", "cartpole", "-g", "200", "-p", "200", "-s", "1"]
PAUSE = {"NAS_TEST_GENERATION_SECONDS": "1"}


# --- the job script and the sbatch command line (no Slurm needed) ---------------------------
def test_the_script_signals_the_worker_itself_one_stop_grace_before_the_limit():
    text = SCRIPT.read_text()
    assert SCRIPT.resolve() == SBATCH_SCRIPT.resolve()  # deploy/ shows what nas submits
    grace = re.search(r"^#SBATCH --signal=B:TERM@(\d+)$", text, re.M)
    assert grace and int(grace.group(1)) == defaults.STOP_GRACE
    # B: signals the batch shell only: the shell must *be* the worker
    assert re.search(r'^exec "\$\{NAS_BIN:-nas\}" worker --threads "\$NAS_THREADS" "\$@"$', text, re.M)
    assert "PASSWORD" not in re.sub(r"NAS_DATABASE_PASSWORD_FILE|holds a password", "", text)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=30)


def test_the_script_takes_threads_from_the_task_cpus():
    out = _script({"NAS_DATABASE_URL": "postgresql://nas@db.cluster:5432/nas", "NAS_BIN": "echo",
                   "SLURM_CPUS_PER_TASK": "3", "NAS_THREADS": "8"}, "--serve")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["worker", "--threads", "3", "--serve"]


@pytest.mark.parametrize("url, says", [("", "set NAS_DATABASE_URL"),
                                       (f"postgresql://nas:{PASSWORD}@db:5432/nas", "holds a password")])
def test_the_script_refuses_a_missing_url_or_a_password_in_it(url, says):
    out = _script({"NAS_DATABASE_URL": url, "NAS_BIN": "echo"}, "--serve")
    assert out.returncode == 2 and says in out.stderr and out.stdout == ""
    assert PASSWORD not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_sbatch_argv_is_an_array_with_the_options_and_the_worker_arguments(tmp_path):
    argv = sbatch_argv(3, 2, ["a", "b"], True, tmp_path, "long", "2-00:00:00")
    assert argv[:4] == ["sbatch", "--parsable", "--array=1-3", "--export=ALL"]
    assert {"--cpus-per-task=2", "--partition=long", "--time=2-00:00:00",
            f"--output={tmp_path}/nas-worker-%A_%a.log"} <= set(argv)
    assert argv[-6:] == [str(SBATCH_SCRIPT), "--study", "a", "--study", "b", "--serve"]
    # no --cpus: the script's own #SBATCH --cpus-per-task applies
    assert not any(a.startswith("--cpus-per-task") for a in sbatch_argv(1, None, [], False, tmp_path))


def assert_one_line_error(out, *says):
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    for s in says:
        assert s in out.stderr, out.stderr


def test_up_without_slurm_is_a_one_line_error(nas_env, db_url, tmp_path):
    nas("study", "create", "s", *SMALL, "-n", "2", env=nas_env, check=True)
    bare = {**nas_env, "PATH": str(tmp_path)}  # no sbatch there
    assert_one_line_error(nas("workers", "up", "2", "--via", "slurm", env=bare),
                          "sbatch not found", "on PATH")
    assert not (tmp_path / "home" / "secrets").exists()  # nothing written before the check
    assert_one_line_error(nas("workers", "up", "2", "--partition", "p", env=nas_env),
                          "--partition, --time and --cpus are for --via slurm")
    assert_one_line_error(nas("workers", "up", "2", "--via", "slurm", "--cpus", "2", "--threads", "3",
                              env=nas_env), "disagree")
    assert nas("workers", "ps", "--via", "slurm", env=bare).stdout.strip() == "no workers"


# --- a real single-node cluster -----------------------------------------------------------
@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    from tests.slurm_cluster import PACKAGES, SlurmCluster
    from tests.system_packages import ensure

    ensure(PACKAGES)
    cluster = SlurmCluster(traversable(tmp_path_factory.mktemp("slurm")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slurm_env(slurm, nas_env):
    yield {**nas_env, "SLURM_CONF": str(slurm.conf)}
    slurm.run("scancel", "--full", "--signal=KILL", "--user=root")  # whatever a failed test left
    wait_until(lambda: not slurm.jobs(), 60, what="the test's jobs to leave")


def submitted(out) -> str:
    assert out.returncode == 0, out.stderr
    return re.search(r"submitted slurm job (\d+)", out.stdout).group(1)


def job_states(slurm, job: str) -> list[tuple[str, str]]:
    """(JobState, ExitCode) of every task of an array, from scontrol's own output."""
    lines = slurm.run("scontrol", "show", "job", "-o", job, check=True).stdout.splitlines()
    return sorted(tuple(re.search(rf"\b{k}=(\S+)", line).group(1) for k in ("JobState", "ExitCode"))
                  for line in lines if line.strip())


def log_of(env, job: str, task: int) -> str:
    return (Path(env["NAS_HOME"]) / "logs" / "slurm" / f"nas-worker-{job}_{task}.log").read_text()


def active_claims(url: str) -> int:
    return query(url, "SELECT count(*) FROM nas.claims WHERE state = 'active'")[0][0]


@pytest.mark.slurm
def test_three_array_tasks_finish_a_six_trial_study(slurm, slurm_env, pg, tmp_path):
    owned = "slurm_" + uuid.uuid4().hex[:8]
    admin(pg, f'CREATE DATABASE "{owned}" OWNER {PASSWORD_USER}')
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    env = {**slurm_env, "NAS_DATABASE_URL": f"postgresql://{PASSWORD_USER}@127.0.0.1:{pg.port}/{owned}",
           "NAS_DATABASE_PASSWORD_FILE": str(secret)}
    url = f"postgresql+psycopg2://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{pg.port}/{owned}"
    nas("study", "create", "six", *SMALL, "-n", "6", env=env, check=True)

    up = nas("workers", "up", "3", "--via", "slurm", "--study", "six", "--cpus", "1", env=env)
    job = submitted(up)
    assert "3 workers, 1 CPU each" in up.stdout and PASSWORD not in up.stdout + up.stderr
    # Slurm's own copies of the job (script, environment) name the file, never the password
    copies = [p for p in slurm.root.rglob("*") if p.is_file() and p.name in ("environment", "script")]
    assert any(b"NAS_DATABASE_PASSWORD_FILE=" in p.read_bytes() for p in copies), copies
    assert not [p for p in slurm.root.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    listed = nas("workers", "ps", "--via", "slurm", env=env, check=True).stdout
    assert re.search(rf"^slurm job {job}_[123] (PENDING|RUNNING)", listed, re.M), listed

    wait_until(lambda: not slurm.jobs(), 300, interval=0.5, what="all three tasks to end")
    assert trial_states(url, "six") == {"COMPLETE": 6}
    assert query(url, "SELECT state, count(*) FROM nas.claims GROUP BY state") == [("done", 6)]
    assert job_states(slurm, job) == [("COMPLETED", "0:0")] * 3
    assert nas("workers", "ps", "--via", "slurm", env=env, check=True).stdout.strip() == "no workers"
    assert query(url, "SELECT DISTINCT threads FROM nas.workers") == [(1,)]
    for task in (1, 2, 3):
        log = log_of(env, job, task)
        assert "no budget left" in log and PASSWORD not in log


@pytest.mark.slurm
def test_workers_down_mid_trial_requeues_every_trial(slurm, slurm_env, db_url):
    env = {**slurm_env, **PAUSE}
    nas("study", "create", "stop-me", *PACED, "-n", "2", env=env, check=True)
    job = submitted(nas("workers", "up", "2", "--via", "slurm", "--study", "stop-me", "--cpus", "1", env=env))
    wait_until(lambda: trial_states(db_url, "stop-me").get("RUNNING") == 2, 300, interval=0.5,
               what="both tasks running a trial")

    down = nas("workers", "down", "--via", "slurm", env=env, check=True)
    assert sorted(down.stdout.split("\n")[:2]) == [f"stopped slurm job {job}_1", f"stopped slurm job {job}_2"]
    assert not slurm.jobs()  # down waited for them
    assert trial_states(db_url, "stop-me") == {"FAIL": 2, "WAITING": 2}
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY state") == [("released", 2)]
    assert active_claims(db_url) == 0
    assert query(db_url, "SELECT DISTINCT state FROM nas.workers") == [("stopped",)]
    # one SIGTERM, a clean exit: not cancelled by KillWait's SIGKILL
    assert job_states(slurm, job) == [("COMPLETED", "0:0")] * 2
    assert all("SIGTERM: finishing at the next generation boundary" in log_of(env, job, t) for t in (1, 2))


@pytest.mark.slurm
def test_down_cancels_what_outlives_the_stop_grace(slurm, slurm_env, db_url, monkeypatch):
    """A worker still inside a long generation when the grace ends gets scancel's own
    SIGTERM: its second stop request, which exits at once (its trial is left to the reaper)."""
    env = {**slurm_env, "NAS_TEST_GENERATION_SECONDS": "60"}
    nas("study", "create", "stubborn", *PACED, "-n", "1", env=env, check=True)
    job = submitted(nas("workers", "up", "1", "--via", "slurm", "--study", "stubborn", "--cpus", "1", env=env))
    wait_until(lambda: trial_states(db_url, "stubborn").get("RUNNING") == 1, 300, interval=0.5,
               what="the task running a trial")
    for name in ("SLURM_CONF", "NAS_HOME"):
        monkeypatch.setenv(name, env[name])
    from nas.coordinator.fleets.slurm import SlurmFleet

    assert SlurmFleet().down(grace=2) == [f"killed slurm job {job}_1 (still running after the 2 s stop grace)"]
    wait_until(lambda: not slurm.jobs(), 60, what="the task to leave")
    assert [state for state, _ in job_states(slurm, job)] == ["CANCELLED"]
    assert "SIGTERM again: exiting now" in log_of(env, job, 1)


@pytest.mark.slurm
def test_a_task_reaching_its_time_limit_requeues_its_trial_before_it(slurm, slurm_env, db_url):
    env = {**slurm_env, **PAUSE}
    nas("study", "create", "timed", *PACED, "-n", "1", env=env, check=True)
    job = submitted(nas("workers", "up", "1", "--via", "slurm", "--study", "timed", "--cpus", "2",
                        "--time", "10", env=env))
    wait_until(lambda: trial_states(db_url, "timed").get("RUNNING") == 1, 300, interval=0.5,
               what="the task running a trial")
    # Slurm counts minutes: shorten the running job to 2, which puts it inside the
    # script's 120 s warning at once; the controller acts on its next 30 s check.
    slurm.run("scontrol", "update", f"JobId={job}_1", "TimeLimit=2", check=True)

    wait_until(lambda: not slurm.jobs(), 120, interval=0.5, what="the task to end")
    assert trial_states(db_url, "timed") == {"FAIL": 1, "WAITING": 1}
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY state") == [("released", 1)]
    assert active_claims(db_url) == 0
    # stopped by the warning before the limit (TIMEOUT would mean the limit killed it)
    assert job_states(slurm, job) == [("COMPLETED", "0:0")]
    assert query(db_url, "SELECT threads FROM nas.workers") == [(2,)]  # NAS_THREADS = task CPUs
    assert "SIGTERM: finishing at the next generation boundary" in log_of(env, job, 1)
    # nothing thrown away: the trial was checkpointed when stopped, and the next array
    # task continues it from there
    saved = query(db_url, "SELECT generation FROM nas.checkpoints")
    assert len(saved) == 1 and query(db_url, "SELECT preempted FROM nas.trials WHERE number = 0") == [(True,)]
    again = submitted(nas("workers", "up", "1", "--via", "slurm", "--study", "timed", "--cpus", "2",
                          env=slurm_env))
    wait_until(lambda: not slurm.jobs(), 300, interval=0.5, what="the next task to finish the trial")
    assert job_states(slurm, again) == [("COMPLETED", "0:0")]
    assert query(db_url, "SELECT number, state, resumed_from FROM nas.trials ORDER BY number") == \
        [(0, "FAIL", None), (1, "COMPLETE", saved[0][0] + 1)]
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]


@pytest.mark.slurm
def test_sbatch_errors_are_one_line(slurm, slurm_env):
    nas("study", "create", "s", *SMALL, "-n", "1", env=slurm_env, check=True)
    assert_one_line_error(nas("workers", "up", "1", "--via", "slurm", "--partition", "nosuch",
                              env=slurm_env), "sbatch failed:", "partition")
    assert_one_line_error(nas("workers", "up", "1", "--via", "slurm", "--time", "soon",
                              env=slurm_env), "sbatch failed:", "time")
    assert not slurm.jobs()
