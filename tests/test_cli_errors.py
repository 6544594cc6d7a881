"""Bad input: one line on stderr, a non-zero exit, no traceback, nothing written."""
import pytest

import uuid

from nas.testing import PASSWORD, PASSWORD_USER, SMALL, admin, nas, query


def assert_one_line_error(out, *needles):
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("flags, needle", [
    (["-m", "hyperneat"], "'hyperneat' is not one of 'pure', 'neat'"),
    (["-p", "-5"], "-5 is not in the range 2<=x<=2147483647"),
    (["-g", "0"], "0 is not in the range 1<=x<=2147483647"),
    (["-n", "2147483648"], "'-n' / '--trials': 2147483648 is not in the range"),
    (["-g", "99999999999"], "'-g' / '--generations': 99999999999 is not in the range"),
    (["--stagnation-limit", "2147483648"], "'--stagnation-limit': 2147483648 is not in the range"),
    (["--base-seed", "2147483648"], "'--base-seed': 2147483648 is not in the range"),
    (["--threads", "99999999999"], "'--threads': 99999999999 is not in the range 1<=x<=1024"),
    (["-n", "ten"], "'ten' is not a valid integer"),
    (["-t", "acrobot"], "'acrobot' is not"),
    (["--objective", "no_such_module:fn"], "cannot import objective module 'no_such_module'"),
])
def test_bad_flags(nas_env, db_url, flags, needle):
    out = nas("search", "bad", *SMALL, *flags, "-j", "0", env=nas_env)
    assert_one_line_error(out, needle)
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]


def test_unknown_study_for_worker(nas_env, db_url):
    nas("study", "create", "exists", *SMALL, env=nas_env, check=True)
    assert_one_line_error(nas("worker", "--study", "nope", env=nas_env), "no study named 'nope'")


def test_worker_on_a_database_without_schema(nas_env):
    assert_one_line_error(nas("worker", env=nas_env), "nas db upgrade")


def test_unreachable_database(nas_env):
    nas_env["NAS_DATABASE_URL"] = "postgresql://someone:hunter2@127.0.0.1:1/nas"
    out = nas("study", "create", "x", *SMALL, env=nas_env)
    assert_one_line_error(out, "cannot reach the database")
    assert "hunter2" not in out.stderr and "someone:***@" in out.stderr


def test_wrong_password(nas_env, pg):
    nas_env["NAS_DATABASE_URL"] = f"postgresql://{PASSWORD_USER}:wrong-{PASSWORD}@127.0.0.1:{pg.port}/postgres"
    out = nas("worker", env=nas_env)
    assert_one_line_error(out, "password authentication failed")
    assert PASSWORD not in out.stderr


def test_right_password_is_accepted_and_never_printed(nas_env, pg, tmp_path):
    nas_env["NAS_DATABASE_URL"] = f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{pg.port}/postgres"
    out = nas("db", "url", env=nas_env, check=True)
    assert PASSWORD not in out.stdout and f"{PASSWORD_USER}:***@" in out.stdout
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    owned = "pw_" + uuid.uuid4().hex[:8]
    admin(pg, f'CREATE DATABASE "{owned}" OWNER {PASSWORD_USER}')
    bare = f"postgresql://{PASSWORD_USER}@127.0.0.1:{pg.port}/{owned}"
    via_file = {**nas_env, "NAS_DATABASE_PASSWORD_FILE": str(secret)}
    out = nas("db", "upgrade", "--storage", bare, env=via_file, check=True)
    assert PASSWORD not in out.stdout and "schema at revision" in out.stdout


def test_a_password_on_the_command_line_is_refused(nas_env, pg):
    url = f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{pg.port}/postgres"
    out = nas("db", "url", "--storage", url, env=nas_env)
    assert_one_line_error(out, "a password in --storage is visible to every local user",
                          "NAS_DATABASE_PASSWORD_FILE")
    assert PASSWORD not in out.stderr


@pytest.mark.parametrize("url, needle", [
    ("not a url", "malformed database URL"),
    ("mysql://u@h/db", "unsupported database URL scheme"),
])
def test_malformed_urls(nas_env, url, needle):
    assert_one_line_error(nas("study", "list", "--storage", url, env=nas_env), needle)


