"""A study deleted by Optuna's own tools (or `nas study delete`), or one whose objective
does not import on this machine, is skipped by workers and commands: never a crash, and
never a reason to stop serving the other studies."""
import subprocess
import sys
from pathlib import Path

from nas.testing import ROOT, SMALL, nas, query, start_nas, trial_states, wait_until

SLOW = ["--objective", "tests.fixtures.objectives:reporting_slowly", "--sampler", "random",
        "--pruner", "none"]
QUICK = ["--objective", "tests.fixtures.objectives:constant", "--sampler", "random",
         "--pruner", "none"]


def optuna_cli(*args: str, url: str) -> None:
    """Optuna's own command line, as a user would delete a study."""
    subprocess.run([str(Path(sys.executable).parent / "optuna"), *args, "--storage", url], check=True,
                   capture_output=True, timeout=120, cwd=ROOT)


def running_trials(url: str, study: str) -> int:
    return trial_states(url, study).get("RUNNING", 0)


def test_a_study_deleted_by_optuna_mid_trial_is_dropped_and_the_rest_served(nas_env, db_url, tmp_path):
    nas("study", "create", "doomed", *SLOW, "-n", "3", "--priority", "1", env=nas_env, check=True)
    nas("study", "create", "kept", *QUICK, "-n", "4", env=nas_env, check=True)
    log = tmp_path / "worker.log"
    # doomed's trials outlast the deletion however slowly a loaded machine runs optuna's CLI
    worker = start_nas("worker", "--threads", "1", env={**nas_env, "NAS_TEST_REPORT_STEPS": "3000"},
                       log=log)
    try:
        wait_until(lambda: running_trials(db_url, "doomed"), 60, what="a running trial of doomed")
        optuna_cli("delete-study", "--study-name", "doomed", url=db_url)
        assert worker.wait(timeout=120) == 0, log.read_text()
    finally:
        worker.kill()
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "study doomed was deleted (by nas or Optuna's own tools): no longer served" in text
    assert trial_states(db_url, "kept") == {"COMPLETE": 4}
    assert query(db_url, "SELECT name FROM nas.studies") == [("kept",)]
    assert query(db_url, "SELECT count(*) FROM nas.claims c JOIN nas.studies s ON s.id = c.study_id "
                         "WHERE s.name = 'kept'") == query(db_url, "SELECT count(*) FROM nas.claims")
    listed = nas("study", "list", env=nas_env, check=True).stdout
    assert "kept" in listed and "doomed" not in listed
    assert "doomed" not in nas("status", env=nas_env, check=True).stdout
    out = nas("best", "doomed", env=nas_env)
    assert out.returncode == 1 and out.stderr == "error: no study named 'doomed' in this database\n"


def test_a_study_whose_objective_does_not_import_here_is_skipped(nas_env, db_url, tmp_path):
    module = tmp_path / "elsewhere_objective.py"
    module.write_text("def objective(trial, spec):\n    return 1.0\n")
    env = {**nas_env, "PYTHONPATH": str(tmp_path)}
    nas("study", "create", "elsewhere", "--objective", "elsewhere_objective:objective", "-n", "2",
        env=env, check=True)
    nas("study", "create", "here", *QUICK, "-n", "3", env=nas_env, check=True)
    out = nas("worker", "--threads", "1", env=nas_env)  # this machine lacks the module
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    skipped = [line for line in out.stderr.splitlines() if "not serving study" in line]
    assert len(skipped) == 1 and skipped[0].endswith(
        "not serving study elsewhere here: cannot import objective module 'elsewhere_objective': "
        "No module named 'elsewhere_objective'")
    assert trial_states(db_url, "here") == {"COMPLETE": 3}
    assert trial_states(db_url, "elsewhere") == {}
    named = nas("worker", "--study", "elsewhere", "--study", "here", env=nas_env)
    assert named.returncode == 0 and "not serving study elsewhere here" in named.stderr
    alone = nas("worker", "--study", "elsewhere", env=nas_env)
    assert alone.returncode == 1 and alone.stderr.strip().splitlines()[-1] == \
        "error: cannot import objective module 'elsewhere_objective': No module named 'elsewhere_objective'"


