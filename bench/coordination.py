"""What coordination costs: no-op trials from 1..64 worker processes, and TPE ask latency.

Part 1: a no-op objective served by W workers at once (the study is paused until all W
have registered, so the measured window has all of them claiming): trials/second from
the database's own timestamps, the per-trial time each worker spends outside the
objective (claim, ask, reports, tell, settle, heartbeats) from the workers' summary
lines, and PostgreSQL connections per worker from pg_stat_activity.
Part 1b (paced): the same with an objective that sleeps --trial-seconds (no core used),
so W workers offer W / seconds trials per second, as long trials do: the bookkeeping a
trial pays when the database is not saturated. A 60 s trial at 64 workers offers ~1.1
trials/s; the default 6 s offers ten times that.
Part 2: TPE's ask latency as a study grows to 1,000 and 5,000 finished trials, in a
warm (long-lived) process and in fresh processes.
Run: python bench/coordination.py [--workers 1 4 16 64] [--sizes 1000 5000]
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from _support import ROOT, nas_env, parse_args, sql, throwaway_postgres

NOOP = "tests.fixtures.objectives:constant"
SLEEPING = "tests.fixtures.objectives:sleeping"


def nas(url: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "nas", *args], env=nas_env(url), cwd=ROOT, check=True,
                   capture_output=True)


def pool_run(url: str, workers: int, per_worker: int, logdir: Path,
             trial_seconds: float = 0.0) -> dict:
    name, budget = f"{'paced' if trial_seconds else 'noop'}-{workers}", workers * per_worker
    nas(url, "study", "create", name, "--objective", SLEEPING if trial_seconds else NOOP,
        "-n", str(budget), "--sampler", "random", "--pruner", "none")
    nas(url, "study", "pause", name)
    env = nas_env(url, NAS_SERVE_POLL="0.2", NAS_THREADS="1",
                  NAS_BENCH_TRIAL_SECONDS=str(trial_seconds))
    procs = []
    for i in range(workers):
        with open(logdir / f"{name}-{i}.log", "wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "nas", "worker", "--study", name,
                                           "--serve", "--threads", "1"], env=env, cwd=ROOT,
                                          stdout=log, stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 60 + 5 * workers
        while sql(url, "SELECT count(*) FROM nas.workers "
                       "WHERE state NOT IN ('stopping', 'stopped')")[0][0] < workers:
            alive(procs, logdir, name)
            if time.monotonic() > deadline:
                raise SystemExit(f"coordination: {workers} workers did not all register in nas.workers")
            time.sleep(0.5)
        nas(url, "study", "resume", name)
        peak_conn = 0
        while True:
            alive(procs, logdir, name)
            finished = sql(url, "SELECT finished FROM nas.progress WHERE study = :n", n=name)[0][0]
            # the workers' connections: not this process's own (it runs this query)
            conns = sql(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nas' "
                             "AND pid <> pg_backend_pid()")[0][0]
            peak_conn = max(peak_conn, conns)
            if finished >= budget:
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    first, last, n = sql(url, "SELECT min(started), max(finished), count(*) FROM nas.trials "
                              "WHERE study = :n AND state = 'COMPLETE'", n=name)[0]
    medians, p99s = [], []
    for i in range(workers):
        m = re.search(r"bookkeeping_ms median=([\d.]+) p99=([\d.]+)",
                      (logdir / f"{name}-{i}.log").read_text())
        if m:
            medians.append(float(m.group(1)))
            p99s.append(float(m.group(2)))
    sql(url, "UPDATE nas.workers SET state = 'stopped'")
    return {"workers": workers, "trials": n, "per_s": n / (last - first).total_seconds(),
            "offered": workers / trial_seconds if trial_seconds else None,
            "median_ms": statistics.median(medians), "p99_ms": max(p99s),
            "conn_per_worker": peak_conn / workers}


def alive(procs: list[subprocess.Popen], logdir: Path, name: str) -> None:
    """A `--serve` worker only exits on a failure: stop the bench, loudly, if one did."""
    for i, p in enumerate(procs):
        if p.poll() is not None:
            tail = (logdir / f"{name}-{i}.log").read_text().strip().splitlines()[-1:]
            raise SystemExit(f"coordination: worker {i} of {name} exited {p.returncode}: {tail}")


ASK_SCRIPT = textwrap.dedent("""
    import sys, time, optuna
    from nas.store.optuna_storage import optuna_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    t0 = time.perf_counter()
    study = optuna.load_study(study_name=name, storage=optuna_storage(url),
                              sampler=optuna.samplers.TPESampler(seed=0))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        trial = study.ask()
        for i in range(5):
            trial.suggest_float(f"x{i}", -5, 5)
        times.append(time.perf_counter() - t)
        study.tell(trial, 0.0)
    print(time.perf_counter() - t0, *times)
