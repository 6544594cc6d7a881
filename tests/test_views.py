"""The psql views over Optuna's tables and ours, on a study made by real workers,
and the migration path from the previous revision."""
import pytest

from nas.store import Store
from nas.store import schema
from nas.testing import SMALL, nas, query


@pytest.mark.parametrize("metric, best_of", [("evaluations", min), ("fitness", max)])
def test_views_show_what_the_tables_hold(nas_env, db_url, metric, best_of):
    """Ranked the way the study's metric points: evaluations minimized, fitness maximized."""
    nas("study", "create", "v", *SMALL, "-n", "5", "--metric", metric, env=nas_env, check=True)
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
    assert progress[5] == best_of(optuna_values.values())
    assert progress[6].total_seconds() == 0
    top = query(db_url, "SELECT rank, value, metric FROM nas.leaderboard WHERE study = 'v'")
    assert len(top) == 5 and top[0] == (1, best_of(optuna_values.values()), metric)
    assert [v for _, v, _ in top] == sorted(optuna_values.values(), reverse=best_of is max)


def test_upgrade_from_earlier_revisions_keeps_data(db_url):
    """A study written at revision 0004 (before metrics) keeps its rows and its meaning:
    it maximized mean best fitness, so its metric becomes `fitness`."""
    import optuna

    store = Store(db_url)
    store.upgrade(revision="0001")
    assert store.current_revision() == "0001"
    assert query(db_url, "SELECT to_regclass('nas.trials')") == [(None,)]
    store.upgrade(revision="0004")
    old = optuna.create_study(study_name="old", storage=store.optuna_storage(), direction="maximize")
    query(db_url, "INSERT INTO nas.studies (name, optuna_study_id, mode, task, generations, seeds, "
                  "population, budget, sampler, pruner) VALUES ('old', :s, 'pure', 'cartpole', 3, 1, "
                  "20, 3, 'tpe', 'median')", s=old._study_id)
    store.upgrade()
    assert store.current_revision() == schema.head_revision()
    assert query(db_url, "SELECT study, budget, finished, metric, direction FROM nas.progress") == \
        [("old", 3, 0, "fitness", "maximize")]
    assert store.require_study("old").spec.metric == "fitness"


