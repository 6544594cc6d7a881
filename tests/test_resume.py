"""Nothing thrown away: an interrupted trial's retry continues from its lineage's last
checkpoint, and ends with the same value, per-seed rows and reported curve as a run that
was never interrupted (real workers, real PostgreSQL, signals and kill -9)."""
from __future__ import annotations

import signal

import optuna
import pytest

from nas.store import Store
from nas.testing import nas, query, start_nas, trial_states, wait_until

PACED = ["--objective", "tests.fixtures.objectives:evolve_paced", "--pruner", "none",
         "--sampler", "random"]
PACED_CMAES = [*PACED[:1], "tests.fixtures.objectives:evolve_paced_cmaes", *PACED[2:]]
SIZES = {"pure": ["-m", "pure", "-t", "double-pole", "-g", "14", "-p", "40", "-s", "2"],
         "cmaes": ["-m", "pure", "-t", "double-pole", "-g", "14", "-p", "40", "-s", "2"],
         "neat": ["-m", "neat", "-t", "double-pole", "-g", "14", "-p", "60", "-s", "2"]}
FAST_HEARTBEAT = {"NAS_HEARTBEAT_INTERVAL": "1", "NAS_HEARTBEAT_GRACE": "4"}


def uninterrupted(url: str, study: str, params: dict):
    """What the same params give in this process, never interrupted, no database."""
    from tests.fixtures.objectives import evolve_unsolved

    spec = Store(url).require_study(study).spec
    return evolve_unsolved(optuna.trial.FixedTrial(params), spec)


def reported(url: str, trial_number: int) -> list:
    return [tuple(r) for r in query(url, "SELECT i.step, i.intermediate_value FROM "
                                         "trial_intermediate_values i JOIN trials t USING (trial_id) "
                                         "WHERE t.number = :n ORDER BY i.step", n=trial_number)]


def trial_params(url: str, number: int) -> dict:
    study = optuna.load_study(study_name="term", storage=Store(url).optuna_storage())
    return [t for t in study.trials if t.number == number][0].params


def generations_reported(url: str) -> int:
    return query(url, "SELECT count(*) FROM trial_intermediate_values")[0][0]


def assert_same_as_uninterrupted(url: str, study: str, number: int) -> None:
    trial = [t for t in optuna.load_study(study_name=study, storage=Store(url).optuna_storage()).trials
             if t.number == number][0]
    expected = uninterrupted(url, study, trial.params)
    assert trial.value == expected.score(Store(url).require_study(study).spec.metric)
    rows = query(url, "SELECT seed, best_fitness, generations, evaluations, solved_generation, "
                      "solved_evaluations FROM nas.seed_runs WHERE trial_number = :n ORDER BY seed",
                 n=number)
    assert rows == [(s.seed, s.best_fitness, s.generations, s.evaluations, s.solved_generation,
                     s.solved_evaluations) for s in expected.seeds]
    curve = query(url, "SELECT g.seed, g.generation, g.best, g.mean FROM nas.generations g "
                       "JOIN trials t USING (trial_id) WHERE t.number = :n ORDER BY 1, 2", n=number)
    assert curve == [(s.seed, g, b, m) for s in expected.seeds
                     for g, (b, m) in enumerate(zip(s.curve_best, s.curve_mean))]
    metric = Store(url).require_study(study).spec.metric
    assert [v for _, v in reported(url, number)] == \
        [v for v in _scores(url, study, trial.params, metric)]


def _scores(url: str, study: str, params: dict, metric: str) -> list[float]:
    """The value an uninterrupted run reports at each generation."""
    from nas.evolution import run_evolution
    from nas.worker.space import SPACES

    spec = Store(url).require_study(study).spec
    seen = []
    run_evolution(SPACES[spec.mode](optuna.trial.FixedTrial(params), spec), spec.generations,
                  [spec.base_seed + i for i in range(spec.seeds)], spec.stagnation_limit,
                  on_generation=lambda g, so_far: seen.append(so_far.score(metric)),
                  stop_when_solved=False)
    return seen


