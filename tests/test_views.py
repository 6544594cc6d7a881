"""The psql views over Optuna's tables and ours, on a study made by real workers,
and the migration path from the previous revision."""
import pytest

from conftest import SMALL, nas, query
from nas.store import schema


def test_views_show_what_the_tables_hold(nas_env, db_url):
    nas("study", "create", "v", *SMALL, "-n", "5", env=nas_env, check=True)
    nas("worker", "--study", "v", "--threads", "1", env=nas_env, check=True)
    rows = query(db_url, "SELECT number, state, value, params, worker_host, retry_of, retries "
                         "FROM nas.trials WHERE study = 'v' ORDER BY number")
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4]
    assert all(r[1] == "COMPLETE" and r[4] and r[5] is None and r[6] == 0 for r in rows)
    optuna_values = dict(query(db_url, "SELECT t.number, v.value FROM trials t "
                                       "JOIN trial_values v USING (trial_id)"))
    assert {r[0]: r[2] for r in rows} == optuna_values
    for _, _, _, params, *_ in rows:
        assert params["activation"] in ("tanh", "relu", "sigmoid", "elu")
        assert isinstance(params.get("hidden_layers", params.get("neurons")), int)
        assert params["recurrence"] in ("none", "elman", "full")
        assert isinstance(params["sigma"], float)
    progress = query(db_url, "SELECT budget, finished, complete, running, waiting, best, eta "
                             "FROM nas.progress WHERE study = 'v'")[0]
    assert progress[:5] == (5, 5, 5, 0, 0)
    assert progress[5] == max(optuna_values.values())
    assert progress[6].total_seconds() == 0
    top = query(db_url, "SELECT rank, value FROM nas.leaderboard WHERE study = 'v'")
    assert len(top) == 5 and top[0] == (1, max(optuna_values.values()))


def test_upgrade_from_the_previous_revision_keeps_data(db_url):
    schema.upgrade(db_url, revision="0001")
    assert schema.current_revision(db_url) == "0001"
    assert query(db_url, "SELECT to_regclass('nas.trials')") == [(None,)]
    from nas.store import studies
    from nas.store.studies import StudySpec

    spec = StudySpec(mode="pure", task="cartpole", generations=3, seeds=1, population=20, budget=3)
    studies.create_or_resume(db_url, "old", spec)
    schema.upgrade(db_url)
    assert schema.current_revision(db_url) == schema.head_revision()
    assert query(db_url, "SELECT study, budget, finished FROM nas.progress") == [("old", 3, 0)]


def test_retries_are_visible(nas_env, db_url):
    import optuna

    from nas.store.session import optuna_storage

    nas("study", "create", "r", *SMALL, "-n", "2", env=nas_env, check=True)
    study = optuna.load_study(study_name="r", storage=optuna_storage(db_url))
    trial = study.ask()
    x = trial.suggest_float("x", 0.0, 1.0)
    frozen = study._storage.get_trial(trial._trial_id)
    study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    optuna.storages.RetryHeartbeatStaleTrialCallback()(study, study._storage.get_trial(frozen._trial_id))
    rows = query(db_url, "SELECT number, state, retry_of, retries FROM nas.trials ORDER BY number")
    assert rows == [(0, "FAIL", None, 0), (1, "WAITING", 0, 1)]
    params = query(db_url, "SELECT number, params FROM nas.trials ORDER BY number")
    assert params == [(0, {"x": x}), (1, {"x": x})]


def test_result_rows_best_and_status(nas_env, db_url):
    import json as _json

    nas("study", "create", "res", *SMALL, "-s", "2", "-n", "3", env=nas_env, check=True)
    nas("worker", "--study", "res", "--threads", "1", env=nas_env, check=True)
    runs = query(db_url, "SELECT trial_id, seed, generations, evaluations, best_fitness "
                         "FROM nas.seed_runs ORDER BY trial_id, seed")
    assert len(runs) == 3 * 2 and {r[1] for r in runs} == {0, 1}
    for trial_id, seed, gens, evals, best in runs:
        assert evals == gens * 20
        curve = query(db_url, "SELECT generation, best FROM nas.generations "
                              "WHERE trial_id = :t AND seed = :s ORDER BY generation", t=trial_id, s=seed)
        assert [g for g, _ in curve] == list(range(gens)) and max(b for _, b in curve) == best
        genome = query(db_url, "SELECT fitness, genome FROM nas.genomes WHERE trial_id = :t AND seed = :s",
                       t=trial_id, s=seed)[0]
        assert genome[0] == best and len(genome[1]["params"]) > 0
    best_out = nas("best", "res", env=nas_env, check=True).stdout
    top = query(db_url, "SELECT number, value FROM nas.leaderboard WHERE study = 'res' AND rank = 1")[0]
    assert f"best trial {top[0]}" in best_out and best_out.count("\n") >= 4

    worker_id = query(db_url, "INSERT INTO nas.workers (host, pid, threads, version) "
                              "VALUES ('ghost', 1, 1, 'x') RETURNING id")
    query(db_url, "UPDATE nas.workers SET last_seen = now() - interval '1 hour' WHERE host = 'ghost'")
    snap = _json.loads(nas("status", "res", "--json", env=nas_env, check=True).stdout)
    assert [s["finished"] for s in snap["studies"]] == [3]
    ghost = [w for w in snap["workers"] if w["host"] == "ghost"]
    assert ghost and ghost[0]["stale"] is True and worker_id
    text = nas("status", env=nas_env, check=True).stdout
    assert "STALE" in text and "res" in text


def test_reader_role_reads_views_and_cannot_write(nas_env, db_url):
    import psycopg2
    from sqlalchemy.engine import make_url

    nas("study", "create", "ro", *SMALL, "-n", "1", env=nas_env, check=True)
    url = make_url(db_url)
    conn = psycopg2.connect(host=url.host, port=url.port, dbname=url.database, user="nas_reader")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT study, budget FROM nas.progress")
            assert cur.fetchall() == [("ro", 1)]
            for sql in ("INSERT INTO nas.studies (name) VALUES ('x')", "SELECT * FROM trials",
                        "DELETE FROM nas.claims", "SELECT * FROM nas.workers"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(sql)
    finally:
        conn.close()
