"""`nas compare`: two studies of one metric, side by side, through the real CLI."""
from nas.coordinator.compare import beats
from nas.testing import SMALL, nas, query


def test_beats_counts_wins_and_half_ties():
    assert beats([1, 2], [3, 4], minimize=True) == 1.0
    assert beats([1, 2], [3, 4], minimize=False) == 0.0
    assert beats([2, 3], [2, 1], minimize=True) == (0.5 + 0 + 0 + 0) / 4


def test_compare_two_studies(nas_env, db_url):
    for name, seed in (("a", "0"), ("b", "7")):
        nas("study", "create", name, "-m", "pure", "-t", "cartpole", "-g", "3", "-s", "2", "-p", "20",
            "--sampler", "random", "--pruner", "none", "--metric", "fitness", "--base-seed", seed,
            "-n", "3", env=nas_env, check=True)
    nas("worker", "--threads", "1", env=nas_env, check=True)
    out = nas("compare", "a", "b", env=nas_env, check=True).stdout.splitlines()
    values = {s: sorted(v for (v,) in query(db_url, "SELECT value FROM nas.trials WHERE study = :s", s=s))
              for s in ("a", "b")}
    row_a = next(l for l in out if l.startswith("a "))
    assert row_a.split()[1] == "3" and "0:" in row_a and "1:" in row_a  # trials, both seeds
    expected = beats(values["b"], values["a"], minimize=False)
    assert out[-1].startswith(f"b vs a: a random b trial beats a random a trial {expected:.0%}")
    other = nas("study", "create", "c", *SMALL, "-n", "1", env=nas_env, check=True)
    assert other.returncode == 0
    mixed = nas("compare", "a", "c", env=nas_env)
    assert mixed.returncode == 1 and "compare like with like" in mixed.stderr
    assert len(mixed.stderr.strip().splitlines()) == 1
