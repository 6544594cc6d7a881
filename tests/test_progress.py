"""Progress inside trials, from the database: generations move before any trial finishes."""
import json
import signal

from nas.testing import nas, query, start_nas, wait_until

PACED = ["-m", "pure", "-t", "cartpole", "-g", "8", "-s", "2", "-p", "20", "--sampler", "random",
         "--pruner", "none", "--objective", "tests.fixtures.objectives:evolve_paced"]


def snapshot(env):
    return json.loads(nas("status", "paced", "--json", env=env, check=True).stdout)


def test_status_counts_generations_of_running_trials(nas_env, db_url, tmp_path):
    nas("study", "create", "paced", *PACED, "-n", "2", env=nas_env, check=True)
    env = {**nas_env, "NAS_TEST_GENERATION_SECONDS": "1"}
    worker = start_nas("worker", "--study", "paced", "--threads", "1", env=env,
                       log=tmp_path / "worker.log")
    try:
        seen = []

        def moved():
            snap = snapshot(nas_env)
            study = snap["studies"][0]
            assert study["finished"] == 0, "a trial finished before progress was seen twice"
            if study["generations_done"] > 0:
                seen.append((study, snap["running"]))
            return len({s["generations_done"] for s, _ in seen}) >= 2

        wait_until(moved, timeout=120, interval=0.3, what="generations rising inside a trial")
        study, running = seen[-1]
        assert study["generations_total"] == 2 * 8 * 2 and study["eta"] is not None
        assert study["generations_done"] == 2 * (running[0]["generation"] + 1)
        assert running[0]["generations"] == 8 and running[0]["value"] is not None
        text = nas("status", env=nas_env, check=True).stdout
        assert "running trials: 1" in text and "generation" in text
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
    assert query(db_url, "SELECT count(*) FROM trials WHERE state = 'RUNNING'") == [(0,)]
