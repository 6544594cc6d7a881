"""Real worker processes against a real PostgreSQL: exact budgets, thread caps, signals."""
import signal
import time

import pytest

from nas.testing import SMALL, nas, query, start_nas, trial_states, wait_until
from nas.worker.threads import os_thread_count

SLOW = ["--objective", "tests.fixtures.objectives:evolve_unsolved", "--pruner", "none",
        "--sampler", "random", "-m", "pure", "-t", "cartpole"]
# Trials that outlast any interruption: a second per generation (unset on resume).
PACED = ["--objective", "tests.fixtures.objectives:evolve_paced", *SLOW[2:]]
PAUSE = {"NAS_TEST_GENERATION_SECONDS": "1"}


def test_four_workers_finish_exactly_the_budget(nas_env, db_url, tmp_path):
    nas("study", "create", "budget", *SMALL, "-n", "12", env=nas_env, check=True)
    procs = [start_nas("worker", "--study", "budget", "--threads", "1", env=nas_env,
                       log=tmp_path / f"w{i}.log") for i in range(4)]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0, 0, 0, 0]
    states = trial_states(db_url, "budget")
    assert states == {"COMPLETE": 12}
    claims = query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY state")
    assert claims == [("done", 12)]
    # every worker took part and then said why it stopped
    logs = [(tmp_path / f"w{i}.log").read_text() for i in range(4)]
    assert all("no budget left" in log for log in logs)
    assert query(db_url, "SELECT count(DISTINCT worker_id) FROM nas.claims")[0][0] >= 2


def test_worker_with_spent_budget_exits_zero_without_new_trials(nas_env, db_url):
    nas("study", "create", "spent", *SMALL, "-n", "2", env=nas_env, check=True)
    nas("worker", "--study", "spent", "--threads", "1", env=nas_env, check=True)
    again = nas("worker", "--study", "spent", "--threads", "1", env=nas_env)
    assert again.returncode == 0 and "no budget left" in again.stderr
    assert trial_states(db_url, "spent") == {"COMPLETE": 2}


@pytest.mark.parametrize("threads, engine", [(1, "kernel"), (2, "kernel"), (2, "torch")])
def test_worker_os_threads_stay_within_the_cap(nas_env, db_url, tmp_path, threads, engine):
    """Both compute paths: the compiled kernels (numba's OpenMP layer, the CPU default) and
    torch's."""
    from pathlib import Path

    # paced: the kernels can finish 200 generations of 2,000 in a second, and the trial must
    # still be running (and the worker alive) while its threads are counted
    nas("study", "create", "threads", *PACED, "-n", "1", "-g", "200", "-p", "2000", "-s", "2",
        env=nas_env, check=True)
    proc = start_nas("worker", "--study", "threads", "--threads", str(threads),
                     env={**nas_env, "NAS_ENGINE": engine, "NAS_TEST_GENERATION_SECONDS": "0.1"},
                     log=tmp_path / "w.log")
    try:
        wait_until(lambda: trial_states(db_url, "threads").get("RUNNING"), 300, what="a running trial")
        maps = Path(f"/proc/{proc.pid}/maps")
        if engine == "kernel":  # numba's OpenMP pool loads with the first kernel launch
            wait_until(lambda: "omppool" in maps.read_text(), 120, what="a kernel launch")
        counts = []
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and proc.poll() is None:
            counts.append(os_thread_count(proc.pid))
            time.sleep(0.05)
        assert counts, "worker exited before it could be observed"
        # main thread + Optuna's heartbeat thread + at most `threads - 1` OpenMP workers
        assert max(counts) <= threads + 2, counts
        assert engine == "kernel" or "numba" not in maps.read_text()  # torch: no kernel ran
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0


def test_search_ctrl_c_leaves_no_running_trial_and_resumes_exactly(nas_env, db_url):
    import subprocess
    import sys

    from nas.testing import ROOT

    args = ["search", "stop-me", *PACED, "-n", "2", "-g", "40", "-p", "200", "-s", "1", "-j", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "nas", *args], env={**nas_env, **PAUSE}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: trial_states(db_url, "stop-me").get("RUNNING") == 2, 300,
               what="both workers running a trial")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        "interrupted: the workers stopped at a generation boundary, their trials checkpointed "
        "and queued to continue; continue with: nas search stop-me -j 2")
    states = trial_states(db_url, "stop-me")
    assert "RUNNING" not in states
    assert states == {"FAIL": 2, "WAITING": 2}
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY state") == [("released", 2)]
    # Resume as the message says (the name alone: the stored spec): the queued retries
    # continue their checkpoints with the same params and the budget ends exact.
    nas("search", "stop-me", "-j", "2", env=nas_env, check=True, timeout=300)
    assert trial_states(db_url, "stop-me") == {"FAIL": 2, "COMPLETE": 2}
    retried = query(db_url, "SELECT count(*) FROM trial_system_attributes WHERE key = 'failed_trial'")
    assert retried == [(2,)]


def test_sigterm_while_the_worker_starts_is_a_clean_stop(nas_env, db_url, tmp_path):
    """A stop that lands during the imports (torch takes seconds) exits 0 with a line: the
    handler is installed before torch is imported (a probe records which, at the moment
    torch's import begins), and a SIGTERM sent then is a clean stop."""
    from nas.testing import ROOT

    nas("study", "create", "early", *SMALL, "-n", "2", env=nas_env, check=True)
    log, probe = tmp_path / "w.log", tmp_path / "torch-import"
    env = {**nas_env, "NAS_TEST_TORCH_PROBE": str(probe),
           "PYTHONPATH": f"{ROOT / 'tests' / 'fixtures' / 'torch_probe'}:{nas_env.get('PYTHONPATH', '')}"}
    proc = start_nas("worker", "--study", "early", "--threads", "1", env=env, log=log)
    wait_until(lambda: probe.exists() and probe.read_text(), 60, interval=0.01,
               what="the worker to start importing torch")
    proc.send_signal(signal.SIGTERM)  # torch's import has just begun: seconds of it left
    assert probe.read_text() == "handler", "the handler came after torch: a stop during the imports would kill"
    assert proc.wait(timeout=120) == 0
    assert "stop requested" in log.read_text()
    assert trial_states(db_url, "early") == {}