"""Writing a trial's evolution results: seed runs, generation curves, best genomes.

One transaction per trial, so a trial's rows are all there or none are.
"""
from __future__ import annotations

import os
import socket
from typing import Any

import sqlalchemy as sa

from nas.store.session import session_scope


def record(url: str, study_id: int, trial_id: int, trial_number: int, seeds: list[Any]) -> None:
    """`seeds` are evolution SeedResults (duck-typed: store never imports evolution)."""
    host, pid = socket.gethostname(), os.getpid()
    runs, curves, genomes = [], [], []
    for s in seeds:
        runs.append({"trial_id": trial_id, "seed": s.seed, "study_id": study_id,
                     "trial_number": trial_number, "best_fitness": s.best_fitness,
                     "generations": s.generations, "evaluations": s.evaluations,
                     "solved_generation": s.solved_generation,
                     "solved_evaluations": s.solved_evaluations, "seconds": s.seconds,
                     "worker_host": host, "worker_pid": pid})
        extra = getattr(s, "curve_extra", None) or [{}] * len(s.curve_best)
        for g, (best, mean, more) in enumerate(zip(s.curve_best, s.curve_mean, extra)):
            curves.append({"trial_id": trial_id, "seed": s.seed, "generation": g, "best": best,
                           "mean": mean, "species": more.get("species"),
                           "nodes": more.get("nodes"), "connections": more.get("connections")})
        if s.best_genome is not None:
            genomes.append({"trial_id": trial_id, "seed": s.seed, "fitness": s.best_fitness,
                            "genome": s.best_genome})
    with session_scope(url) as session:
        session.execute(sa.text(
            "INSERT INTO nas.seed_runs (trial_id, seed, study_id, trial_number, best_fitness, "
            "generations, evaluations, solved_generation, solved_evaluations, seconds, "
            "worker_host, worker_pid) VALUES (:trial_id, :seed, :study_id, :trial_number, "
            ":best_fitness, :generations, :evaluations, :solved_generation, :solved_evaluations, "
            ":seconds, :worker_host, :worker_pid)"), runs)
        if curves:
            session.execute(sa.text(
                "INSERT INTO nas.generations (trial_id, seed, generation, best, mean, species, "
                "nodes, connections) VALUES (:trial_id, :seed, :generation, :best, :mean, "
                ":species, :nodes, :connections)"), curves)
        if genomes:
            table = sa.table("genomes", sa.column("trial_id"), sa.column("seed"),
                             sa.column("fitness"), sa.column("genome", sa.JSON), schema="nas")
            session.execute(sa.insert(table), genomes)


def seed_runs(url: str, trial_id: int) -> list[dict]:
    with session_scope(url) as session:
        rows = session.execute(sa.text(
            "SELECT seed, best_fitness, generations, evaluations, solved_generation, "
            "solved_evaluations, seconds, worker_host FROM nas.seed_runs WHERE trial_id = :t "
            "ORDER BY seed"), {"t": trial_id}).mappings().all()
    return [dict(r) for r in rows]