def test_nas_study_delete_removes_every_row_after_confirmation(nas_env, db_url):
    nas("search", "gone", *SMALL, "-n", "2", "-j", "1", "--threads", "1", env=nas_env, check=True)
    nas("study", "create", "other", *SMALL, "-n", "1", env=nas_env, check=True)
    counted = ("SELECT (SELECT count(*) FROM nas.claims) + (SELECT count(*) FROM nas.seed_runs) "
               "+ (SELECT count(*) FROM nas.generations) + (SELECT count(*) FROM nas.genomes)")
    assert query(db_url, counted)[0][0] > 0
    kept = subprocess.run([sys.executable, "-m", "nas", "study", "delete", "gone"], input="n\n",
                          env=nas_env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert kept.returncode == 1 and "delete study 'gone' with 2 finished and 0 running trials?" \
        in kept.stdout and kept.stderr == "error: study 'gone' not deleted (answer y, or pass --yes)\n"
    assert query(db_url, "SELECT count(*) FROM nas.studies") == [(2,)]
    out = nas("study", "delete", "gone", "--yes", env=nas_env, check=True)
    assert out.stdout == "deleted study 'gone'\n"
    assert query(db_url, counted) == [(0,)]
    assert query(db_url, "SELECT s.name, o.study_name FROM nas.studies s JOIN studies o "
                         "ON o.study_id = s.optuna_study_id") == [("other", "other")]
    again = nas("study", "delete", "gone", "--yes", env=nas_env)
    assert again.returncode == 1 and again.stderr == "error: no study named 'gone' in this database\n"


def test_upgrading_drops_rows_that_optuna_deleted_before(db_url):
    """A database where a study was deleted with Optuna's tools before revision 0006."""
    import optuna

    from nas.store import Store

    store = Store(db_url)
    store.upgrade(revision="0005")
    for name in ("old-gone", "old-kept"):
        study = optuna.create_study(study_name=name, storage=store.optuna_storage())
        query(db_url, "INSERT INTO nas.studies (name, optuna_study_id, mode, task, generations, "
                      "seeds, population, budget, sampler, pruner) VALUES (:n, :s, 'pure', "
                      "'cartpole', 3, 1, 20, 3, 'tpe', 'median')", n=name, s=study._study_id)
    optuna.delete_study(study_name="old-gone", storage=store.optuna_storage())
    store.upgrade()
    assert [r.name for r in store.list_studies()] == ["old-kept"]


def test_optuna_delete_study_is_not_undone_by_a_report_that_lands_meanwhile(db_url):
    """The race behind a worker that ran on after `optuna delete-study` exited 0: Optuna's
    ORM deletes the rows it loaded, a running trial reports a step meanwhile, the trial's
    DELETE then violates that row's key and Optuna swallows the IntegrityError, leaving the
    study in place. Revision 0009 makes the keys cascade; here the report is injected at
    the exact moment, before and after it."""
    import optuna
    import sqlalchemy as sa

    from nas.store import Store

    store = Store(db_url)
    store.upgrade(revision="0008")
    storage = optuna.storages.RDBStorage(db_url)  # Optuna's own, as its CLI builds it
    late = sa.create_engine(db_url)

    def raced(name: str) -> list[tuple]:
        trial = optuna.create_study(study_name=name, storage=storage).ask()
        trial.report(1.0, 0)
        fired = []

        def report_meanwhile(conn, cursor, statement, *args):
            if statement.startswith("DELETE FROM trial_intermediate_values") and not fired:
                fired.append(True)
                with late.begin() as other:
                    other.execute(sa.text(
                        "INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value,"
                        " intermediate_value_type) VALUES (:t, 1, 2.0, 'FINITE')"), {"t": trial._trial_id})

        sa.event.listen(storage.engine, "before_cursor_execute", report_meanwhile)
        try:
            optuna.delete_study(study_name=name, storage=storage)
        finally:
            sa.event.remove(storage.engine, "before_cursor_execute", report_meanwhile)
        assert fired, "the ORM no longer deletes intermediate values one by one: revisit this test"
        return query(db_url, "SELECT study_name FROM studies WHERE study_name = :n", n=name)

    assert raced("before") == [("before",)]  # Optuna's delete silently undone (before 0009)
    store.upgrade()
    assert raced("after") == []
    assert query(db_url, "SELECT count(*) FROM trials t JOIN studies s USING (study_id) "
                         "WHERE s.study_name = 'after'") == [(0,)]