def test_threads_zero_from_the_environment(nas_env):
    nas_env["NAS_THREADS"] = "0"
    assert_one_line_error(nas("worker", env=nas_env), "threads must be 1 to 1024, got 0")


@pytest.mark.parametrize("device, needle", [("cuda", "no CUDA device"), ("tpu", "unknown device")])
def test_gpu_flag_on_a_cpu_only_machine(nas_env, device, needle):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the CPU-only error cannot happen here")
    assert_one_line_error(nas("worker", "--device", device, env=nas_env), needle)
    assert_one_line_error(nas("search", "g", *SMALL, "--device", device, "-j", "0", env=nas_env), needle)


def test_search_on_a_study_whose_budget_is_spent_shows_its_summary(nas_env, db_url):
    """Running `make demo` twice: the second run says so and shows the result, exit 0."""
    nas("search", "done", *SMALL, "-n", "2", "-j", "1", env=nas_env, check=True)
    out = nas("search", "done", *SMALL, "-n", "2", "-j", "1", env=nas_env)
    assert out.returncode == 0 and "already finished its budget of 2 trials" in out.stdout
    assert "finished 2 of 2 trials" in out.stdout and "best trial" in out.stdout
    assert query(db_url, "SELECT count(*) FROM trials") == [(2,)]


def test_a_paused_study_is_said_to_be_paused_not_finished(nas_env, db_url):
    nas("study", "create", "held", *SMALL, "-n", "2", env=nas_env, check=True)
    nas("study", "pause", "held", env=nas_env, check=True)
    worker = nas("worker", "--study", "held", "--threads", "1", env=nas_env)
    assert worker.returncode == 0 and "study held paused (`nas study resume NAME`)" in worker.stderr
    assert "no budget left" not in worker.stderr
    assert_one_line_error(nas("search", "held", *SMALL, "-n", "2", "-j", "1", env=nas_env),
                          "study 'held' is paused: `nas study resume held` to run it")
    assert query(db_url, "SELECT count(*) FROM trials") == [(0,)]


@pytest.mark.parametrize("name", ["/tmp/nas-abs-study", "../../escaped", "x" * 129, "a\nb", "",
                                  ".hidden", "sp ace"])
def test_study_names_are_checked_before_anything_is_written(nas_env, db_url, tmp_path, name):
    from pathlib import Path

    for command in (["search", name, *SMALL, "-j", "1"], ["study", "create", name, *SMALL]):
        assert_one_line_error(nas(*command, env=nas_env), "invalid study name",
                              "1-128 characters of A-Z a-z 0-9 . _ -")
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]
    assert not Path("/tmp/nas-abs-study").exists() and not (tmp_path / "escaped").exists()
    home = Path(nas_env["NAS_HOME"])
    assert not home.exists() or not any(home.rglob("*escaped*"))


@pytest.mark.parametrize("flags", [["-p", "100000000"], ["-s", "1000000"],
                                   ["-m", "neat", "-p", "100000000"]])
def test_a_spec_whose_trials_cannot_fit_is_refused(nas_env, db_url, flags):
    out = nas("study", "create", "huge", *SMALL, *flags, env=nas_env)
    assert_one_line_error(out, "a trial of this spec needs up to", "GB", "lower -p or -s")
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]
    roomy = {**nas_env, "NAS_TRIAL_MEMORY_LIMIT_GB": "1000000000"}
    nas("study", "create", "huge", *SMALL, *flags, env=roomy, check=True)


def test_an_out_of_memory_trial_is_the_worker_s_failure_and_retried(nas_env, db_url):
    env = {**nas_env, "NAS_MAX_RETRY": "1"}
    nas("study", "create", "oom", "--objective", "tests.fixtures.objectives:out_of_memory",
        "-n", "1", "--sampler", "random", "--pruner", "none", env=env, check=True)
    out = nas("worker", "--study", "oom", "--threads", "1", env=env)
    assert out.returncode == 0 and "out of memory on this worker" in out.stderr
    rows = query(db_url, "SELECT number, state, retry_of FROM nas.trials ORDER BY number")
    assert rows == [(0, "FAIL", None), (1, "FAIL", 0)]  # retried once (the cap), then counted
    assert query(db_url, "SELECT state, count(*) FROM nas.claims GROUP BY 1 ORDER BY 1") == \
        [("done", 1), ("released", 1)]
    assert query(db_url, "SELECT finished, failed, retried FROM nas.progress") == [(1, 2, 1)]


