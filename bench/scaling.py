"""Does a pool of worker processes use the cores? The same trials, four ways, one command.

  1 worker      one `nas worker` process with `cores` threads
  2 workers     two `nas worker` processes with 1 thread each (what nas does)
  threads       Optuna's n_jobs=2 threads in one process, torch default threads
                (what failed before nas)
  ceiling       two plain processes running the same trials, no database at all

Every way runs the identical list of complete trial params (enqueued in the three
studies, fixed in the ceiling: nothing is sampled) with the identical spec, and every
trial runs all its generations (seeds keep evolving after solving), so each way does the
same work and trials/minute compare directly. The bench checks, before it starts, that
the params are exactly what the pure search space suggests, and at the end that every
trial of every way ran with exactly those params; it fails loudly otherwise. "peak OS
threads" is the most threads any one process of that way had at once.

Two cases, each four ways. `overhead`: short cartpole trials (about 1.5 s each on the
kernels), so what it measures is mostly per-trial cost: process start, database, Optuna.
`long`: trials of a study's shape (`make study`: population 300 x 3 seeds) on the double
pole, 16 generations, about 10 s each on one idle core here, where a trial is compute-bound
and the ways differ only in how they use the cores. A double-pole trial's cost depends
steeply on its params and generations (once networks balance, episodes run up to 100,000
steps: 20 generations cost 0.2 s to 26 s across the overhead case's four param sets, and
the 16th generation of the set used costs 3 s alone), so the long case gives
every trial the same params (tanh, 8 units): equal trials, and the ceiling's fixed halves
stay balanced. The closing table puts the two cases side by side.
Run: python bench/scaling.py [--cases overhead long] [--trials 8 --generations 100
     --population 500 --seeds 1] [--long-trials 2 --long-generations 16
     --long-population 300 --long-seeds 3]
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
from dataclasses import asdict, dataclass

from _support import ROOT, nas_env, parse_args, throwaway_postgres
from nas.spec import StudySpec

OBJECTIVE = "bench.objectives:fixed_cost"


@dataclass(frozen=True)
class Case:
    """One trial shape the four ways run."""
    name: str
    title: str
    task: str
    trials: int
    generations: int
    population: int
    seeds: int
    same_params: bool = False  # every trial the first param set (else the sets in turn)

    def param_sets(self) -> list[dict]:
        return param_sets(1) * self.trials if self.same_params else param_sets(self.trials)

    def spec(self) -> StudySpec:
        return StudySpec(mode="pure", task=self.task, generations=self.generations,
                         seeds=self.seeds, population=self.population, budget=self.trials)


def param_sets(n: int) -> list[dict]:
    """Complete params of a layered (non-recurrent) GA trial: every parameter the pure
    space suggests on that path, so an enqueued or fixed trial samples nothing."""
    units = [8, 12, 16, 10]
    acts = ["tanh", "relu", "elu", "sigmoid"]
    return [{"recurrence": "none", "hidden_layers": 1, "units_0": units[i % 4],
             "activation": acts[i % 4], "algorithm": "ga",
             "sigma": 0.1 + 0.05 * (i % 3), "sigma_decay": 1.0, "elite_fraction": 0.1,
             "tournament_size": 3, "crossover_rate": 0.0} for i in range(n)]


def check_complete(sets: list[dict], spec: StudySpec) -> None:
    """Each set must be exactly what the space suggests: no missing, no unused params."""
    import optuna

    from nas.worker.space import SPACES

    for params in sets:
        trial = optuna.trial.FixedTrial(params)
        try:
            SPACES[spec.mode](trial, spec)
        except ValueError as exc:  # FixedTrial: a parameter the space asks for is missing
            raise SystemExit(f"scaling: param set incomplete for the {spec.mode} space: {exc}")
        if trial.params != params:
            unused = sorted(set(params) - set(trial.params))
            raise SystemExit(f"scaling: param set has params the {spec.mode} space does not "
                             f"suggest: {unused}")


def key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def check_identical(expected: list[dict], used: dict[str, list[dict]]) -> None:
    """Every way ran every expected trial exactly once, with exactly its params."""
    want = sorted(map(key, expected))
    for way, sets in used.items():
        got = sorted(map(key, sets))
        if got != want:
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            raise SystemExit(f"scaling: {way!r} did not run the identical trials: "
                             f"{len(got)} trials vs {len(want)}; missing {missing[:2]}, "
                             f"unexpected {extra[:2]}")


def create_study(url: str, name: str, case: Case, sets: list[dict]) -> None:
    cmd = [sys.executable, "-m", "nas", "study", "create", name, "--objective", OBJECTIVE,
           "-t", case.task, "-n", str(case.trials), "-g", str(case.generations),
           "-s", str(case.seeds), "-p", str(case.population), "--sampler", "random",
           "--pruner", "none"]
    subprocess.run(cmd, env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
    import optuna
    from nas.store.optuna_storage import optuna_storage

    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    for params in sets:
        study.enqueue_trial(params)


def used_params(url: str, name: str, trials: int) -> list[dict]:
    """The params of the study's trials; every one must have finished."""
    import optuna
    from nas.store.optuna_storage import optuna_storage

    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    done = study.get_trials(deepcopy=False)
    states = sorted({t.state.name for t in done})
    if len(done) != trials or states != ["COMPLETE"]:
        raise SystemExit(f"scaling: study {name!r} has {len(done)} trials in states {states}, "
                         f"expected {trials} COMPLETE")
    return [t.params for t in done]


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


