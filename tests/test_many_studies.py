"""One pool of workers, many studies: priority, fairness, pause and resume."""
from nas.testing import SMALL, nas, query, start_nas


def trials_of(url, study):
    return query(url, "SELECT count(*) FROM trials t JOIN studies s USING (study_id) "
                      "WHERE s.study_name = :n AND t.state = 'COMPLETE'", n=study)[0][0]


def claim_times(url, study):
    return [r[0] for r in query(url, "SELECT c.claimed_at FROM nas.claims c JOIN nas.studies s "
                                     "ON s.id = c.study_id WHERE s.name = :n ORDER BY 1", n=study)]


def test_priority_then_pause_then_resume(nas_env, db_url, tmp_path):
    nas("study", "create", "high", *SMALL, "-n", "6", "--priority", "5", env=nas_env, check=True)
    nas("study", "create", "low", *SMALL, "-n", "4", env=nas_env, check=True)
    nas("study", "create", "held", *SMALL, "-n", "3", "--priority", "9", env=nas_env, check=True)
    assert "paused" in nas("study", "pause", "held", env=nas_env, check=True).stdout

    procs = [start_nas("worker", "--threads", "1", env=nas_env, log=tmp_path / f"w{i}.log")
             for i in range(3)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    assert (trials_of(db_url, "high"), trials_of(db_url, "low"), trials_of(db_url, "held")) == (6, 4, 0)
    # every claim of the higher priority came before any claim of the lower one
    assert max(claim_times(db_url, "high")) < min(claim_times(db_url, "low"))

    nas("study", "resume", "held", env=nas_env, check=True)
    nas("worker", "--threads", "1", env=nas_env, check=True)
    assert trials_of(db_url, "held") == 3
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY state") == [("done", 13)]


def test_equal_priorities_share_the_workers(db_url):
    """With two equal-priority studies, claims alternate instead of draining the older one."""
    from nas.store import Store
    from nas.spec import StudySpec

    Store(db_url).upgrade()
    spec = StudySpec(mode="pure", task="cartpole", generations=1, seeds=1, population=20, budget=10)
    a, _ = Store(db_url).create_or_resume_study("a", spec)
    b, _ = Store(db_url).create_or_resume_study("b", spec)
    taken = [Store(db_url).claim([a.id, b.id], None).study_name for _ in range(6)]
    assert sorted(taken) == ["a", "a", "a", "b", "b", "b"]


def test_pause_unknown_study_is_an_error(nas_env, db_url):
    nas("study", "create", "x", *SMALL, env=nas_env, check=True)
    out = nas("study", "pause", "nope", env=nas_env)
    assert out.returncode == 1 and out.stderr.strip() == "error: no study named 'nope' in this database"


def test_pruned_trials_keep_their_seed_rows(nas_env, db_url):
    nas("study", "create", "pr", "--objective", "tests.fixtures.objectives:pruned_at_generation_2",
        "-g", "10", "-s", "2", "-p", "20", "-n", "2", "--sampler", "random", env=nas_env, check=True)
    nas("worker", "--study", "pr", "--threads", "1", env=nas_env, check=True)
    assert query(db_url, "SELECT state, count(*) FROM nas.trials GROUP BY 1") == [("PRUNED", 2)]
    assert query(db_url, "SELECT count(*), min(generations), max(generations) FROM nas.seed_runs") == \
        [(4, 3, 3)]
    assert query(db_url, "SELECT count(*) FROM nas.generations") == [(2 * 2 * 3,)]
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY 1") == [("done", 2)]
