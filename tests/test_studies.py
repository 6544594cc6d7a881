"""Study create / resume / spec mismatch, through the real CLI and the store."""
import pytest

from conftest import SMALL, nas, query
from nas.errors import NasError
from nas.store import schema, studies
from nas.store.studies import StudySpec


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
    schema.upgrade(db_url)
    spec = StudySpec(mode="pure", task="cartpole", generations=3, seeds=1, population=20, budget=4)
    row, created = studies.create_or_resume(db_url, "a", spec)
    assert created and row.spec == spec
    row2, created2 = studies.create_or_resume(db_url, "a", spec)
    assert not created2 and row2.id == row.id
    with pytest.raises(NasError, match="different spec"):
        studies.create_or_resume(db_url, "a", StudySpec(**{**spec.__dict__, "seeds": 2}))


def test_plain_optuna_study_of_the_same_name_is_not_adopted(db_url):
    import optuna

    schema.upgrade(db_url)
    optuna.create_study(study_name="plain", storage=db_url)
    spec = StudySpec(mode="pure", task="cartpole", generations=3, seeds=1, population=20, budget=4)
    with pytest.raises(NasError, match="not created by nas"):
        studies.create_or_resume(db_url, "plain", spec)
    assert query(db_url, "SELECT count(*) FROM nas.studies") == [(0,)]


def test_upgrade_is_idempotent_and_concurrent(db_url):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: schema.upgrade(db_url), range(4)))
    schema.upgrade(db_url)
    assert schema.current_revision(db_url) == schema.head_revision()