""")


def fill(url: str, name: str, count: int) -> None:
    import optuna

    from nas.store.optuna_storage import optuna_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=optuna_storage(url), load_if_exists=True)
    dists = {f"x{i}": optuna.distributions.FloatDistribution(-5, 5) for i in range(5)}
    import random

    rng = random.Random(0)
    have = len(study.get_trials(deepcopy=False))
    study.add_trials([optuna.trial.create_trial(
        params={k: rng.uniform(-5, 5) for k in dists}, distributions=dists,
        value=rng.random()) for _ in range(count - have)])


def ask_latency(url: str, sizes: list[int]) -> list[dict]:
    rows = []
    for size in sizes:
        fill(url, "tpe", size)
        out = subprocess.run([sys.executable, "-c", ASK_SCRIPT, url, "tpe", "11"], env=nas_env(url),
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
        times = [float(x) for x in out[1:]]
        fresh = []
        for _ in range(3):
            o = subprocess.run([sys.executable, "-c", ASK_SCRIPT, url, "tpe", "1"], env=nas_env(url),
                               cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
            fresh.append(float(o[0]))
        rows.append({"size": size, "warm_ms": 1000 * statistics.median(times[1:]),
                     "first_ms": 1000 * times[0], "fresh_ms": 1000 * statistics.median(fresh)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 4, 16, 64])
    parser.add_argument("--per-worker", type=int, default=15)
    parser.add_argument("--paced-workers", type=int, nargs="*", default=[16, 64])
    parser.add_argument("--trial-seconds", type=float, default=6.0)
    parser.add_argument("--paced-per-worker", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 5000])
    args = parse_args(parser, smoke={"workers": [1, 2], "per_worker": 3, "paced_workers": [2],
                                     "trial_seconds": 0.5, "paced_per_worker": 2,
                                     "sizes": [20]})
    with throwaway_postgres() as url:
        nas(url, "db", "upgrade", "--storage", url)
        logdir = Path(__file__).resolve().parent / "out"
        logdir.mkdir(exist_ok=True)
        pool = [pool_run(url, w, args.per_worker, logdir) for w in args.workers]
        paced = [pool_run(url, w, args.paced_per_worker, logdir, args.trial_seconds)
                 for w in args.paced_workers]
        asks = ask_latency(url, args.sizes)
    print("coordination: no-op trials, all workers claiming at once")
    print(f"{'workers':>8} {'trials':>7} {'trials/s':>9} {'bookkeeping median ms':>22} "
          f"{'p99 ms':>8} {'% of 60 s trial':>16} {'PG conns/worker':>16}")
    for r in pool:
        print(f"{r['workers']:>8} {r['trials']:>7} {r['per_s']:>9.1f} {r['median_ms']:>22.1f} "
              f"{r['p99_ms']:>8.1f} {100 * r['median_ms'] / 60000:>15.3f}% {r['conn_per_worker']:>16.2f}")
    for r in pool[1:]:
        print(f"trials/s at {r['workers']} workers / at {pool[0]['workers']} = "
              f"{r['per_s'] / pool[0]['per_s']:.2f}")
    if paced:
        print(f"paced: each trial sleeps {args.trial_seconds:g} s (a 60 s trial at 64 workers offers 1.1/s)")
        print(f"{'workers':>8} {'offered/s':>10} {'trials/s':>9} {'bookkeeping median ms':>22} "
              f"{'p99 ms':>8} {'% of 60 s trial':>16} {'% of this trial':>16}")
        for r in paced:
            print(f"{r['workers']:>8} {r['offered']:>10.1f} {r['per_s']:>9.1f} {r['median_ms']:>22.1f} "
                  f"{r['p99_ms']:>8.1f} {100 * r['median_ms'] / 60000:>15.3f}% "
                  f"{100 * r['median_ms'] / (1000 * args.trial_seconds):>15.2f}%")
    print("TPE ask latency (5 float params)")
    print(f"{'finished trials':>16} {'warm median ms':>15} {'warm first ms':>14} {'fresh process ms':>17}")
    for r in asks:
        print(f"{r['size']:>16} {r['warm_ms']:>15.1f} {r['first_ms']:>14.1f} {r['fresh_ms']:>17.1f}")


if __name__ == "__main__":
    main()
