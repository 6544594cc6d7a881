"""`nas export` and Optuna's trials_dataframe(): results out without SQL."""
import io
import json

import pandas as pd

from nas.testing import SMALL, nas, query


def test_export_one_row_per_trial_with_params_and_seeds(nas_env, db_url, tmp_path):
    nas("study", "create", "ex", *SMALL[:6], "-s", "2", *SMALL[8:], "-n", "3", env=nas_env, check=True)
    nas("worker", "--threads", "1", env=nas_env, check=True)
    frame = pd.read_csv(io.StringIO(nas("export", "ex", env=nas_env, check=True).stdout))
    trials = query(db_url, "SELECT number, value, params FROM nas.trials ORDER BY number")
    assert list(frame["number"]) == [t[0] for t in trials]
    assert list(frame["value"]) == [t[1] for t in trials]
    for name in trials[0][2]:  # every param of the pure space the trial drew, flattened
        assert f"params_{name}" in frame.columns
    seeds = query(db_url, "SELECT trial_number, seed, best_fitness, evaluations FROM nas.seed_runs")
    for number, seed, best, evaluations in seeds:
        row = frame[frame["number"] == number].iloc[0]
        assert row[f"seed{seed}_best_fitness"] == best and row[f"seed{seed}_evaluations"] == evaluations
    records = json.loads(nas("export", "ex", "--format", "json", env=nas_env, check=True).stdout)
    assert [r["number"] for r in records] == list(frame["number"])
    out = tmp_path / "ex.parquet"
    said = nas("export", "ex", "--format", "parquet", "--out", str(out), env=nas_env, check=True)
    assert said.stdout == "" and str(out) in said.stderr
    parquet = pd.read_parquet(out)
    assert list(parquet.columns) == list(frame.columns) and list(parquet["value"]) == list(frame["value"])


def test_export_bad_requests_are_one_line(nas_env, db_url, tmp_path):
    nas("study", "create", "ex", *SMALL, "-n", "1", env=nas_env, check=True)
    for args, says in [(["nope"], "no study named 'nope'"),
                       (["ex", "--format", "parquet"], "--format parquet is binary: give --out"),
                       (["ex", "--out", str(tmp_path / "missing" / "x.csv")], "cannot write")]:
        out = nas("export", *args, env=nas_env)
        assert out.returncode == 1 and out.stderr.strip().splitlines() == [out.stderr.strip()], out.stderr
        assert says in out.stderr, out.stderr
    empty = pd.read_csv(io.StringIO(nas("export", "ex", env=nas_env, check=True).stdout))
    assert len(empty) == 0 and "value" in empty.columns


def test_optuna_trials_dataframe_works_as_the_readme_shows(nas_env, db_url):
    import optuna

    nas("study", "create", "df", *SMALL, "-n", "2", env=nas_env, check=True)
    nas("worker", "--threads", "1", env=nas_env, check=True)
    frame = optuna.load_study(study_name="df", storage=db_url).trials_dataframe()
    assert len(frame) == 2 and "user_attrs_success_rate" in frame.columns