def test_a_priority_beyond_postgres_integers_names_the_flag(nas_env, db_url):
    out = nas("study", "create", "big", *SMALL, "--priority", "2147483648", env=nas_env)
    assert_one_line_error(out, "'--priority': 2147483648 is not in the range")
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]


@pytest.mark.parametrize("name", ["NAS_HEARTBEAT_GRACE", "NAS_HEARTBEAT_INTERVAL", "NAS_MAX_RETRY",
                                  "NAS_DB_RETRY_SECONDS", "NAS_SERVE_POLL"])
@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_numeric_setting_is_one_line_on_every_command(nas_env, name, value):
    env = {**nas_env, name: value}
    for command in (["status"], ["worker"], ["db", "status"]):
        assert_one_line_error(nas(*command, env=env), f"{name} must be a", repr(value))


def test_threads_from_the_environment_are_bounded(nas_env, db_url):
    nas("study", "create", "t", *SMALL, "-n", "1", env=nas_env, check=True)
    out = nas("worker", env={**nas_env, "NAS_THREADS": "99999999999"})
    assert_one_line_error(out, "threads must be 1 to 1024, got 99999999999")


@pytest.mark.parametrize("ref, needle", [
    ("os:getcwd", "objective 'os:getcwd' must take (trial, spec), but its signature is getcwd()"),
    ("tests.fixtures.objectives:one_argument", "must take (trial, spec), but its signature is "
                                               "one_argument(trial)"),
])
def test_an_objective_with_the_wrong_signature_is_refused_at_creation(nas_env, db_url, ref, needle):
    out = nas("study", "create", "sig", "--objective", ref, env=nas_env)
    assert_one_line_error(out, needle)
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]


def test_a_study_whose_trials_all_fail_at_once_is_paused_not_burned(nas_env, db_url):
    spec = ["--objective", "tests.fixtures.objectives:broken", "-n", "20", "--sampler", "random",
            "--pruner", "none"]
    out = nas("search", "broken", *spec, "-j", "2", "--threads", "1", env=nas_env)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert ("study 'broken' paused: its first 3 trials all failed before reporting anything "
            "(TypeError: broken objective); fix the objective or task, then "
            "`nas study resume broken`") in out.stderr
    states = query(db_url, "SELECT state, count(*) FROM nas.trials GROUP BY 1")
    assert states[0][0] == "FAIL" and len(states) == 1 and 3 <= states[0][1] <= 4  # 2 workers race
    again = nas("search", "broken", *spec, "-j", "1", env=nas_env)
    assert_one_line_error(again, "study 'broken' is paused: its first 3 trials all failed")
    nas("study", "resume", "broken", env=nas_env, check=True)
    assert query(db_url, "SELECT paused, paused_reason FROM nas.studies") == [(False, None)]


def test_trials_that_fail_after_working_are_not_a_broken_objective(nas_env, db_url):
    nas("study", "create", "diverges", "--objective", "tests.fixtures.objectives:fails_after_reporting",
        "-n", "5", "--sampler", "random", "--pruner", "none", env=nas_env, check=True)
    out = nas("worker", "--threads", "1", env=nas_env)
    assert out.returncode == 0, out.stderr
    assert query(db_url, "SELECT state, count(*) FROM nas.trials GROUP BY 1") == [("FAIL", 5)]
    assert query(db_url, "SELECT paused FROM nas.studies") == [(False,)]


def test_a_success_rate_that_is_no_number_is_shown_as_unknown(nas_env, db_url):
    out = nas("search", "odd", "--objective", "tests.fixtures.objectives:odd_success_rate", "-n", "2",
              "--sampler", "random", "--pruner", "none", "-j", "1", "--threads", "1", env=nas_env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "best trial" in out.stdout and "of seeds solved" not in out.stdout
    best = nas("best", "odd", env=nas_env)
    assert best.returncode == 0 and best.stdout.startswith("study odd: best trial"), best.stderr
