"""--fix and --range: a study searches part of nas's space, every trial and every worker
holding to it (real CLI, real workers, real PostgreSQL); bad names and values are one
error line with nothing written."""
import optuna
import pytest

from nas.store import Store
from nas.testing import nas, query
from tests.test_cli_errors import assert_one_line_error

QUICK = ["-m", "pure", "-t", "cartpole", "-g", "3", "-s", "1", "-p", "12", "--pruner", "none"]
NARROW = ["--fix", "algorithm=cmaes", "--fix", "recurrence=none", "--range", "sigma=0.05:0.5",
          "--range", "hidden_layers=0:1", "--range", "activation=tanh,relu"]


def trials(db_url: str, study: str) -> list:
    storage = Store(db_url).optuna_storage()
    return [t for t in optuna.load_study(study_name=study, storage=storage).trials
            if t.state == optuna.trial.TrialState.COMPLETE]


def assert_narrowed(done: list) -> None:
    for t in done:
        p = t.params
        assert (p["algorithm"], p["recurrence"]) == ("cmaes", "none"), p
        assert 0.05 <= p["sigma"] <= 0.5 and p["hidden_layers"] in (0, 1), p
        assert p["activation"] in ("tanh", "relu") and "cmaes_biases" in p, p


def test_every_trial_holds_the_fixed_values_and_stays_in_range(nas_env, db_url):
    out = nas("search", "narrow", *QUICK, *NARROW, "-n", "6", "-j", "1", env=nas_env)
    assert out.returncode == 0, out.stderr
    done = trials(db_url, "narrow")
    assert len(done) == 6
    assert_narrowed(done)
    assert len({t.params["sigma"] for t in done}) == 6  # the rest is still searched
    assert query(db_url, "SELECT fix, ranges FROM nas.studies") == [
        ("algorithm=cmaes recurrence=none", "activation=tanh,relu hidden_layers=0:1 sigma=0.05:0.5")]
    best = nas("best", "narrow", env=nas_env, check=True).stdout
    assert "cmaes" in best  # a fixed value is a param like any other


def test_a_worker_started_on_its_own_uses_the_stored_space(nas_env, db_url):
    nas("study", "create", "stored", *QUICK, *NARROW, "--sampler", "random", "-n", "4",
        env=nas_env, check=True)
    out = nas("worker", "--threads", "1", env=nas_env)
    assert out.returncode == 0, out.stderr
    done = trials(db_url, "stored")
    assert len(done) == 4
    assert_narrowed(done)


def test_resuming_compares_the_narrowed_space_like_any_spec_field(nas_env, db_url):
    nas("study", "create", "again", *QUICK, "--fix", "algorithm=ga", env=nas_env, check=True)
    same = nas("study", "create", "again", *QUICK, "--fix", "algorithm=ga", env=nas_env)
    assert same.returncode == 0 and "resumed" in same.stdout, same.stderr
    assert nas("study", "create", "again", env=nas_env).returncode == 0  # the name alone
    other = nas("study", "create", "again", *QUICK, "--fix", "algorithm=cmaes", env=nas_env)
    assert_one_line_error(other, "different spec", "fix: 'algorithm=ga' -> 'algorithm=cmaes'")
    assert query(db_url, "SELECT fix, ranges FROM nas.studies") == [("algorithm=ga", "")]


@pytest.mark.parametrize("flags, needle", [
    (["--fix", "hidden=8"], "--fix hidden=8: the pure space for task cartpole has no parameter hidden"),
    (["--fix", "algorithm=pso"], "--fix algorithm=pso: algorithm is one of ga, cosyne, cmaes"),
    (["--fix", "units_0=64"], "--fix units_0=64: units_0 is an integer in [2, 32]"),
    (["--fix", "hidden_layers=1.5"], "hidden_layers is an integer"),
    (["--fix", "hidden_layers=0"], "(where recurrence=elman)"),
    (["--range", "sigma=0.001:0.5"], "--range sigma=0.001:0.5: sigma is a number in [0.01, 1.0]"),
    (["--range", "sigma=0.5:0.1"], "LOW must be below HIGH"),
    (["--range", "sigma=tanh"], "sigma is a number: give LOW:HIGH"),
    (["--range", "activation=tanh,swish"], "give distinct choices of"),
    (["--fix", "sigma"], "--fix 'sigma': expected NAME=VALUE"),
    (["--fix", "sigma=0.1", "--fix", "sigma=0.2"], "--fix sigma given twice"),
    (["--fix", "sigma=0.1", "--range", "sigma=0.1:0.2"], "both --fix and --range"),
    (["--fix", "algorithm=ga", "--fix", "cosyne_elite_fraction=0.2"], "never sampled"),
    (["-m", "neat", "--fix", "algorithm=cmaes"], "the neat space for task cartpole has no parameter algorithm"),
    (["--objective", "tests.fixtures.objectives:evolve_paced", "--fix", "sigma=0.1"],
     "an --objective samples its own"),
])
def test_bad_narrowing_is_one_line_and_writes_nothing(nas_env, db_url, flags, needle):
    out = nas("search", "bad", *QUICK, *flags, "-j", "1", env=nas_env)
    assert_one_line_error(out, needle)
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]
