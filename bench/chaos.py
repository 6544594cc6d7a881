"""Chaos: the same study run clean and under faults, in one command.

Faults: workers killed with -9 at random moments (and restarted, as supervisord or
compose would), and the PostgreSQL server killed -9 and restarted (once at the latest
halfway through, sometimes twice). Printed: trials
asked (all attempts), finished, retried, orphaned (created by Optuna as a worker or the
database died, never bound to a claim: nothing ran, the budget went back), lost (must be
0), duplicated (must be 0), left running (must be 0), and the throughput cost of the
faults against the clean run.

Outages: for each length in --outages (5, 15 and 45 s by default, all shorter than the
60 s heartbeat grace), workers run one long trial each (a paced objective: one generation
a second), the server is killed -9 mid-trial and restarted after that long. Printed: the
trials running at the outage and those lost to heartbeats (failed as dead and retried,
their work thrown away), which must be 0 for an outage shorter than the grace.

User-objective outages: the same for each length in --user-outages (15 s by default), the
trials running a user's `--objective` (tests.fixtures.objectives:paced_user_writes: a
suggest, a report, a user attribute and a pruner question every second, no help from
nas's reporter), so every write waits in the storage itself. Printed: complete and
failed trials, the latter must be 0.
Preemption (bench/_preemption.py): trials long enough to be interrupted, run clean, under
a chaos schedule of SIGTERMs, kill -9s and a database restart, and under spot evictions
(every worker stopped and replaced more often than a trial lasts). Printed: generations
redone per SIGTERM and per kill -9 (checkpoints: 0 and at most one checkpoint interval),
generations computed / needed, and throughput against the clean run.
The bench exits non-zero if a "must be 0" is not, or a drill's trial does not complete.
Run: python bench/chaos.py [--trials 60 --workers 4 --seed 1 --outages 5 15 45 --user-outages 15
                            --drill-trials 16 --drill-generations 40 --pace 0.5 --spot-every 12]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _preemption import report as report_drills
from _preemption import run_drills
from _support import ROOT, nas_env, parse_args, sql
from nas.testing import ThrowawayCluster

OBJECTIVE = "tests.fixtures.objectives:evolve_unsolved"
PACED = "tests.fixtures.objectives:evolve_paced"
USER_PACED = "tests.fixtures.objectives:paced_user_writes"
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


def run(url: str, cluster: ThrowawayCluster, study: str, args, chaos: bool, logdir: Path) -> dict:
    subprocess.run([sys.executable, "-m", "nas", "study", "create", study, "--objective", OBJECTIVE,
                    "-t", "cartpole", "-n", str(args.trials), "-g", str(args.generations), "-p", str(args.population),
                    "-s", "1", "--sampler", "random", "--pruner", "none"],
                   env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
    rng = random.Random(args.seed)
    gap = lambda: rng.uniform(*args.fault_seconds)  # noqa: E731
    procs = [start_worker(url, study, logdir, i) for i in range(args.workers)]
    kills = db_restarts = 0
    started = time.perf_counter()
    next_fault = started + gap()
    try:
        while finished(url, study) < args.trials or any(p.poll() is None for p in procs):
            done = finished(url, study)
            halfway = done >= args.trials // 2
            # a fault when one is due; the database restart at the latest at halfway
            must_restart = halfway and db_restarts == 0 and done < args.trials
            due = time.perf_counter() > next_fault and done < args.trials - 2
            if chaos and (must_restart or due):
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
                next_fault = time.perf_counter() + gap()
            if all(p.poll() is not None for p in procs):
                break
            time.sleep(0.2)
    finally:
        for p in procs:  # on a failure of the bench itself: leave no worker behind
            if p.poll() is None:
                p.kill()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "kills": kills, "db_restarts": db_restarts,
            "codes": [p.wait() for p in procs], **account(url, study, args.trials)}


def outage_run(url: str, cluster: ThrowawayCluster, seconds: float, args, logdir: Path,
               objective: str = PACED, label: str = "outage") -> dict:
    """Workers each mid-way through one trial when the server dies for `seconds`."""
    study = f"{label}-{seconds:g}s"
    generations = int(seconds + args.outage_margin)
    subprocess.run([sys.executable, "-m", "nas", "study", "create", study, "--objective", objective,
                    "-n", str(args.workers), "-g", str(generations), "-p", "20", "-s", "1",
                    "--sampler", "random", "--pruner", "none"],
                   env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
    env = nas_env(url, NAS_HEARTBEAT_INTERVAL="2", NAS_HEARTBEAT_GRACE=str(args.outage_grace),
                  NAS_THREADS="1", NAS_TEST_GENERATION_SECONDS="1")
    procs = [subprocess.Popen([sys.executable, "-m", "nas", "worker", "--study", study,
                               "--threads", "1"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
             for log in [open(logdir / f"{study}-{i}.log", "ab") for i in range(args.workers)]]
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and sql(
                url, "SELECT count(*) FROM nas.running WHERE study = :n AND generation >= 1",
                n=study)[0][0] < args.workers:
            time.sleep(0.2)
        running = sql(url, "SELECT count(*) FROM nas.running WHERE study = :n", n=study)[0][0]
        cluster.crash()
        time.sleep(seconds)
        cluster.spawn()
        cluster.wait_ready()
        codes = [p.wait(timeout=seconds + args.outage_grace + generations + 300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return {"seconds": seconds, "running": running, "codes": codes, **account(url, study, args.workers)}


def account(url: str, study: str, budget: int) -> dict:
    rows = sql(url, "SELECT number, state, retry_of, retries FROM nas.trials WHERE study = :n", n=study)
    retried_numbers = {r[0] for r in sql(url, """
        SELECT f.number FROM nas.trials f JOIN nas.trials r ON r.study = f.study
        WHERE f.study = :n AND r.trial_id IN (
            SELECT a.trial_id FROM trial_system_attributes a WHERE a.key = 'retry_history'
              AND a.value_json::jsonb @> to_jsonb(f.number))""", n=study)}
    # Trials Optuna created as a worker or the database died, never bound to a claim: nothing
    # ran for them, a worker fails them as orphans (no retry) and their budget went back.
    orphans = {r[0] for r in sql(url, """
        SELECT t.number FROM nas.trials t JOIN trial_system_attributes a ON a.trial_id = t.trial_id
        WHERE t.study = :n AND a.key = 'nas_orphan'""", n=study)}
    fails = [r for r in rows if r[1] == "FAIL" and r[0] not in orphans]
    chains: dict[int, int] = {}
    for number, state, retry_of, _ in rows:
        if state == "COMPLETE":
            root = number if retry_of is None else retry_of
            chains[root] = chains.get(root, 0) + 1
    done = sql(url, "SELECT count(*) FROM nas.claims c JOIN nas.studies s ON s.id = c.study_id "
                    "WHERE s.name = :n AND c.state = 'done'", n=study)[0][0]
    return {"asked": len(rows), "finished": done,
            "complete": sum(r[1] == "COMPLETE" for r in rows),
            "failed": sum(r[1] == "FAIL" and r[0] not in orphans for r in rows),
            "retried": sum(r[2] is not None for r in rows), "orphaned": len(orphans),
            "lost": sum(r[0] not in retried_numbers for r in fails),
            "duplicated": sum(n - 1 for n in chains.values() if n > 1) + max(0, done - budget),
            "left_running": sum(r[1] in ("RUNNING", "WAITING") for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--population", type=int, default=60)
    parser.add_argument("--fault-seconds", type=float, nargs=2, default=[2.0, 5.0],
                        metavar=("MIN", "MAX"), help="seconds between faults, drawn uniformly")
    parser.add_argument("--outages", type=float, nargs="*", default=[5.0, 15.0, 45.0],
                        help="outage lengths in seconds (each shorter than --outage-grace)")
    parser.add_argument("--user-outages", type=float, nargs="*", default=[15.0],
                        help="outage lengths in seconds for trials of a user's --objective")
    parser.add_argument("--outage-grace", type=int, default=60, help="heartbeat grace, seconds")
    parser.add_argument("--outage-margin", type=float, default=15.0,
                        help="generations (1 s each) a trial runs beyond the outage's length")
    parser.add_argument("--drills-only", action="store_true",
                        help="only the preemption drills (clean, chaos, spot)")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the chaos drill with checkpoints off (the before)")
    parser.add_argument("--drill-trials", type=int, default=16, help="preemption drills: trials")
    parser.add_argument("--drill-generations", type=int, default=40)
    parser.add_argument("--drill-population", type=int, default=100)
    parser.add_argument("--pace", type=float, default=0.5, help="drill seconds per generation")
    parser.add_argument("--checkpoint-seconds", type=float, default=5.0,
                        help="NAS_CHECKPOINT_SECONDS in the drills (scaled to their trial length)")
    parser.add_argument("--drill-fault-seconds", type=float, nargs=2, default=[4.0, 8.0],
                        metavar=("MIN", "MAX"))
    parser.add_argument("--spot-every", type=float, default=12.0,
                        help="seconds between spot evictions (shorter than a drill trial)")
    parser.add_argument("--fault-window", type=float, default=None,
                        help="drills: seconds after which no more faults are injected, so a "
                             "drill ends however slowly workers start (default: no limit)")
    parser.add_argument("--spot-down", type=float, default=1.0,
                        help="seconds before evicted workers are replaced")
    # smoke: 8 trials, so that 2 workers cannot jump past the halfway window (done 4..5)
    # in which the database restart is due
    args = parse_args(parser, smoke={"trials": 8, "workers": 2, "generations": 8, "population": 50,
                                     "fault_seconds": [2.0, 3.0], "outages": [2.0], "user_outages": [2.0],
                                     "outage_grace": 8, "outage_margin": 4.0, "baseline": False,
                                     "drill_trials": 2, "drill_generations": 16,
                                     "drill_population": 30, "pace": 0.2,
                                     "checkpoint_seconds": 1.0, "drill_fault_seconds": [3.0, 4.0],
                                     "spot_every": 8.0, "spot_down": 0.3,
                                     "fault_window": 25.0})
    base = Path(tempfile.mkdtemp(prefix="nas-chaos-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = ThrowawayCluster(base / "data", settings={"fsync": "off"})
    logdir = Path(__file__).resolve().parent / "out"
    logdir.mkdir(exist_ok=True)
    try:
        url = cluster.start().replace("postgresql://", "postgresql+psycopg2://")
        broken = [] if args.drills_only else faults_and_outages(url, cluster, args, logdir)
        broken += report_drills(run_drills(url, cluster, args, logdir), args)
    finally:
        cluster.crash()
        shutil.rmtree(base, ignore_errors=True)
    if broken:
        raise SystemExit(f"chaos: trials must never be lost, duplicated or left running: "
                         f"{', '.join(broken)}")


def faults_and_outages(url: str, cluster: ThrowawayCluster, args, logdir: Path) -> list[str]:
    """The clean and chaos runs and the outages; prints their tables, returns what broke."""
    clean = run(url, cluster, "clean", args, False, logdir)
    chaos = run(url, cluster, "chaos", args, True, logdir)
    outages = [outage_run(url, cluster, seconds, args, logdir) for seconds in args.outages]
    user_outages = [outage_run(url, cluster, seconds, args, logdir, USER_PACED, "user-outage")
                    for seconds in args.user_outages]
    print(f"chaos: {args.trials} trials, {args.workers} workers, seed {args.seed}")
    print(f"{'run':6} {'sec':>6} {'kills':>5} {'db restarts':>11} {'asked':>5} {'finished':>8} "
          f"{'retried':>7} {'orphaned':>8} {'lost':>4} {'duplicated':>10} {'left running':>12} "
          f"{'trials/min':>10}")
    for name, r in (("clean", clean), ("chaos", chaos)):
        print(f"{name:6} {r['seconds']:6.1f} {r['kills']:>5} {r['db_restarts']:>11} {r['asked']:>5} "
              f"{r['finished']:>8} {r['retried']:>7} {r['orphaned']:>8} {r['lost']:>4} {r['duplicated']:>10} "
              f"{r['left_running']:>12} {60 * r['finished'] / r['seconds']:10.1f}")
    print(f"throughput under faults / clean = {clean['seconds'] / chaos['seconds']:.2f}")
    print(f"worker exit codes: clean {clean['codes']}, chaos (last generation) {chaos['codes']}")
    print(f"\noutages, heartbeat grace {args.outage_grace} s, {args.workers} workers each mid-trial")
    print(f"{'outage s':>8} {'running at outage':>17} {'lost to heartbeats':>18} {'finished':>8} "
          f"{'lost':>4} {'duplicated':>10} {'left running':>12} {'exit codes':>10}")
    for r in outages:
        print(f"{r['seconds']:>8g} {r['running']:>17} {r['retried']:>18} {r['finished']:>8} "
              f"{r['lost']:>4} {r['duplicated']:>10} {r['left_running']:>12} {str(r['codes']):>10}")
    print(f"\nuser-objective outages ({USER_PACED}), heartbeat grace {args.outage_grace} s, "
          f"{args.workers} workers each mid-trial")
    print(f"{'outage s':>8} {'running at outage':>17} {'complete':>8} {'failed':>6} "
          f"{'lost to heartbeats':>18} {'lost':>4} {'duplicated':>10} {'left running':>12} "
          f"{'exit codes':>10}")
    for r in user_outages:
        print(f"{r['seconds']:>8g} {r['running']:>17} {r['complete']:>8} {r['failed']:>6} "
              f"{r['retried']:>18} {r['lost']:>4} {r['duplicated']:>10} {r['left_running']:>12} "
              f"{str(r['codes']):>10}")
    runs = [("clean", clean), ("chaos", chaos), *((f"outage {r['seconds']:g}s", r) for r in outages),
            *((f"user-objective outage {r['seconds']:g}s", r) for r in user_outages)]
    broken = [f"{name}: {r[k]} {k.replace('_', ' ')}" for name, r in runs
              for k in ("lost", "duplicated", "left_running") if r[k]]
    broken += [f"outage {r['seconds']:g}s: {r['retried']} trials lost to heartbeats" for r in outages
               if r["retried"] and r["seconds"] < args.outage_grace]
    # a user objective's trial writes wait through the outage: no trial may even fail
    broken += [f"user-objective outage {r['seconds']:g}s: {r['failed']} failed, {r['retried']} retried"
               for r in user_outages
               if (r["failed"] or r["retried"]) and r["seconds"] < args.outage_grace]
    return broken


if __name__ == "__main__":
    main()
