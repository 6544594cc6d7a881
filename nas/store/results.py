"""Writing a trial's evolution results: seed runs, generation curves, best genomes.

One transaction per trial, so a trial's rows are all there or none are.
"""
from __future__ import annotations

import os
import socket
from typing import Any

import sqlalchemy as sa

from nas.store.tables import any_of, generations, genomes, seed_runs


def result_rows(study_id: int, trial_id: int, trial_number: int,
                seeds: list[Any]) -> tuple[list[dict], list[dict], list[dict]]:
    """(seed runs, generation curves, best genomes) as rows. `seeds` are evolution
    SeedResults, duck-typed: the store never imports the engine."""
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
    return runs, curves, genomes


class ResultQueries:
    def record_results(self, study_id: int, trial_id: int, trial_number: int,
                       seeds: list[Any]) -> None:
        runs, curves, best = result_rows(study_id, trial_id, trial_number, seeds)
        with self.transaction() as session:
            session.execute(sa.insert(seed_runs), runs)
            if curves:
                session.execute(sa.insert(generations), curves)
            if best:
                session.execute(sa.insert(genomes), best)

    def seed_runs(self, trial_id: int) -> list[dict]:
        with self.transaction() as session:
            s = seed_runs.c
            rows = session.execute(
                sa.select(s.seed, s.best_fitness, s.generations, s.evaluations,
                          s.solved_generation, s.solved_evaluations, s.seconds, s.worker_host)
                .where(s.trial_id == trial_id).order_by(s.seed)).mappings().all()
        return [dict(r) for r in rows]

    def seed_table(self, trial_ids: list[int]) -> dict[int, list[dict]]:
        """Per-seed results of several trials at once (the report's top-N table)."""
        if not trial_ids:
            return {}
        with self.transaction() as session:
            s = seed_runs.c
            rows = session.execute(
                sa.select(s.trial_id, s.seed, s.best_fitness, s.evaluations, s.solved_evaluations)
                .where(s.trial_id == any_of(trial_ids)).order_by(s.trial_id, s.seed)
            ).mappings().all()
        table: dict[int, list[dict]] = {}
        for r in rows:
            table.setdefault(r["trial_id"], []).append(dict(r))
        return table

    def study_workers(self, study_id: int) -> tuple[int, int]:
        """(worker processes, hosts) that recorded results for a study."""
        with self.transaction() as session:
            s = seed_runs.c
            row = session.execute(
                sa.select(sa.func.count(sa.tuple_(s.worker_host, s.worker_pid).distinct()),
                          sa.func.count(s.worker_host.distinct()))
                .where(s.study_id == study_id)).one()
        return int(row[0]), int(row[1])
