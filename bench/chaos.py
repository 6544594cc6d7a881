"""Chaos: the same study run clean and under faults, in one command.

Faults: workers killed with -9 at random moments (and restarted, as supervisord or
compose would), and the PostgreSQL server killed -9 and restarted (once at the latest
halfway through, sometimes twice). Printed: trials
asked (all attempts), finished, retried, lost (must be 0), duplicated (must be 0), and
the throughput cost of the faults against the clean run.
Run: python bench/chaos.py [--trials 60 --workers 4 --seed 1]
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import ROOT, nas_env, sql
from nas.store.embedded import Cluster

OBJECTIVE = "tests.fixtures.objectives:evolve_unsolved"
FAST = {"NAS_HEARTBEAT_INTERVAL": "1", "NAS_HEARTBEAT_GRACE": "4", "NAS_THREADS": "1"}


def start_worker(url: str, study: str, logdir: Path, i: int) -> subprocess.Popen:
    with open(logdir / f"{study}-{i}.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "nas", "worker", "--study", study,
                                 "--threads", "1"], env=nas_env(url, **FAST), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)


def finished(url: str, study: str) -> int:
    try:
        return sql(url, "SELECT finished FROM nas.progress WHERE study = :n", n=study)[0][0]
    except Exception:  # the database is down right now
        return -1


def run(url: str, cluster: Cluster, study: str, args, chaos: bool, logdir: Path) -> dict:
    subprocess.run([sys.executable, "-m", "nas", "study", "create", study, "--objective", OBJECTIVE,
                    "-n", str(args.trials), "-g", "10", "-p", "60", "-s", "1", "--sampler", "random",
                    "--pruner", "none"], env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
    rng = random.Random(args.seed)
    procs = [start_worker(url, study, logdir, i) for i in range(args.workers)]
    kills = db_restarts = 0
    started = time.perf_counter()
    next_fault = started + rng.uniform(2, 5)
    while finished(url, study) < args.trials or any(p.poll() is None for p in procs):
        if chaos and time.perf_counter() > next_fault and finished(url, study) < args.trials - 2:
            halfway = finished(url, study) >= args.trials // 2
            if db_restarts == 0 and halfway or rng.random() < 0.1 and db_restarts < 2:
                cluster.crash()
                time.sleep(rng.uniform(1, 3))
                cluster.spawn()
                cluster.wait_ready()
                db_restarts += 1
            else:
                live = [i for i, p in enumerate(procs) if p.poll() is None]
                if live:
                    victim = rng.choice(live)
                    procs[victim].kill()
                    procs[victim].wait()
                    procs[victim] = start_worker(url, study, logdir, len(procs) + kills)
                    kills += 1
            next_fault = time.perf_counter() + rng.uniform(2, 5)
        if all(p.poll() is not None for p in procs):
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "kills": kills, "db_restarts": db_restarts,
            "codes": [p.wait() for p in procs], **account(url, study, args.trials)}


def account(url: str, study: str, budget: int) -> dict:
    rows = sql(url, "SELECT number, state, retry_of, retries FROM nas.trials WHERE study = :n", n=study)
    retried_numbers = {r[0] for r in sql(url, """
        SELECT f.number FROM nas.trials f JOIN nas.trials r ON r.study = f.study
        WHERE f.study = :n AND r.trial_id IN (
            SELECT a.trial_id FROM trial_system_attributes a WHERE a.key = 'retry_history'
              AND a.value_json::jsonb @> to_jsonb(f.number))""", n=study)}
    fails = [r for r in rows if r[1] == "FAIL"]
    chains: dict[int, int] = {}
    for number, state, retry_of, _ in rows:
        if state == "COMPLETE":
            root = number if retry_of is None else retry_of
            chains[root] = chains.get(root, 0) + 1
    done = sql(url, "SELECT count(*) FROM nas.claims c JOIN nas.studies s ON s.id = c.study_id "
                    "WHERE s.name = :n AND c.state = 'done'", n=study)[0][0]
    return {"asked": len(rows), "finished": done,
            "complete": sum(r[1] == "COMPLETE" for r in rows),
            "retried": sum(r[2] is not None for r in rows),
            "lost": sum(r[0] not in retried_numbers for r in fails),
            "duplicated": sum(n - 1 for n in chains.values() if n > 1) + max(0, done - budget),
            "left_running": sum(r[1] in ("RUNNING", "WAITING") for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nas-chaos-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "data", settings={"fsync": "off"})
    url = cluster.start().replace("postgresql://", "postgresql+psycopg2://")
    logdir = Path(__file__).resolve().parent / "out"
    logdir.mkdir(exist_ok=True)
    try:
        clean = run(url, cluster, "clean", args, False, logdir)
        chaos = run(url, cluster, "chaos", args, True, logdir)
    finally:
        cluster.crash()
    print(f"chaos: {args.trials} trials, {args.workers} workers, seed {args.seed}")
    print(f"{'run':6} {'sec':>6} {'kills':>5} {'db restarts':>11} {'asked':>5} {'finished':>8} "
          f"{'retried':>7} {'lost':>4} {'duplicated':>10} {'left running':>12} {'trials/min':>10}")
    for name, r in (("clean", clean), ("chaos", chaos)):
        print(f"{name:6} {r['seconds']:6.1f} {r['kills']:>5} {r['db_restarts']:>11} {r['asked']:>5} "
              f"{r['finished']:>8} {r['retried']:>7} {r['lost']:>4} {r['duplicated']:>10} "
              f"{r['left_running']:>12} {60 * r['finished'] / r['seconds']:10.1f}")
    print(f"throughput under faults / clean = {clean['seconds'] / chaos['seconds']:.2f}")
    print(f"worker exit codes: clean {clean['codes']}, chaos (last generation) {chaos['codes']}")


if __name__ == "__main__":
    main()
