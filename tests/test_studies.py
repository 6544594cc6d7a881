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
    again = nas("study", "create", "s1", *SMALL, "-n", "5", env=nas_env, check=True)
    assert "resumed study 's1'" in again.stdout
    rows = query(db_url, "SELECT name, budget, mode, task, population FROM nas.studies")
    assert rows == [("s1", 5, "pure", "cartpole", 20)]
    assert query(db_url, "SELECT count(*) FROM studies WHERE study_name = 's1'") == [(1,)]


def test_different_spec_is_an_error_and_changes_nothing(nas_env, db_url):
    nas("study", "create", "s1", *SMALL, "-n", "5", env=nas_env, check=True)
    out = nas("study", "create", "s1", *SMALL, "-n", "7", env=nas_env)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]
    assert "different spec" in out.stderr and "budget: 5 -> 7" in out.stderr
    assert query(db_url, "SELECT budget FROM nas.studies") == [(5,)]


def test_store_create_or_resume_contract(db_url):
    Store(db_url).upgrade()
    spec = StudySpec(mode="pure", task="cartpole", generations=3, seeds=1, population=20, budget=4)
    row, created = Store(db_url).create_or_resume_study("a", spec)
    assert created and row.spec == spec
    row2, created2 = Store(db_url).create_or_resume_study("a", spec)
    assert not created2 and row2.id == row.id
    with pytest.raises(NasError, match="different spec"):
        Store(db_url).create_or_resume_study("a", StudySpec(**{**spec.__dict__, "seeds": 2}))


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
