"""A user objective (`--objective module:function`) survives database faults as nas's own
does: its trial writes (suggest, report, user attributes, pruner questions, the final
tell) wait at the storage level through an outage shorter than the grace, and through a
server that refuses writes for lack of resources (SQLSTATE class 53: disk full, out of
memory, too many connections). Real PostgreSQL, real `nas worker` processes."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from nas.store.errors import is_permanent, is_unavailable
from nas.store.session import engine_for
from nas.testing import nas, query, start_nas, trial_states, wait_until
from test_faults import assert_exact_budget

USER = ["--objective", "tests.fixtures.objectives:paced_user_writes", "--sampler", "random",
        "--pruner", "none"]
OUTAGE_SECONDS = 15


def assert_values_kept(url: str, study: str, steps: int) -> None:
    """Every trial ran all its steps once and kept the value its params give."""
    import optuna

    from nas.store import Store

    trials = optuna.load_study(study_name=study, storage=Store(url).optuna_storage()).get_trials()
    for t in trials:
        expected = 0.0
        for step in range(steps):
            expected += t.params["x"] * t.params[f"w{step}"]
        assert t.value == expected, (t.number, t.value, expected)
        assert t.user_attrs["steps_done"] == steps
        assert sorted(t.intermediate_values) == list(range(steps))


def test_a_user_objective_rides_out_an_outage_shorter_than_the_grace(private_pg, nas_env, tmp_path):
    """The server is shut down for 15 s while two user-objective trials are mid-way (a
    report, a suggest, a user attribute and a pruner question every second): both trials
    wait and complete, none fails, none is retried."""
    url = private_pg.url.replace("postgresql://", "postgresql+psycopg2://")
    env = {**nas_env, "NAS_DATABASE_URL": url, "NAS_HEARTBEAT_INTERVAL": "1",
           "NAS_HEARTBEAT_GRACE": "45", "NAS_TEST_GENERATION_SECONDS": "1"}
    steps = 12  # the outage comes two steps in: the rest wait on it, then run
    nas("study", "create", "uo", *USER, "-n", "2", "-g", str(steps), env=env, check=True)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    procs = [start_nas("worker", "--study", "uo", "--threads", "1", env=env, log=log) for log in logs]
    wait_until(lambda: query(url, "SELECT count(*) FROM (SELECT v.trial_id FROM trial_intermediate_values v "
                                  "JOIN trials t USING (trial_id) WHERE t.state = 'RUNNING' "
                                  "GROUP BY 1 HAVING count(*) >= 2) s")[0][0] == 2,
               300, what="both trials two steps in")
    private_pg.stop()  # a real outage: fast shutdown, every connection dropped
    outage_started = time.monotonic()
    time.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for a condition
    private_pg.spawn()  # same port
    private_pg.wait_ready()
    outage = time.monotonic() - outage_started
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    text = "".join(log.read_text() for log in logs)
    assert trial_states(url, "uo") == {"COMPLETE": 2}, text[-3000:]
    trials = assert_exact_budget(url, "uo", 2)
    assert not [t for t in trials if "failed_trial" in t.system_attrs]
    assert_values_kept(url, "uo", steps)
    assert outage >= OUTAGE_SECONDS
    assert "database unavailable during a trial write" in text  # the objective's writes waited
    assert "database lost during a trial" not in text and "UnboundLocalError" not in text


DISK_FULL_TRIGGER = """
CREATE SEQUENCE nas_test_full_attempts;
CREATE FUNCTION nas_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('nas_test_full_attempts');  -- not rolled back: counts the attempts
    RAISE EXCEPTION 'could not extend file "base/trial_values": No space left on device'
        USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
END $$;
CREATE TRIGGER nas_test_disk_full BEFORE INSERT OR UPDATE ON trial_values
    FOR EACH ROW EXECUTE FUNCTION nas_test_disk_full();
"""
DROP_DISK_FULL = "DROP TRIGGER nas_test_disk_full ON trial_values; DROP FUNCTION nas_test_disk_full();"


def attempts(url: str) -> int:
    last, called = query(url, "SELECT last_value, is_called FROM nas_test_full_attempts")[0]
    return last if called else 0


def test_a_finished_trial_keeps_its_result_while_the_disk_is_full(nas_env, db_url, tmp_path):
    """The final write of a finished trial (its value, in trial_values) fails with SQLSTATE
    53100 disk_full from the real server: the worker keeps the result and retries the
    write; once there is room again the trial completes with its value, nothing re-run."""
    env = {**nas_env, "NAS_HEARTBEAT_INTERVAL": "1", "NAS_HEARTBEAT_GRACE": "60",
           "NAS_TEST_GENERATION_SECONDS": "0.5"}
    steps = 6
    nas("study", "create", "full", *USER, "-n", "1", "-g", str(steps), env=env, check=True)
    log = tmp_path / "w.log"
    proc = start_nas("worker", "--study", "full", "--threads", "1", env=env, log=log)
    try:
        wait_until(lambda: trial_states(db_url, "full").get("RUNNING"), 300, what="the trial running")
        with engine_for(db_url).begin() as conn:
            conn.execute(sa.text(DISK_FULL_TRIGGER))
        # three refused writes of the value: the first and two retries (before the fix, the
        # first refusal failed the trial and a retry of it refused the next)
        wait_until(lambda: attempts(db_url) >= 3, 120, what="the final write refused three times")
    finally:
        with engine_for(db_url).begin() as conn:
            conn.execute(sa.text(DROP_DISK_FULL))
    assert proc.wait(timeout=300) == 0
    text = log.read_text()
    assert trial_states(db_url, "full") == {"COMPLETE": 1}, text[-3000:]
    assert_exact_budget(db_url, "full", 1)
    assert_values_kept(db_url, "full", steps)
    assert "No space left on device" in text  # the real cause is what the log names
    assert "Should not reach" not in text and "database lost during a trial" not in text


@pytest.mark.parametrize("code, message", [
    ("disk_full", "could not write to file: No space left on device"),
    ("out_of_memory", "out of memory"),
    ("too_many_connections", "sorry, too many clients already"),
    # class 53 wins over the message: nothing here is a wrong password or a missing role
    ("disk_full", "permission denied to extend relation; role does not exist"),
])
def test_insufficient_resources_errors_are_transient(db_url, code, message):
    """SQLSTATE class 53 raised by the real server, as the driver and SQLAlchemy deliver
    it: waiting may fix it (space freed, memory back, connections closed), so it is
    retried, never classified permanent."""
    with pytest.raises(sa.exc.DBAPIError) as raised:
        with engine_for(db_url).begin() as conn:
            conn.execute(sa.text(f"DO $$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = "
                                 f"'{code}'; END $$"))
    assert raised.value.orig.pgcode.startswith("53")
    assert is_unavailable(raised.value) and not is_permanent(raised.value)