def run_procs(cmds: list[list[str]], envs: list[dict]) -> tuple[float, int, list[str]]:
    """Run the processes side by side: (seconds, peak OS threads of one, their stdouts)."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, env=e, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c, e in zip(cmds, envs)]
    watch = ThreadWatch(procs)
    outs = []
    try:
        for p in procs:
            out, err = p.communicate()
            outs.append(out)
            if p.returncode != 0:
                raise SystemExit(f"benchmark process failed: {err.strip().splitlines()[-1:]}")
    finally:
        for p in procs:  # on failure: leave no process behind
            if p.poll() is None:
                p.kill()
                p.wait()
    return time.perf_counter() - start, watch.stop(), outs


def nas_workers(url, name, workers, threads):
    cmd = [sys.executable, "-m", "nas", "worker", "--study", name, "--threads", str(threads)]
    return run_procs([cmd] * workers, [nas_env(url)] * workers)[:2]


THREADS_SCRIPT = textwrap.dedent("""
    import sys, optuna
    from bench.objectives import fixed_cost
    from nas.store import Store
    url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(url)
    spec = store.require_study(name).spec
    study = optuna.load_study(study_name=name, storage=store.optuna_storage())
    study.optimize(lambda t: fixed_cost(t, spec).score("fitness"), n_trials=n, n_jobs=2)
""")


def optuna_threads(url, name, trials):
    env = {k: v for k, v in nas_env(url).items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return run_procs([[sys.executable, "-c", THREADS_SCRIPT, url, name, str(trials)]], [env])[:2]


# The same objective as the studies run (bench.objectives.fixed_cost) on fixed trials; it
# prints each trial's params as the space used them, for the identity check.
CEILING_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    torch.set_num_threads(1)
    import optuna
    from bench.objectives import fixed_cost
    from nas.spec import StudySpec
    spec = StudySpec(**json.loads(sys.argv[1]))
    for params in json.loads(sys.argv[2]):
        trial = optuna.trial.FixedTrial(params)
        fixed_cost(trial, spec)
        print(json.dumps(trial.params), flush=True)
""")


