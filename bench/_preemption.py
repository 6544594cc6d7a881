"""Preemption drills for bench/chaos.py: what checkpoints save when trials are interrupted.

Trials here are long enough to be interrupted: the paced objective (one generation per
--pace seconds, the pause touching no random state) makes a trial last about
generations x pace whatever the machine, so four workers fit on two cores and the
figures measure lost work rather than CPU contention. Three runs of the same study size:

    clean   no faults: the baseline
    chaos   (run twice: with checkpoints off, as before them, and on) a fault every --drill-fault-seconds: a worker stopped with SIGTERM (as compose,
            Slurm, Kubernetes or a spot notice do) or killed -9 (OOM, a lost host), and
            restarted; once, the database killed -9 and restarted
    spot    every --spot-every seconds all workers are stopped with SIGTERM and started
            again --spot-down seconds later (a spot VM evicted and replaced), shorter
            than a trial, so no trial can finish without resuming

Per interrupted attempt, "redone" counts the generations its retry computed again: the
attempt's last reported generation + 1 minus the generation the retry resumed from
(all of them without a checkpoint). Announced stops checkpoint at the boundary (goal 0);
a kill -9 loses at most the generations since the last periodic checkpoint.
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

from _support import ROOT, nas_env, sql

PACED = "tests.fixtures.objectives:evolve_paced"


class Fleet:
    """The drill's worker processes, restarted as supervisord or compose would."""

    def __init__(self, url: str, study: str, args, logdir: Path, checkpoints: bool = True):
        self.url, self.study, self.args, self.logdir = url, study, args, logdir
        self.env = nas_env(url, NAS_HEARTBEAT_INTERVAL="1", NAS_HEARTBEAT_GRACE="4",
                           NAS_THREADS="1", NAS_TEST_GENERATION_SECONDS=str(args.pace),
                           NAS_CHECKPOINT_SECONDS=str(args.checkpoint_seconds) if checkpoints else "off")
        self.started = 0
        self.procs = [self.start() for _ in range(args.workers)]

    def start(self) -> subprocess.Popen:
        self.started += 1
        with open(self.logdir / f"{self.study}-{self.started}.log", "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "nas", "worker", "--study", self.study,
                                     "--threads", "1"], env=self.env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)

    def replace(self, i: int, how: signal.Signals) -> None:
        self.procs[i].send_signal(how)
        self.procs[i].wait(timeout=120)  # SIGTERM: the next generation boundary
        self.procs[i] = self.start()

    def live(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p.poll() is None]

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()


def finished(url: str, study: str) -> int:
    try:
        return sql(url, "SELECT finished FROM nas.progress WHERE study = :n", n=study)[0][0]
    except Exception:  # the database is down right now
        return -1


