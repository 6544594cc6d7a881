"""Memory per worker process: peak RSS of one real `nas worker` running one trial.

Three studies on one throwaway server, each served by a fresh worker with --threads 1:
a no-op objective (the floor: Python, torch, Optuna, SQLAlchemy loaded), pure mode and
NEAT mode at population x seeds on cartpole (seeds keep evolving after solving, so the
episodes stay long). RSS is sampled from /proc every 20 ms; "anon" is the process's
private memory (RssAnon), the rest is file-backed and mostly shared between workers
(torch's libraries), which is what sizing many workers on one machine needs.
Run: python bench/memory.py [--population 500 --seeds 3 --generations 10]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _support import ROOT, nas_env, parse_args, throwaway_postgres

KINDS = {
    "no-op": ["--objective", "tests.fixtures.objectives:constant"],
    "pure": ["-m", "pure", "-t", "cartpole", "--objective", "tests.fixtures.objectives:evolve_unsolved"],
    "neat": ["-m", "neat", "-t", "cartpole", "--objective", "tests.fixtures.objectives:evolve_unsolved"],
}


def status_kb(pid: int) -> dict[str, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(rest.split()[0])
    return fields


def peak_of(url: str, name: str) -> dict[str, int]:
    cmd = [sys.executable, "-m", "nas", "worker", "--study", name, "--threads", "1", "--max-trials", "1"]
    proc = subprocess.Popen(cmd, env=nas_env(url), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    peak: dict[str, int] = {}
    while proc.poll() is None:
        try:
            now = status_kb(proc.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        if now.get("VmRSS", 0) > peak.get("VmRSS", 0):
            peak = now
        time.sleep(0.02)
    assert proc.wait() == 0, f"worker for {name} failed"
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=10)
    args = parse_args(parser, smoke={"population": 20, "seeds": 1, "generations": 2})
    print(f"memory: one worker, one trial, cartpole, population {args.population} x "
          f"{args.seeds} seeds x {args.generations} generations, --threads 1")
    print(f"{'objective':10} {'peak RSS MB':>12} {'anon MB':>8} {'file MB':>8}")
    with throwaway_postgres() as url:
        for kind, flags in KINDS.items():
            subprocess.run([sys.executable, "-m", "nas", "study", "create", kind, *flags,
                            "-n", "1", "-g", str(args.generations), "-s", str(args.seeds),
                            "-p", str(args.population), "--sampler", "random", "--pruner", "none"],
                           env=nas_env(url), cwd=ROOT, check=True, capture_output=True)
            peak = peak_of(url, kind)
            print(f"{kind:10} {peak['VmRSS'] / 1024:>12.0f} {peak['RssAnon'] / 1024:>8.0f} "
                  f"{peak['RssFile'] / 1024:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
