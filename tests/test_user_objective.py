"""Bring your own objective: the documented example runs in real workers."""
from nas.testing import nas, query


def test_example_objective_runs_and_is_deterministic(nas_env, db_url):
    nas("study", "create", "sine", "--objective", "examples.my_objective:objective", "--direction",
        "minimize", "-n", "3", "-g", "30", "--sampler", "random", "--pruner", "none", env=nas_env,
        check=True)
    nas("worker", "--study", "sine", "--threads", "1", env=nas_env, check=True)
    rows = query(db_url, "SELECT number, state, value, params FROM nas.trials ORDER BY number")
    assert [r[1] for r in rows] == ["COMPLETE"] * 3
    assert all(r[2] > 0 for r in rows)  # a loss, minimized:
    assert query(db_url, "SELECT direction FROM nas.progress") == [("minimize",)]
    assert [r[0] for r in query(db_url, "SELECT value FROM nas.leaderboard ORDER BY rank")] == \
        sorted(r[2] for r in rows)
    best = nas("best", "sine", env=nas_env, check=True).stdout
    assert "lower is better" in best
    for listing in (nas("study", "list", env=nas_env, check=True).stdout,
                    nas("status", env=nas_env, check=True).stdout):
        line = next(l for l in listing.splitlines() if l.startswith("sine"))
        assert "objective examples.my_objective:objective" in line and "pure/cartpole" not in line
        assert "fitness" in line  # the objective's own value
    import optuna

    from examples.my_objective import objective
    from nas.store import Store

    import torch

    spec = Store(db_url).require_study("sine").spec
    first = rows[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the worker ran it (--threads 1): matmul splits by thread
    try:
        assert objective(optuna.trial.FixedTrial(first[3]), spec) == first[2]
    finally:
        torch.set_num_threads(threads)


def test_missing_objective_fails_at_create_and_at_worker_start(nas_env, db_url):
    out = nas("study", "create", "x", "--objective", "examples.nope:objective", env=nas_env)
    assert out.returncode == 1 and "cannot import objective module 'examples.nope'" in out.stderr
    out = nas("study", "create", "y", "--objective", "examples.my_objective:missing", env=nas_env)
    assert out.returncode == 1 and "has no function 'missing'" in out.stderr
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]  # nothing written


def test_worker_refuses_a_study_whose_objective_no_longer_imports(nas_env, db_url, tmp_path):
    module = tmp_path / "vanishing_objective.py"
    module.write_text("def objective(trial, spec):\n    return 1.0\n")
    env = {**nas_env, "PYTHONPATH": str(tmp_path)}
    nas("study", "create", "gone", "--objective", "vanishing_objective:objective", env=env, check=True)
    module.unlink()
    out = nas("worker", "--study", "gone", env=env)
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1] == \
        "error: cannot import objective module 'vanishing_objective': No module named 'vanishing_objective'"
    assert query(db_url, "SELECT count(*) FROM trials") == [(0,)]


def test_direction_is_part_of_the_spec_and_checked(nas_env, db_url):
    base = ["--objective", "examples.my_objective:objective", "-n", "2"]
    nas("study", "create", "d", *base, "--direction", "minimize", env=nas_env, check=True)
    again = nas("study", "create", "d", *base, env=nas_env, check=True)  # not given: the stored one
    assert "resumed study 'd'" in again.stdout
    clash = nas("study", "create", "d", *base, "--direction", "maximize", env=nas_env)
    assert clash.returncode == 1 and "direction: 'minimize' -> 'maximize'" in clash.stderr
    wrong = nas("study", "create", "e", "--direction", "maximize", env=nas_env)  # evaluations: lower
    assert wrong.returncode == 1 and wrong.stderr.strip().splitlines() == [
        "error: --direction maximize contradicts --metric evaluations (minimize); "
        "--direction is for an --objective's own value"]
