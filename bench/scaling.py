"""Does a pool of worker processes use the cores? The same trials, four ways, one command.

  1 worker      one `nas worker` process with `cores` threads
  2 workers     two `nas worker` processes with 1 thread each (what nas does)
  threads       Optuna's n_jobs=2 threads in one process, torch default threads
                (what failed before nas)
  ceiling       two plain processes running the same trials, no database at all

Every way runs the identical list of trial params (enqueued), and every trial has the
same cost (seeds keep evolving after solving), so trials/minute compare directly.
Run: python bench/scaling.py [--trials 8 --generations 100 --population 500 --seeds 1]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

from _support import ROOT, nas_env, throwaway_postgres

OBJECTIVE = "bench.objectives:fixed_cost"


def param_sets(n: int) -> list[dict]:
    units = [8, 12, 16, 10]
    acts = ["tanh", "relu", "elu", "sigmoid"]
    return [{"hidden_layers": 1, "units_0": units[i % 4], "activation": acts[i % 4],
             "recurrent": False, "algorithm": "ga",
             "sigma": 0.1 + 0.05 * (i % 3), "sigma_decay": 1.0, "elite_fraction": 0.1,
             "tournament_size": 3, "crossover_rate": 0.0} for i in range(n)]


def create_study(url: str, name: str, args) -> None:
    cmd = [sys.executable, "-m", "nas", "study", "create", name, "--objective", OBJECTIVE,
           "-n", str(args.trials), "-g", str(args.generations), "-s", str(args.seeds),
           "-p", str(args.population), "--sampler", "random", "--pruner", "none"]
    subprocess.run(cmd, env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
    import optuna
    from nas.store.session import optuna_storage

    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    for params in param_sets(args.trials):
        study.enqueue_trial(params)


class ThreadWatch:
    """Samples the OS thread count of some processes while they run."""

    def __init__(self, procs):
        self.procs, self.peak, self._stop = procs, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.1):
            for p in self.procs:
                try:
                    self.peak = max(self.peak, len(os.listdir(f"/proc/{p.pid}/task")))
                except FileNotFoundError:
                    pass

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_procs(cmds: list[list[str]], envs: list[dict]) -> tuple[float, int]:
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=e, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for c, e in zip(cmds, envs)]
    watch = ThreadWatch(procs)
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"benchmark process failed: {err.strip().splitlines()[-1:]}")
    return time.perf_counter() - start, watch.stop()


def nas_workers(url, name, workers, threads):
    cmd = [sys.executable, "-m", "nas", "worker", "--study", name, "--threads", str(threads)]
    return run_procs([cmd] * workers, [nas_env(url)] * workers)


THREADS_SCRIPT = textwrap.dedent("""
    import sys, optuna
    from bench.objectives import fixed_cost
    from nas.store import studies
    from nas.store.session import optuna_storage
    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spec = studies.require(url, name).spec
    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    study.optimize(lambda t: fixed_cost(t, spec).value, n_trials=n, n_jobs=2)
""")


def optuna_threads(url, name, trials):
    env = {k: v for k, v in nas_env(url).items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return run_procs([[sys.executable, "-c", THREADS_SCRIPT, url, name, str(trials)]], [env])


CEILING_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    torch.set_num_threads(1)
    import optuna
    from bench.objectives import config_for
    from nas.evolution import run_evolution
    from nas.store.studies import StudySpec
    spec = StudySpec(**json.loads(sys.argv[1]))
    for params in json.loads(sys.argv[2]):
        config = config_for(optuna.trial.FixedTrial(params), spec)
        run_evolution(config, spec.generations, list(range(spec.seeds)), stop_when_solved=False)
""")


def ceiling(args):
    spec = {"mode": "pure", "task": "cartpole", "generations": args.generations,
            "seeds": args.seeds, "population": args.population, "budget": args.trials}
    sets = param_sets(args.trials)
    halves = [sets[0::2], sets[1::2]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmds = [[sys.executable, "-c", CEILING_SCRIPT, json.dumps(spec), json.dumps(h)] for h in halves]
    return run_procs(cmds, [env, env])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = {}
    with throwaway_postgres() as url:
        for key, run in [
            ("1 worker", lambda n: nas_workers(url, n, 1, cores)),
            ("2 workers", lambda n: nas_workers(url, n, 2, 1)),
            ("threads", lambda n: optuna_threads(url, n, args.trials)),
        ]:
            name = key.replace(" ", "-")
            create_study(url, name, args)
            rows[key] = run(name)
    rows["ceiling"] = ceiling(args)
    print(f"scaling: {args.trials} trials of pure/cartpole, population {args.population} x "
          f"{args.generations} generations x {args.seeds} seeds, {cores} cores")
    print(f"{'way':12} {'seconds':>8} {'trials/min':>11} {'peak OS threads':>16}")
    rate = {}
    for key, (seconds, peak) in rows.items():
        rate[key] = args.trials / seconds * 60
        print(f"{key:12} {seconds:8.1f} {rate[key]:11.2f} {peak:16d}")
    print(f"nas 2 workers / ceiling   = {rate['2 workers'] / rate['ceiling']:.2f}")
    print(f"nas 2 workers / 1 worker  = {rate['2 workers'] / rate['1 worker']:.2f}")
    print(f"nas 2 workers / threads   = {rate['2 workers'] / rate['threads']:.2f}")


if __name__ == "__main__":
    main()
