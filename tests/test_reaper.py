"""Settling dead workers' claims, state by state, with the database clock injected
(timestamps moved back in SQL instead of sleeping past the grace period)."""
import optuna

from nas.spec import StudySpec
from nas.store import Store
from nas.testing import nas, query

SPEC = StudySpec(mode="pure", task="cartpole", generations=1, seeds=1, population=20, budget=5)


def setup(db_url):
    Store(db_url).upgrade()
    row, _ = Store(db_url).create_or_resume_study("r", SPEC)
    worker = query(db_url, "INSERT INTO nas.workers (host, pid, threads, version) "
                           "VALUES ('dead', 1, 1, 'x') RETURNING id")[0][0]
    return row, worker, optuna.load_study(study_name="r", storage=Store(db_url).optuna_storage())


def claim_for(db_url, row, worker, study, state):
    claim = Store(db_url).claim([row.id], worker)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    Store(db_url).bind_trial(claim.id, trial._trial_id)
    if state != "RUNNING":
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState[state],
                                              [1.0] if state == "COMPLETE" else None)
    return claim, trial


def age(db_url, seconds):
    query(db_url, f"UPDATE nas.workers SET last_seen = now() - interval '{seconds} seconds'")
    query(db_url, f"UPDATE trials SET datetime_complete = datetime_complete - interval '{seconds} seconds'")


def state_of(db_url, claim):
    return query(db_url, "SELECT state FROM nas.claims WHERE id = :c", c=claim.id)[0][0]


def test_dead_claims_settle_by_trial_state(db_url):
    row, worker, study = setup(db_url)
    running, _ = claim_for(db_url, row, worker, study, "RUNNING")
    complete, _ = claim_for(db_url, row, worker, study, "COMPLETE")
    no_trial = Store(db_url).claim([row.id], worker)
    assert Store(db_url).reap_dead_claims([row.id], 60, 3) == ({"released": 0, "done": 0}, [])
    age(db_url, 120)
    counts, retry = Store(db_url).reap_dead_claims([row.id], 60, 3)
    assert counts == {"released": 1, "done": 1} and retry == []
    assert (state_of(db_url, running), state_of(db_url, complete), state_of(db_url, no_trial)) == \
        ("active", "done", "released")


def test_fail_without_its_retry_waits_then_is_retried_once(db_url):
    row, worker, study = setup(db_url)
    claim, trial = claim_for(db_url, row, worker, study, "FAIL")
    query(db_url, "UPDATE nas.workers SET last_seen = now() - interval '120 seconds'")
    # just failed: its failer may be about to queue the retry -> leave it
    assert Store(db_url).reap_dead_claims([row.id], 60, 3) == ({"released": 0, "done": 0}, [])
    age(db_url, 120)
    counts, retry = Store(db_url).reap_dead_claims([row.id], 60, 3)
    assert counts == {"released": 1, "done": 0} and retry == [(row.optuna_study_id, trial._trial_id)]
    assert state_of(db_url, claim) == "released"
    assert Store(db_url).reap_dead_claims([row.id], 60, 3) == ({"released": 0, "done": 0}, [])


def test_fail_out_of_retries_counts_as_done(db_url):
    row, worker, study = setup(db_url)
    claim, trial = claim_for(db_url, row, worker, study, "RUNNING")
    study._storage.set_trial_system_attr(trial._trial_id, "retry_history", [7, 8, 9])  # three attempts before it
    study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    age(db_url, 120)
    counts, retry = Store(db_url).reap_dead_claims([row.id], 60, 3)
    assert counts == {"released": 0, "done": 1} and retry == []


