"""CMA-ES restarts off vs on: the double pole with velocities, population 16, sigma 0.51,
no hidden layer, with and without biases; seeds 0..99, 100,000 // 16 generations each.

Each seed runs alone through paper.py's _run_seeds (run_evolution, one torch thread), so a
seed whose cmaes run diverges (the package's AssertionError at |mean| >= 1e32, which only
restarts=False reaches) counts as unsolved instead of ending the others.

Run: flock /tmp/nas-bench.lock timeout 900 python bench/cmaes_restarts.py  (about 6 minutes)
"""
from __future__ import annotations

import statistics
import time

from _support import ROOT  # noqa: F401  (puts the repo on the path)
from paper import _run_seeds

CONFIG = {"mode": "pure", "task": "double-pole", "hidden": [], "recurrent": "none",
          "activation": "tanh", "population": 16, "algorithm": "cmaes",
          "algorithm_params": {"sigma": 0.51, "biases": True, "separable": False}}


def outcomes(config: dict) -> tuple[list[int | None], list[int]]:
    """(evaluations to solve per seed, None: unsolved; the seeds whose run diverged)."""
    evals, diverged = [], []
    for seed in range(100):
        try:
            evals += _run_seeds((config, 100_000 // config["population"], [seed]))
        except AssertionError:
            evals.append(None)
            diverged.append(seed)
    return evals, diverged


def main() -> None:
    for restarts in (True, False):
        for biases in (True, False):
            params = {**CONFIG["algorithm_params"], "biases": biases, "restarts": restarts}
            start = time.time()
            evals, diverged = outcomes({**CONFIG, "algorithm_params": params})
            done = [e for e in evals if e is not None]
            print(f"restarts={restarts!s:5} biases={biases!s:5} solved {len(done)}/100 "
                  f"mean {statistics.mean(done):,.0f} median {statistics.median(done):,.0f} "
                  f"max {max(done):,} unsolved {[i for i, e in enumerate(evals) if e is None]} "
                  f"diverged {diverged} {time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
