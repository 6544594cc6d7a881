"""Benchmarks that cannot rot: every bench/*.py runs at its --smoke size (seconds, same
code paths as the full run: real PostgreSQL and real worker processes where the bench
uses them) and must exit 0 having printed its finished table. Only that is asserted;
the numbers at this size mean nothing."""
from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.system_packages import ensure

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
NOT_BENCHES = {"__init__.py", "_support.py", "_preemption.py", "objectives.py"}
TIMEOUT = 180  # seconds per bench; the slowest smoke run takes ~40 s on 2 busy cores
# chaos restarts worker processes (a few seconds each on a loaded machine) in its drills;
# scaling runs its four ways twice (short and long trials): 8 rounds of worker starts
TIMEOUTS = {"chaos": 360, "scaling": 360}

NUM = r"[\d,.]+"
# Per bench: lines (regexes, matched against whole lines) that only a finished table has.
FINISHED = {
    "engine": [rf"task +population +threads .*ratio",
               rf"double-pole +random +2 +{NUM} +{NUM} +{NUM} +{NUM} +yes +{NUM} +{NUM}"],
    "neat_vs_neat_python": [rf"nas NEAT +{NUM} +{NUM} +{NUM} +{NUM}",
                            rf"neat-python +{NUM} +{NUM} +{NUM} +{NUM}",
                            rf"neat-python / nas per generation = {NUM}x \(torch path: {NUM}x\)"],
    "records": [rf"task +method +solved +mean +median +general +seconds +against the best published",
                rf"double-pole +pure +\d+/2 +\S+ +\S+ +\S+ +\d+ +\S.*",
                r"  config: \{.*\}", r"  published: CMA-ES 683 \(genoxide\).*"],
    "peers": [r"workload, one core +unit +nas kernel +nas torch +peer +peer +nas/peer +mean steps",
              rf"cartpole balancing +env-steps/s +{NUM} +{NUM} +evosax/gymnax \(JAX\) +{NUM} +{NUM}x +500/500",
              rf"cartpole random +env-steps/s +{NUM} +{NUM} +evosax/gymnax \(JAX\) +{NUM} +{NUM}x +\d+/\d+",
              rf"NEAT pop 20 generation +generations/s +{NUM} +{NUM} +neat-python +{NUM} +{NUM}x +-",
              rf"NEAT pop 20 reproduction +generations/s +{NUM} +{NUM} +neat-python +{NUM} +{NUM}x +-"],
    "scaling": [rf"ceiling +{NUM} +{NUM} +\d+",
                r"scaling, long trials: 2 trials of pure/double-pole, .*",
                r"identical params: all 4 ways ran the same 2 trials",
                rf"per-trial overhead +cartpole +{NUM} +{NUM} +{NUM} +{NUM}",
                rf"long trials +double-pole +{NUM} +{NUM} +{NUM} +{NUM}"],
    "coordination": [rf" +2 +6 +{NUM} +{NUM} +{NUM} +{NUM}% +{NUM}",
                     rf" +2 +{NUM} +{NUM} +{NUM} +{NUM} +{NUM}% +{NUM}%",
                     rf" +20 +{NUM} +{NUM} +{NUM}"],
    "chaos": [r"clean +[\d.]+ +0 +0 +8 +8 +0 +0 +0 +0 +0 +[\d.]+",
              r"chaos +[\d.]+ +\d+ +[12] +\d+ +8 +\d+ +\d+ +0 +0 +0 +[\d.]+",
              r"worker exit codes: clean \[0, 0\], chaos \(last generation\) \[0, 0\]",
              r" +2 +2 +0 +2 +0 +0 +0 +\[0, 0\]",
              r"clean +[\d.]+ +0 +0 +0 +2 +0 +- +- +[\d.]+ +1\.00",
              r"chaos +[\d.]+ +\d+ +\d+ +[01] +2 +\d+ +\S.*",
              r"spot +[\d.]+ +\d+ +0 +0 +2 +\d+ +\S.*"],
    "views": [rf"nas\.progress +{NUM} +\S.*", rf"seed runs per host +{NUM} +\S.*"],
    "paper": [rf"double-pole +pure-ga +\d+/2 .*CMA-ES 895.*",
              rf"double-pole-nv +neat +\d+/2 .*CoSyNE 3,416.*",
              rf"double-pole-nv +neat-p2nv +\d+/2 .*CoSyNE 3,416.*",
              rf"double-pole-nv +neat-long +\d+/2 .*CoSyNE 3,416.*",
              rf"double-pole-nv-gomez +pure-cosyne +\d+/2 .*CoSyNE 3,416.*"],
    "pruning": [r"median +[\d.]+ +\d+ +-?[\d.]+ +(nan|[\d.]+)",
                r"speed-up of the whole study = [\d.]+x; to the common best = (nan|[\d.]+)x"],
    "metric_signal": [r"evaluations +\d+ +(nan|-?[\d.]+)",
                      r"neat +evaluations +[\d.]+ +-?[\d,.]+ +\d+/2 +(-|[\d,]+) +(-|[\d,]+)"],
    "checkpoint": [rf"(ga|cosyne) +20 x 1 +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM}% +{NUM}%",
                   rf"neat +20 x 1 +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM}% +{NUM}%"
                   r"  after 2 generations"],
    "memory": [r"no-op +\d+ +\d+ +\d+", r"pure +\d+ +\d+ +\d+", r"neat +\d+ +\d+ +\d+"],
    "gpu": [r" *individuals +cpu steps/s +gpu steps/s +gpu / cpu",
            rf" +20 +{NUM} +({NUM}|-) +({NUM}|-)"],
    "gym_tasks": [rf"cartpole +20 +10,000 +{NUM} +{NUM} +{NUM} +{NUM} +1\.00",
                  rf"gym:CartPole-v1 +20 +10,000 +{NUM} +{NUM} +{NUM} +{NUM} +{NUM}",
                  rf"gym:InvertedPendulum-v5 +4 +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM}"],
    "pooler": [rf" +direct +2 +\d+ +- +4 +{NUM} +{NUM} +{NUM} +\d+",
               rf" +pgbouncer +2 +\d+ +\d+ +4 +{NUM} +{NUM} +{NUM} +\d+",
               rf"pgbouncer / direct: server connections = {NUM}, trials/s = {NUM}, .*"],
}
PEERS = ("jax", "gymnax", "evosax", "neat")  # what bench/peers.py measures nas against
GPU_SKIPPED = "skipping the GPU rows, measuring the CPU baseline only"