def ceiling(spec: StudySpec, sets: list[dict]) -> tuple[float, int, list[dict]]:
    halves = [sets[0::2], sets[1::2]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmds = [[sys.executable, "-c", CEILING_SCRIPT, json.dumps(asdict(spec)), json.dumps(h)]
            for h in halves if h]
    seconds, peak, outs = run_procs(cmds, [env] * len(cmds))
    return seconds, peak, [json.loads(line) for out in outs for line in out.splitlines() if line]


def run_case(url: str, case: Case, cores: int) -> dict[str, tuple[float, int]]:
    """The four ways on `case`'s trials: {way: (seconds, peak OS threads)}; every way must
    have run the identical trials."""
    from nas.store import Store

    sets = case.param_sets()
    check_complete(sets, case.spec())
    rows, used, spec = {}, {}, None
    for way, run in [
        ("1 worker", lambda n: nas_workers(url, n, 1, cores)),
        ("2 workers", lambda n: nas_workers(url, n, 2, 1)),
        ("threads", lambda n: optuna_threads(url, n, case.trials)),
    ]:
        name = f"{case.name}-{way.replace(' ', '-')}"
        create_study(url, name, case, sets)
        stored = Store(url).require_study(name).spec
        if spec is not None and stored != spec:
            raise SystemExit(f"scaling: study {name!r} has another spec than the first: "
                             f"{stored.differences(spec)}")
        spec = stored
        rows[way] = run(name)
        used[way] = used_params(url, name, case.trials)
    seconds, peak, used["ceiling"] = ceiling(spec, sets)  # the studies' very spec
    rows["ceiling"] = (seconds, peak)
    check_identical(sets, used)
    return rows


def print_case(case: Case, rows: dict[str, tuple[float, int]], cores: int) -> dict[str, float]:
    """The case's table (its ratios are in main's closing one); returns trials/minute per way."""
    print(f"scaling, {case.title}: {case.trials} trials of pure/{case.task}, population "
          f"{case.population} x {case.generations} generations x {case.seeds} seeds, {cores} cores")
    print(f"{'way':12} {'seconds':>8} {'trials/min':>11} {'peak OS threads':>16}")
    rate = {}
    for way, (seconds, peak) in rows.items():
        rate[way] = case.trials / seconds * 60
        print(f"{way:12} {seconds:8.1f} {rate[way]:11.2f} {peak:16d}")
    print(f"identical params: all {len(rows)} ways ran the same {case.trials} trials")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=["overhead", "long"],
                        default=["overhead", "long"])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--long-trials", type=int, default=2)
    parser.add_argument("--long-generations", type=int, default=16)
    parser.add_argument("--long-population", type=int, default=300)
    parser.add_argument("--long-seeds", type=int, default=3)
    args = parse_args(parser, smoke={"trials": 2, "generations": 2, "population": 20,
                                     "long_trials": 2, "long_generations": 2,
                                     "long_population": 20, "long_seeds": 1})
    cores = os.cpu_count() or 1
    cases = {"overhead": Case("overhead", "per-trial overhead", "cartpole", args.trials,
                              args.generations, args.population, args.seeds),
             "long": Case("long", "long trials", "double-pole", args.long_trials,
                          args.long_generations, args.long_population, args.long_seeds,
                          same_params=True)}
    cases = [cases[name] for name in args.cases]
    with throwaway_postgres() as url:
        rows = {case.name: run_case(url, case, cores) for case in cases}
    rates = {case.name: print_case(case, rows[case.name], cores) for case in cases}
    # s/trial ceiling: a trial's seconds in the ceiling way (one plain process per core)
    print(f"{'case':20} {'task':12} {'s/trial ceiling':>15} {'2 workers / ceiling':>20} "
          f"{'/ 1 worker':>11} {'/ threads':>10}")
    for case in cases:
        rate = rates[case.name]
        print(f"{case.title:20} {case.task:12} {60 / rate['ceiling'] * 2:>15.1f} "
              f"{rate['2 workers'] / rate['ceiling']:>20.2f} "
              f"{rate['2 workers'] / rate['1 worker']:>11.2f} "
              f"{rate['2 workers'] / rate['threads']:>10.2f}")


if __name__ == "__main__":
    main()
