"""Study create / resume / spec mismatch, through the real CLI and the store."""
import pytest

from nas.errors import NasError
from nas.spec import StudySpec
from nas.store import Store
from nas.store import schema
from nas.testing import SMALL, nas, query


def test_create_then_resume_with_the_same_spec(nas_env, db_url):
    first = nas("study", "create", "s1", *SMALL, "-n", "5", env=nas_env, check=True)
    assert "created study 's1'" in first.stdout
    assert first.stderr == ""  # no Optuna INFO line or ExperimentalWarning: nas says it once
    again = nas("study", "create", "s1", *SMALL, "-n", "5", env=nas_env, check=True)
    assert "resumed study 's1'" in again.stdout
    rows = query(db_url, "SELECT name, budget, mode, task, population FROM nas.studies")
    assert rows == [("s1", 5, "pure", "cartpole", 20)]
    assert query(db_url, "SELECT count(*) FROM studies WHERE study_name = 's1'") == [(1,)]
    import optuna
    assert optuna.load_study(study_name="s1", storage=db_url).metric_names == ["evaluations"]


def test_different_spec_is_an_error_and_changes_nothing(nas_env, db_url):
    nas("study", "create", "s1", *SMALL, "-n", "5", env=nas_env, check=True)
    out = nas("study", "create", "s1", *SMALL, "-n", "5", "-s", "3", env=nas_env)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "different spec" in out.stderr and "seeds: 1 -> 3" in out.stderr
    assert query(db_url, "SELECT budget, seeds FROM nas.studies") == [(5, 1)]


def test_the_budget_grows_and_shrinks_but_not_below_what_ran(nas_env, db_url):
    """-n is not the experiment's identity: a larger -n on resume, or `nas study budget`,
    runs more; shrinking stops at the trials finished or running."""
    nas("study", "create", "s1", *SMALL, "-n", "2", env=nas_env, check=True)
    grown = nas("study", "create", "s1", *SMALL, "-n", "4", env=nas_env, check=True)
    assert "resumed study 's1' (budget 4 trials)" in grown.stdout
    assert nas("worker", "--threads", "1", env=nas_env).returncode == 0
    assert query(db_url, "SELECT budget, finished FROM nas.progress") == [(4, 4)]
    out = nas("study", "budget", "s1", "3", env=nas_env)
    assert out.returncode == 1 and out.stderr.strip().splitlines() == [
        "error: study 's1' has 4 trials finished or running: its budget cannot go below that (asked 3)"]
    assert nas("study", "budget", "s1", "6", env=nas_env, check=True).stdout.strip() == \
        "study 's1': budget 6 trials"
    assert nas("worker", "--threads", "1", env=nas_env).returncode == 0
    assert query(db_url, "SELECT budget, finished FROM nas.progress") == [(6, 6)]
    missing = nas("study", "budget", "nope", "6", env=nas_env)
    assert missing.returncode == 1 and "no study named 'nope'" in missing.stderr


def test_resuming_with_the_name_alone_keeps_the_stored_spec(nas_env, db_url):
    """Flags not given are the stored study's, not the defaults: only given ones compare."""
    nas("study", "create", "s1", "-m", "neat", "-t", "double-pole", "-g", "3", "-s", "1",
        "-p", "20", "-n", "2", env=nas_env, check=True)
    again = nas("study", "create", "s1", env=nas_env, check=True)
    assert "resumed study 's1' (budget 2 trials)" in again.stdout
    out = nas("search", "s1", "-j", "0", "-n", "3", env=nas_env, check=True)
    assert "resumed study 's1'" in out.stdout and "budget 3 trials" in out.stdout
    assert query(db_url, "SELECT mode, task, generations, budget FROM nas.studies") == \
        [("neat", "double-pole", 3, 3)]
    clash = nas("study", "create", "s1", "-t", "cartpole", env=nas_env)
    assert clash.returncode == 1 and "task: 'double-pole' -> 'cartpole'" in clash.stderr


def test_store_create_or_resume_contract(db_url):
    Store(db_url).upgrade()
    spec = StudySpec(mode="pure", task="cartpole", generations=3, seeds=1, population=20, budget=4)
    row, created = Store(db_url).create_or_resume_study("a", spec)
    assert created and row.spec == spec
    row2, created2 = Store(db_url).create_or_resume_study("a", spec)
    assert not created2 and row2.id == row.id
    with pytest.raises(NasError, match="different spec"):
        Store(db_url).create_or_resume_study("a", StudySpec(**{**spec.__dict__, "seeds": 2}))
    row3, _ = Store(db_url).create_or_resume_study("a", StudySpec(**{**spec.__dict__, "budget": 9}))
    assert row3.spec.budget == 9 and Store(db_url).study("a").spec.budget == 9


def test_plain_optuna_study_of_the_same_name_is_not_adopted(db_url):
    import optuna

    Store(db_url).upgrade()
    optuna.create_study(study_name="plain", storage=db_url)
    spec = StudySpec(mode="pure", task="cartpole", generations=3, seeds=1, population=20, budget=4)
    with pytest.raises(NasError, match="not created by nas"):
        Store(db_url).create_or_resume_study("plain", spec)
    assert query(db_url, "SELECT count(*) FROM nas.studies") == [(0,)]


def test_upgrade_is_idempotent_and_concurrent(db_url):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: Store(db_url).upgrade(), range(4)))
    Store(db_url).upgrade()
    assert Store(db_url).current_revision() == schema.head_revision()