def bench_scripts() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py") if p.name not in NOT_BENCHES)


def run_smoke(name: str, *extra: str) -> tuple[int, str, float]:
    """Run bench/NAME.py --smoke from the repo root in its own process group; on timeout
    SIGINT the group first (so the bench's `finally` stops its PostgreSQL server), then
    kill it. Returns (exit code, stdout + stderr, seconds)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, f"bench/{name}.py", "--smoke", *extra], cwd=ROOT,
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUTS.get(name, TIMEOUT))
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            out, _ = proc.communicate()
        pytest.fail(f"bench/{name}.py --smoke ran past {TIMEOUTS.get(name, TIMEOUT)} s:\n{out[-4000:]}")
    finally:
        _signal_group(proc, signal.SIGKILL)  # anything it left behind in its group
    return proc.returncode, out, time.monotonic() - started


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group of the bench we started (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def test_every_bench_has_a_smoke_check():
    assert set(bench_scripts()) == set(FINISHED), "a bench/*.py without a smoke check here (or gone)"


def test_make_bench_runs_every_bench():
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^bench:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target, "no bench: target in the Makefile"
    listed = set(re.findall(r"bench/(\w+)\.py", target.group(1)))
    assert listed == set(bench_scripts()), f"make bench runs {sorted(listed)}"


@pytest.mark.parametrize("name", sorted(FINISHED))
def test_bench_smoke(name):
    if name == "neat_vs_neat_python" and importlib.util.find_spec("neat") is None:
        pytest.fail("neat-python is not installed; it is what bench/neat_vs_neat_python.py "
                    "compares against: pip install 'neat-python>=2,<3'")
    if name == "peers" and (missing := [m for m in PEERS if importlib.util.find_spec(m) is None]):
        pytest.fail(f"{', '.join(missing)} not installed; bench/peers.py compares nas against "
                    f"them: pip install -e '.[peers]' (part of '.[test]')")
    if name == "pooler":
        ensure({"pgbouncer": "pgbouncer"})  # Debian's pgbouncer, as tests/test_pgbouncer.py
    code, out, seconds = run_smoke(name)
    assert code == 0, f"bench/{name}.py --smoke exited {code} after {seconds:.0f} s:\n{out[-4000:]}"
    lines = out.splitlines()
    for pattern in FINISHED[name]:
        assert any(re.fullmatch(pattern, line) for line in lines), \
            f"bench/{name}.py --smoke printed no line matching {pattern!r}:\n{out[-4000:]}"
    if name == "peers":
        ratios = peer_ratios(out)  # every row measured both sides: a positive ratio each
        assert len(ratios) == 4 and all(r > 0 for r in ratios), out
    if name == "gpu":
        # Without CUDA the bench must say that it skipped the GPU rows (test_gpu_rows
        # checks them where a GPU is); with CUDA it must not have skipped them.
        assert (GPU_SKIPPED in out) == (not _cuda()), out


def peer_ratios(out: str) -> list[float]:
    """The nas/peer column of bench/peers.py's table: one number per measured row."""
    return [float(m.group(1)) for m in re.finditer(r" ([\d.]+)x +\S+$", out, re.M)]