@pytest.mark.parametrize("mode", ["pure", "neat", "cmaes"])
def test_sigterm_checkpoints_and_the_retry_resumes_bit_for_bit(nas_env, db_url, tmp_path, mode):
    paced = PACED_CMAES if mode == "cmaes" else PACED
    nas("study", "create", "term", *paced, *SIZES[mode], "-n", "1", env=nas_env, check=True)
    slow = {**nas_env, "NAS_TEST_GENERATION_SECONDS": "0.5", "NAS_CHECKPOINT_SECONDS": "3600"}
    worker = start_nas("worker", "--threads", "1", env=slow, log=tmp_path / "first.log")
    wait_until(lambda: generations_reported(db_url) >= 4, 300, what="four generations")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    saved = query(db_url, "SELECT lineage, generation, progressed FROM nas.checkpoints")
    assert len(saved) == 1 and saved[0][0] == 0 and saved[0][1] >= 3 and saved[0][2] == 1
    assert query(db_url, "SELECT number, state, preempted FROM nas.trials ORDER BY number") == \
        [(0, "FAIL", True), (1, "WAITING", False)]  # announced: preempted, its retry queued
    out = nas("worker", "--threads", "1", env=nas_env)
    assert out.returncode == 0, out.stderr
    rows = query(db_url, "SELECT number, state, retry_of, resumed_from FROM nas.trials ORDER BY number")
    assert rows == [(0, "FAIL", None, None), (1, "COMPLETE", 0, saved[0][1] + 1)]
    assert_same_as_uninterrupted(db_url, "term", 1)
    if mode == "cmaes":
        assert trial_params(db_url, 1)["algorithm"] == "cmaes"
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]  # the lineage finished
    status = nas("status", env=nas_env, check=True).stdout
    assert "term: 1 attempt(s) preempted, 1 resumed from a checkpoint" in status
    nas("report", "term", "--out", str(tmp_path / "report"), env=nas_env, check=True)
    page = " ".join((tmp_path / "report" / "term.html").read_text().split())
    assert "Interrupted: 1 attempt(s) preempted" in page and "1 resumed from a checkpoint" in page
    assert f"resumed from generation {saved[0][1] + 1}, attempt 2" in page


def test_a_stop_during_the_last_generation_lets_the_trial_finish(nas_env, db_url, tmp_path):
    """Nothing would be left to resume: the trial completes rather than being preempted
    and queued again (which would cost a retry and a worker start for no work)."""
    nas("study", "create", "last", *PACED, "-m", "pure", "-t", "double-pole", "-g", "4", "-p", "40",
        "-s", "1", "-n", "1", env=nas_env, check=True)
    pausing = tmp_path / "pausing"
    slow = {**nas_env, "NAS_TEST_GENERATION_SECONDS": "1.5", "NAS_TEST_PAUSING_FILE": str(pausing)}
    worker = start_nas("worker", "--threads", "1", env=slow, log=tmp_path / "w.log")
    wait_until(lambda: pausing.exists() and pausing.read_text() == "3", 300, interval=0.05,
               what="the last generation (3) evaluated, its report pending")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    assert query(db_url, "SELECT number, state, preempted FROM nas.trials") == [(0, "COMPLETE", False)]
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]
    assert "SIGTERM" in (tmp_path / "w.log").read_text()


def test_checkpoints_off_restart_from_generation_zero(nas_env, db_url, tmp_path):
    """NAS_CHECKPOINT_SECONDS=off: a stop still ends the trial at a boundary and queues it,
    but nothing is saved, and the retry starts over (to the same result)."""
    nas("study", "create", "off", *PACED, *SIZES["pure"], "-n", "1", env=nas_env, check=True)
    off = {**nas_env, "NAS_CHECKPOINT_SECONDS": "off"}
    worker = start_nas("worker", "--threads", "1", env={**off, "NAS_TEST_GENERATION_SECONDS": "0.5"},
                       log=tmp_path / "first.log")
    wait_until(lambda: generations_reported(db_url) >= 3, 300, what="three generations")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]
    assert nas("worker", "--threads", "1", env=off).returncode == 0
    assert query(db_url, "SELECT number, state, preempted, resumed_from FROM nas.trials ORDER BY number") == \
        [(0, "FAIL", True, None), (1, "COMPLETE", False, None)]
    assert_same_as_uninterrupted(db_url, "off", 1)
    bad = nas("worker", "--threads", "1", env={**nas_env, "NAS_CHECKPOINT_SECONDS": "of"})
    assert bad.returncode == 1 and "NAS_CHECKPOINT_SECONDS must be a number" in bad.stderr


@pytest.mark.parametrize("mode", ["pure", "neat"])
def test_kill_nine_loses_at_most_one_checkpoint_interval(nas_env, db_url, tmp_path, mode):
    nas("study", "create", "k9", *PACED, *SIZES[mode], "-n", "1", env=nas_env, check=True)
    every = {**nas_env, **FAST_HEARTBEAT, "NAS_TEST_GENERATION_SECONDS": "0.5",
             "NAS_CHECKPOINT_SECONDS": "0"}  # every generation
    victim = start_nas("worker", "--threads", "1", env=every, log=tmp_path / "victim.log")
    wait_until(lambda: (query(db_url, "SELECT max(generation) FROM nas.checkpoints")[0][0] or 0) >= 4,
               300, what="a checkpoint at generation 4")
    victim.kill()
    victim.wait(timeout=60)
    at_kill = generations_reported(db_url) - 1  # the last generation the victim finished
    saved = query(db_url, "SELECT generation FROM nas.checkpoints")[0][0]
    assert at_kill - saved <= 1
    out = nas("worker", "--threads", "1", env={**nas_env, **FAST_HEARTBEAT})
    assert out.returncode == 0, out.stderr
    rows = query(db_url, "SELECT number, state, resumed_from, preempted FROM nas.trials ORDER BY number")
    assert rows == [(0, "FAIL", None, False), (1, "COMPLETE", saved + 1, False)]
    assert_same_as_uninterrupted(db_url, "k9", 1)