def test_retries_are_visible(nas_env, db_url):
    import optuna

    
    nas("study", "create", "r", *SMALL, "-n", "2", env=nas_env, check=True)
    study = optuna.load_study(study_name="r", storage=Store(db_url).optuna_storage())
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
    params = dict(query(db_url, "SELECT trial_id, params FROM nas.trials"))
    for trial_id, seed, gens, evals, best in runs:
        # -p 20, unless the trial's CMA-ES took its own default population size
        own = params[trial_id].get("cmaes_population") == "default"
        assert evals == gens * (evals // gens if own else 20) and (not own or evals // gens >= 4)
        curve = query(db_url, "SELECT generation, best FROM nas.generations "
                              "WHERE trial_id = :t AND seed = :s ORDER BY generation", t=trial_id, s=seed)
        assert [g for g, _ in curve] == list(range(gens)) and max(b for _, b in curve) == best
        genome = query(db_url, "SELECT fitness, genome FROM nas.genomes WHERE trial_id = :t AND seed = :s",
                       t=trial_id, s=seed)[0]
        assert genome[0] == best and len(genome[1]["params"]) > 0
    rates = query(db_url, "SELECT t.success_rate, avg((s.solved_evaluations IS NOT NULL)::int)::float8 "
                          "FROM nas.trials t JOIN nas.seed_runs s USING (trial_id) "
                          "GROUP BY t.trial_id, t.success_rate")
    assert len(rates) == 3 and all(shown == counted for shown, counted in rates)
    import optuna

    from nas.store import Store

    for trial in optuna.load_study(study_name="res", storage=Store(db_url).optuna_storage()).trials:
        seeds = trial.user_attrs["seeds"]
        assert [s["seed"] for s in seeds] == [0, 1] and "success_rate" in trial.user_attrs
        assert trial.user_attrs["success_rate"] == sum(s["solved_evaluations"] is not None
                                                       for s in seeds) / 2
    best_out = nas("best", "res", env=nas_env, check=True).stdout
    top = query(db_url, "SELECT number, value FROM nas.leaderboard WHERE study = 'res' AND rank = 1")[0]
    assert f"best trial {top[0]}" in best_out and best_out.count("\n") >= 4
    from nas.numbers import readable
    header = next(l for l in best_out.splitlines() if l.lstrip().startswith("seed"))
    assert "evaluations run" in header and "evaluations to solve" in header
    best_params = query(db_url, "SELECT params FROM nas.trials WHERE study = 'res' AND number = :n",
                        n=top[0])[0][0]
    for name, value in best_params.items():  # rounded as the report rounds them
        assert f"  {name} = {readable(value) if isinstance(value, float) else value}\n" in best_out

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


def documented_queries() -> list[tuple[str, str]]:
    """(title, SQL) of every query in docs/database.md's SQL block."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "database.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/database.md holds the queries in one ```sql block"
    block = blocks[0]
    queries = []
    for chunk in block.split(";"):
        lines = [l for l in chunk.strip().splitlines() if l.strip()]
        if lines:
            queries.append((lines[0].lstrip("- "), "\n".join(lines[1:])))
    return queries


def test_every_documented_query_runs_as_the_analyst_and_answers_its_title(nas_env, db_url):
    """Two tasks, two modes, ties: `best config per mode and task` gives one row for each."""
    import psycopg2
    from sqlalchemy.engine import make_url

    for name, flags in (("cp", ["-t", "cartpole"]), ("dp", ["-t", "double-pole"]),
                        ("cp2", ["-t", "cartpole", "-p", "20"]),
                        ("nt", ["-m", "neat", "-t", "cartpole", "-p", "20"])):
        nas("study", "create", name, *SMALL, *flags, "-n", "3", env=nas_env, check=True)
        nas("worker", "--study", name, "--threads", "1", env=nas_env, check=True)
    url = make_url(db_url)
    conn = psycopg2.connect(host=url.host, port=url.port, dbname=url.database, user="nas_reader")
    try:
        with conn.cursor() as cur:
            results = {}
            for title, sql in documented_queries():
                cur.execute(sql)
                results[title] = cur.fetchall()
    finally:
        conn.close()
    assert len(results) == 7
    best = results[next(t for t in results if t.startswith("best config per mode and task"))]
    keys = [(r[0], r[1], r[2]) for r in best]
    assert sorted(keys) == sorted({("pure", "cartpole", "evaluations"), ("pure", "double-pole",
                                   "evaluations"), ("neat", "cartpole", "evaluations")})
    activation = results[next(t for t in results if t.startswith("which activation"))]
    assert all(r[2] is not None for r in activation)  # NEAT rows name their activation too
    assert {r[0] for r in activation} == {"cartpole", "double-pole"}


def test_declared_tables_match_the_migrated_schema(db_url):
    """nas.store.tables declares the schema the migrations' head leaves: every table and
    column, of the same type and nullability, and no column the queries do not know."""
    import sqlalchemy as sa

    from nas.store import tables

    store = Store(db_url)
    store.upgrade()
    found = sa.inspect(store.engine)
    assert set(tables.metadata.tables) <= {f"nas.{t}" for t in found.get_table_names("nas")}
    for table in tables.metadata.tables.values():
        live = {c["name"]: c for c in found.get_columns(table.name, schema="nas")}
        assert set(live) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            assert live[column.name]["nullable"] == column.nullable, (table.name, column.name)
            kind = live[column.name]["type"]
            assert (kind._type_affinity, isinstance(kind, sa.BigInteger)) == (
                column.type._type_affinity, isinstance(column.type, sa.BigInteger)), \
                (table.name, column.name, kind, column.type)