def test_peers_without_the_extras_measure_nas_alone():
    """Where evosax and neat-python are not installed, bench/peers.py says so in its rows
    and still measures nas's side (hidden here: a None entry in sys.modules)."""
    hide = ("import runpy, sys; sys.modules['evosax'] = sys.modules['neat'] = None; "
            "sys.path.insert(0, 'bench'); sys.argv = ['bench/peers.py', '--smoke']; "
            "runpy.run_path('bench/peers.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", hide], cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines()
            if re.match(r"(cartpole|NEAT pop 20) ", line)]
    assert len(rows) == 4 and all(re.search(rf" {NUM} +{NUM} +\S.* not installed +- ", r)
                                  for r in rows), proc.stdout
    assert "evosax/gymnax (JAX) not installed (missing evosax: pip install -e '.[peers]')" \
        in proc.stdout, proc.stdout
    assert "neat-python not installed" in proc.stdout, proc.stdout
    assert not peer_ratios(proc.stdout), proc.stdout


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda(), reason="no CUDA device here: bench/gpu.py's GPU rows need "
                                        "one (its CPU baseline ran in test_bench_smoke[gpu])")
def test_gpu_rows():
    code, out, _ = run_smoke("gpu")
    assert code == 0, out
    assert re.search(rf"^ +20 +{NUM} +{NUM} +{NUM}$", out, re.M), out


def test_paper_seeds_split_across_processes_give_the_same_results(monkeypatch):
    """bench/paper.py's --jobs deals seeds to spawned processes; the figures it prints
    must be those of one process running every seed (per-seed determinism)."""
    monkeypatch.syspath_prepend(str(BENCH))  # the spawned processes import paper too
    import paper
    config = {"task": "double-pole", **paper.CONFIGS[("pure-cosyne", "double-pole")]}
    together = paper.solved_evaluations(config, 60, 3, jobs=1)
    assert any(e is not None for e in together), together  # some seed solves: not vacuous
    assert paper.solved_evaluations(config, 60, 3, jobs=2) == together