def drill(url: str, cluster, study: str, args, schedule: str, logdir: Path,
          checkpoints: bool = True) -> dict:
    subprocess.run([sys.executable, "-m", "nas", "study", "create", study, "--objective", PACED,
                    "-m", "pure", "-t", "double-pole-nv", "-n", str(args.drill_trials),
                    "-g", str(args.drill_generations), "-p", str(args.drill_population), "-s", "1",
                    "--sampler", "random", "--pruner", "none"],
                   env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
    rng = random.Random(args.seed)
    fleet = Fleet(url, study, args, logdir, checkpoints)
    faults = {"sigterm": 0, "kill -9": 0, "db restart": 0}
    started = time.perf_counter()
    next_fault = started + (args.spot_every if schedule == "spot" else rng.uniform(*args.drill_fault_seconds))
    try:
        while fleet.live():
            done = finished(url, study)
            faulting = args.fault_window is None or time.perf_counter() - started < args.fault_window
            if schedule != "clean" and faulting and time.perf_counter() > next_fault \
                    and 0 <= done < args.drill_trials:
                fault(fleet, cluster, schedule, rng, faults, args)
                next_fault = time.perf_counter() + (
                    args.spot_every if schedule == "spot" else rng.uniform(*args.drill_fault_seconds))
            time.sleep(0.2)
    finally:
        fleet.kill_all()  # on a failure of the bench itself: leave no worker behind
    seconds = time.perf_counter() - started
    return {"schedule": schedule if checkpoints else f"{schedule}, no checkpoints",
            "checkpoints": checkpoints, "seconds": seconds, "faults": faults,
            "codes": [p.wait() for p in fleet.procs], **account(url, study, args)}


def fault(fleet: Fleet, cluster, schedule: str, rng: random.Random, faults: dict, args) -> None:
    if schedule == "spot":  # the whole VM: every worker told to stop, then replaced
        live = fleet.live()
        for i in live:
            fleet.procs[i].send_signal(signal.SIGTERM)
        for i in live:
            fleet.procs[i].wait(timeout=120)
        time.sleep(args.spot_down)
        for i in live:
            fleet.procs[i] = fleet.start()
        faults["sigterm"] += len(live)
        return
    if faults["db restart"] == 0 and rng.random() < 0.15:
        cluster.crash()
        time.sleep(rng.uniform(1, 3))
        cluster.spawn()
        cluster.wait_ready()
        faults["db restart"] += 1
        return
    live = fleet.live()
    if live:
        how = signal.SIGTERM if rng.random() < 0.5 else signal.SIGKILL
        fleet.replace(rng.choice(live), how)
        faults["sigterm" if how == signal.SIGTERM else "kill -9"] += 1


def account(url: str, study: str, args) -> dict:
    """Generations redone per interrupted attempt, by how it was interrupted, and the
    generations computed against those the study needed."""
    attempts = sql(url, """
        SELECT t.state, t.preempted, t.resumed_from, r.number AS retry, r.resumed_from AS retry_from,
               (SELECT max(i.step) FROM trial_intermediate_values i WHERE i.trial_id = t.trial_id) AS last
        FROM nas.trials t
        LEFT JOIN LATERAL (  -- the next attempt: the trial whose retry history ends with t
            SELECT n.number, n.resumed_from FROM nas.trials n
            JOIN trial_system_attributes a ON a.trial_id = n.trial_id AND a.key = 'retry_history'
            WHERE n.study = t.study AND (a.value_json::jsonb ->> -1)::int = t.number) r ON true
        WHERE t.study = :n""", n=study)
    redone: dict[str, list[int]] = {"sigterm": [], "kill -9": []}
    computed = 0
    for state, preempted, own_from, retry, retry_from, last in attempts:
        # reported steps include the ones a resumed attempt replayed: it ran from own_from
        computed += 0 if last is None else max(0, last + 1 - (own_from or 0))
        if state == "FAIL" and retry is not None:  # interrupted, and continued by `retry`
            lost = 0 if last is None else max(0, last + 1 - (retry_from or 0))
            redone["sigterm" if preempted else "kill -9"].append(lost)
    states = dict(sql(url, "SELECT state, count(*) FROM nas.trials WHERE study = :n GROUP BY 1",
                      n=study))
    left = sql(url, "SELECT count(*) FROM nas.checkpoints c JOIN nas.studies s ON s.id = c.study_id "
                    "WHERE s.name = :n", n=study)[0][0]
    return {"redone": redone, "computed": computed, "needed": args.drill_trials * args.drill_generations,
            "complete": states.get("COMPLETE", 0), "failed_attempts": states.get("FAIL", 0),
            "resumed": sum(1 for a in attempts if a[2] is not None), "checkpoints_left": left}


def run_drills(url: str, cluster, args, logdir: Path) -> list[dict]:
    """Clean first (the baseline); the chaos schedule without checkpoints (NAS_CHECKPOINT_SECONDS
    =off: what an interruption cost before them) and with; then spot evictions, which a
    trial longer than the eviction interval survives only by resuming."""
    runs = [("clean", True), *([("chaos", False)] if args.baseline else []), ("chaos", True),
            ("spot", True)]
    # compiled before the clock starts: a first compile would fall on the clean run alone
    subprocess.run([sys.executable, "-m", "nas.evolution.kernels"], env=nas_env(url), cwd=ROOT,
                   check=True, capture_output=True)
    return [drill(url, cluster, f"drill-{schedule}{'' if on else '-off'}", args, schedule, logdir, on)
            for schedule, on in runs]


def report(drills: list[dict], args) -> list[str]:
    """Print the drills' table; return what broke (a trial not completed, a checkpoint left)."""
    clean = drills[0]
    interval = args.checkpoint_seconds / args.pace
    print(f"\npreemption: {args.drill_trials} trials of double-pole-nv x {args.drill_generations} "
          f"generations ({args.pace:g} s each), {args.workers} workers, checkpoint every "
          f"{args.checkpoint_seconds:g} s (~{interval:.0f} generations), spot eviction every "
          f"{args.spot_every:g} s")
    print(f"{'run':22} {'sec':>6} {'SIGTERMs':>8} {'kill -9s':>8} {'db restarts':>11} {'complete':>8} "
          f"{'resumed':>7} {'redone/SIGTERM':>14} {'redone/kill -9':>14} {'computed/needed':>15} "
          f"{'throughput/clean':>16}")
    broken = []
    for d in drills:
        f, r = d["faults"], d["redone"]
        per = lambda xs: f"{mean(xs):.1f} (max {max(xs)})" if xs else "-"  # noqa: E731
        print(f"{d['schedule']:22} {d['seconds']:6.1f} {f['sigterm']:>8} {f['kill -9']:>8} "
              f"{f['db restart']:>11} {d['complete']:>8} {d['resumed']:>7} {per(r['sigterm']):>14} "
              f"{per(r['kill -9']):>14} {d['computed'] / d['needed']:15.2f} "
              f"{clean['seconds'] / d['seconds']:16.2f}")
        if d["checkpoints"] and (d["complete"] != args.drill_trials or d["checkpoints_left"]) \
                or any(d["codes"]):
            broken.append(f"{d['schedule']}: {d['complete']} of {args.drill_trials} complete, "
                          f"{d['checkpoints_left']} checkpoints left, exit codes {d['codes']}")
    return broken