def test_a_trial_stopped_five_times_with_progress_still_completes(nas_env, db_url, tmp_path):
    nas("study", "create", "often", *PACED, "-m", "pure", "-t", "double-pole", "-g", "40", "-p", "40",
        "-s", "2", "-n", "1", env=nas_env, check=True)
    slow = {**nas_env, "NAS_TEST_GENERATION_SECONDS": "0.4", "NAS_MAX_RETRY": "1"}
    for attempt in range(5):
        before = query(db_url, "SELECT coalesce(max(generation), -1) FROM nas.checkpoints")[0][0]
        worker = start_nas("worker", "--threads", "1", env=slow, log=tmp_path / f"w{attempt}.log")
        wait_until(lambda: len(reported(db_url, attempt)) >= before + 3, 300,
                   what=f"attempt {attempt} advancing")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=120) == 0
    assert query(db_url, "SELECT progressed FROM nas.checkpoints") == [(5,)]
    out = nas("worker", "--threads", "1", env={**nas_env, "NAS_MAX_RETRY": "1"})
    assert out.returncode == 0, out.stderr
    assert trial_states(db_url, "often") == {"FAIL": 5, "COMPLETE": 1}
    assert_same_as_uninterrupted(db_url, "often", 5)


def test_a_corrupted_checkpoint_restarts_from_zero_with_a_warning(nas_env, db_url, tmp_path):
    nas("study", "create", "bad", *PACED, *SIZES["pure"], "-n", "1", env=nas_env, check=True)
    slow = {**nas_env, "NAS_TEST_GENERATION_SECONDS": "0.5"}
    worker = start_nas("worker", "--threads", "1", env=slow, log=tmp_path / "first.log")
    wait_until(lambda: generations_reported(db_url) >= 3, 300, what="three generations")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=120) == 0
    query(db_url, "UPDATE nas.checkpoints SET payload = overlay(payload placing "
                  "decode('000102', 'hex') from 40)")
    out = nas("worker", "--threads", "1", env=nas_env)
    assert out.returncode == 0, out.stderr
    assert "checkpoint of trial 1 unusable" in out.stderr and "starting from generation 0" in out.stderr
    assert query(db_url, "SELECT number, state, resumed_from FROM nas.trials ORDER BY number") == \
        [(0, "FAIL", None), (1, "COMPLETE", None)]
    assert_same_as_uninterrupted(db_url, "bad", 1)
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]


def test_a_failed_checkpoint_write_waits_and_never_loses_the_trial(nas_env, db_url, tmp_path):
    """The biggest write a trial makes meets a full disk (SQLSTATE 53100, raised by a
    trigger while the test holds the fault): the worker waits and retries as it does
    through an outage, the trial keeps running, and once the fault clears it completes
    once, no retry, with the value an uninterrupted run gives."""
    nas("study", "create", "full", *PACED, *SIZES["pure"], "-n", "1", env=nas_env, check=True)
    query(db_url, """
        CREATE TABLE public.disk_full_fault (held boolean);
        INSERT INTO public.disk_full_fault VALUES (true);
        CREATE FUNCTION public.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM public.disk_full_fault) THEN
            RAISE EXCEPTION 'could not extend file (test)' USING ERRCODE = 'disk_full';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE ON nas.checkpoints
          FOR EACH ROW EXECUTE FUNCTION public.disk_full()""")
    every = {**nas_env, "NAS_TEST_GENERATION_SECONDS": "0.3", "NAS_CHECKPOINT_SECONDS": "0"}
    log = tmp_path / "w.log"
    worker = start_nas("worker", "--threads", "1", env=every, log=log)
    waiting = "database unavailable during writing a checkpoint"
    wait_until(lambda: log.read_text().count(waiting) >= 2, 300, what="two retried checkpoint writes")
    assert trial_states(db_url, "full") == {"RUNNING": 1}
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]
    query(db_url, "DELETE FROM public.disk_full_fault")
    assert worker.wait(timeout=300) == 0
    assert trial_states(db_url, "full") == {"COMPLETE": 1}
    assert_same_as_uninterrupted(db_url, "full", 0)
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]


def test_the_resumable_example_objective_runs_and_cleans_up(nas_env, db_url):
    """examples/resumable_objective.py through a real worker: saving every step (interval
    0) costs the study nothing and leaves no checkpoint behind."""
    out = nas("search", "ex", "--objective", "examples.resumable_objective:objective", "-n", "2",
              "-g", "30", "--sampler", "random", "--pruner", "none", "-j", "1",
              env={**nas_env, "NAS_CHECKPOINT_SECONDS": "0"})
    assert out.returncode == 0, out.stderr
    assert trial_states(db_url, "ex") == {"COMPLETE": 2}
    assert query(db_url, "SELECT count(*) FROM nas.checkpoints") == [(0,)]
    written = "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE relid = 'nas.checkpoints'::regclass"
    wait_until(lambda: query(db_url, written)[0][0] >= 2 * 30, 30, what="a save per step")