def test_attempts_that_advanced_the_checkpoint_do_not_use_up_retries(db_url):
    """The same rule as a live worker's re-queueing: three attempts before this one, two of
    them advanced the lineage's checkpoint, so only two count and one retry is left."""
    row, worker, study = setup(db_url)
    claim, trial = claim_for(db_url, row, worker, study, "RUNNING")
    study._storage.set_trial_system_attr(trial._trial_id, "retry_history", [7, 8, 9])
    Store(db_url).save_checkpoint(row.id, 7, 1, 3, "d", [], b"x")
    query(db_url, "UPDATE nas.checkpoints SET progressed = 2")
    study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    age(db_url, 120)
    counts, retry = Store(db_url).reap_dead_claims([row.id], 60, 3)
    assert counts == {"released": 1, "done": 0} and retry == [(row.optuna_study_id, trial._trial_id)]
    assert state_of(db_url, claim) == "released"


def test_orphaned_running_trials_are_found_after_the_grace(db_url):
    row, worker, study = setup(db_url)
    orphan = study.ask()  # created, never bound to a claim, no heartbeat
    bound_claim, bound = claim_for(db_url, row, worker, study, "RUNNING")
    assert Store(db_url).orphan_trials([row.optuna_study_id], 60) == []
    query(db_url, "UPDATE trials SET datetime_start = datetime_start - interval '120 seconds'")
    assert Store(db_url).orphan_trials([row.optuna_study_id], 60) == [orphan._trial_id]


def test_a_dead_worker_s_trial_that_never_beat_is_failed_and_retried(db_url, nas_env):
    """Killed (or cut off) between starting its trial and the trial's first heartbeat: no
    heartbeat row, so Optuna's stale check never fails it; the reaper must."""
    row, worker, study = setup(db_url)
    _, trial = claim_for(db_url, row, worker, study, "RUNNING")
    query(db_url, "UPDATE nas.workers SET last_seen = now() - interval '120 seconds'")
    assert query(db_url, "SELECT count(*) FROM trial_heartbeats") == [(0,)]
    out = nas("worker", "--study", "r", "--threads", "1",
              env={**nas_env, "NAS_HEARTBEAT_INTERVAL": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"failed trial {trial.number} of r: its worker died before its first heartbeat" in out.stderr
    assert query(db_url, "SELECT state FROM nas.trials WHERE number = :n", n=trial.number) == [("FAIL",)]
    assert query(db_url, "SELECT state FROM nas.trials WHERE retry_of = :n", n=trial.number) == \
        [("COMPLETE",)]
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY 1 ORDER BY 1") == \
        [("done", 5), ("released", 1)]


def test_the_best_genome_breaks_ties_by_trial_then_seed(db_url):
    """Seeds that tie (every seed solved with the same fitness) give one answer every
    time, whatever order the rows were written in: replay's GIF and PNG show the same."""
    row, _, study = setup(db_url)
    for value in (1.0, 1.0):
        trial = study.ask()
        study.tell(trial, value)
    first, second = [t._trial_id for t in study.trials]
    for trial_id, seed in [(second, 2), (second, 0), (first, 2), (first, 1), (first, 0)]:
        query(db_url, "INSERT INTO nas.genomes (trial_id, seed, fitness, genome) "
                      "VALUES (:t, :s, 1.0, '{}')", t=trial_id, s=seed)
    assert Store(db_url).best_genome(row.optuna_study_id, None, None)[1:] == (0, 0)
    assert Store(db_url).best_genome(row.optuna_study_id, 1, None)[1:] == (1, 0)


def test_a_claim_whose_trial_was_failed_as_an_orphan_is_released(db_url):
    """An orphan's budget went back (it is not counted as finished), so its claim, dead
    worker's or live, is released rather than done: the study still ends exact."""
    from nas.store.claims import ClaimEnd, claim_end_for

    assert claim_end_for("FAIL", False, orphan=True) is ClaimEnd.RELEASED
    assert claim_end_for("FAIL", False) is ClaimEnd.DONE
    row, worker, study = setup(db_url)
    claim, trial = claim_for(db_url, row, worker, study, "RUNNING")
    study._storage.set_trial_system_attr(trial._trial_id, "nas_orphan", True)
    study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    age(db_url, 120)
    counts, retry = Store(db_url).reap_dead_claims([row.id], 60, 3)
    assert counts == {"released": 1, "done": 0} and retry == []
    assert state_of(db_url, claim) == "released"
