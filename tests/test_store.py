"""The `Store` handle: transactions a caller can span, one per thread, typed outcomes."""
import threading

import pytest

from nas.errors import NasError
from nas.spec import StudySpec
from nas.store import Store
from nas.store.claims import ClaimEnd
from nas.store.workers import WorkerState
from nas.testing import query

SPEC = StudySpec(mode="pure", task="cartpole", generations=1, seeds=1, population=20, budget=3)


@pytest.fixture
def store(db_url):
    store = Store(db_url)
    store.upgrade()
    return store


def test_queries_inside_a_transaction_commit_or_roll_back_together(store, db_url):
    row, _ = store.create_or_resume_study("t", SPEC)
    worker = store.register_worker(1, 1, "x")
    with pytest.raises(RuntimeError):
        with store.transaction():
            claim = store.claim([row.id], worker)
            store.worker_seen(worker, WorkerState.BUSY, row.id, None)
            raise RuntimeError("after both writes")
    assert query(db_url, "SELECT count(*) FROM nas.claims") == [(0,)]
    assert query(db_url, "SELECT state FROM nas.workers") == [("idle",)]
    with store.transaction():
        claim = store.claim([row.id], worker)
        store.finish_claim(claim.id, ClaimEnd.DONE)
    assert query(db_url, "SELECT state FROM nas.claims") == [("done",)]


def test_a_database_error_rolls_back_the_whole_transaction_as_one_line(store, db_url):
    row, _ = store.create_or_resume_study("t", SPEC)
    with pytest.raises(NasError) as err:
        with store.transaction() as session:
            store.claim([row.id], None)
            session.execute(__import__("sqlalchemy").text("SELECT * FROM no_such_table"))
    assert "\n" not in str(err.value) and "no_such_table" in str(err.value)
    assert query(db_url, "SELECT count(*) FROM nas.claims") == [(0,)]


def test_each_thread_has_its_own_transaction(store, db_url):
    row, _ = store.create_or_resume_study("t", SPEC)
    other_row, _ = store.create_or_resume_study("u", SPEC)  # a claim row-locks its study
    inside, other_done = threading.Event(), threading.Event()

    def other():
        inside.wait(10)
        store.claim([other_row.id], None)  # commits on its own while the main thread's is open
        other_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.claim([row.id], None)
            inside.set()
            assert other_done.wait(10)
            raise RuntimeError("roll back only this thread's claim")
    thread.join()
    assert query(db_url, "SELECT study_id FROM nas.claims") == [(other_row.id,)]


def test_claim_ends_and_worker_states_are_stored_as_plain_strings(store, db_url):
    row, _ = store.create_or_resume_study("t", SPEC)
    worker = store.register_worker(1, 1, "x")
    claim = store.claim([row.id], worker)
    store.finish_claim(claim.id, ClaimEnd.RELEASED)
    store.worker_beat(worker, stopping=True)
    assert query(db_url, "SELECT state FROM nas.claims") == [("released",)]
    assert query(db_url, "SELECT state FROM nas.workers") == [("stopping",)]
    store.worker_seen(worker, WorkerState.STOPPED)
    store.worker_beat(worker, stopping=True)  # a late beat never revives a stopped worker
    assert query(db_url, "SELECT state FROM nas.workers") == [("stopped",)]
    assert store.live_workers(60) == []


def test_an_unwritable_health_file_does_not_stop_the_heartbeat(store, db_url, tmp_path):
    """The beats are what keep a trial alive; a health file on a full or read-only disk
    must cost only the container's healthcheck, not the trial."""
    from nas.testing import wait_until
    from nas.worker.heartbeat import WorkerHeartbeat

    worker = store.register_worker(1, 1, "x")
    seen = lambda: query(db_url, "SELECT last_seen FROM nas.workers WHERE id = :w", w=worker)[0][0]
    first = seen()
    beat = WorkerHeartbeat(store, worker, 0.05, threading.Event(), tmp_path / "missing-dir" / "health")
    with beat:
        wait_until(lambda: seen() > first, 10, what="a beat after the failed touch")
        later = seen()
        wait_until(lambda: seen() > later, 10, what="a second beat: the thread is alive")
        assert beat._thread.is_alive()


def test_a_heartbeat_that_fails_for_a_bug_stops_the_worker_instead_of_missing_forever(store, db_url):
    """An outage is ridden out beat by beat; any other failure (here the registry table is
    gone, as a broken migration would leave it) can never succeed, so the worker is asked
    to stop, with one log line, rather than logging 'heartbeat missed' forever."""
    from nas.worker.heartbeat import WorkerHeartbeat

    worker = store.register_worker(1, 1, "x")
    query(db_url, "ALTER TABLE nas.workers RENAME TO workers_gone")
    stopping = threading.Event()
    with WorkerHeartbeat(store, worker, 0.05, stopping) as beat:
        assert stopping.wait(10)
        beat._thread.join(10)
        assert not beat._thread.is_alive()
