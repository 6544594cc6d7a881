"""Writing a trial's evolution results: seed runs, generation curves, best genomes.

One transaction per trial, so a trial's rows are all there or none are.
"""
from __future__ import annotations

import os
import socket
from typing import Any

import sqlalchemy as sa

_SEED_RUNS = sa.text(
    "INSERT INTO nas.seed_runs (trial_id, seed, study_id, trial_number, best_fitness, "
    "generations, evaluations, solved_generation, solved_evaluations, seconds, "
    "worker_host, worker_pid) VALUES (:trial_id, :seed, :study_id, :trial_number, "
    ":best_fitness, :generations, :evaluations, :solved_generation, :solved_evaluations, "
    ":seconds, :worker_host, :worker_pid)")
_GENERATIONS = sa.text(
    "INSERT INTO nas.generations (trial_id, seed, generation, best, mean, species, "
    "nodes, connections) VALUES (:trial_id, :seed, :generation, :best, :mean, "
    ":species, :nodes, :connections)")
_GENOMES = sa.table("genomes", sa.column("trial_id"), sa.column("seed"), sa.column("fitness"),
                    sa.column("genome", sa.JSON), schema="nas")


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
        runs, curves, genomes = result_rows(study_id, trial_id, trial_number, seeds)
        with self.transaction() as session:
            session.execute(_SEED_RUNS, runs)
            if curves:
                session.execute(_GENERATIONS, curves)
            if genomes:
                session.execute(sa.insert(_GENOMES), genomes)

    def seed_runs(self, trial_id: int) -> list[dict]:
        with self.transaction() as session:
            rows = session.execute(sa.text(
                "SELECT seed, best_fitness, generations, evaluations, solved_generation, "
                "solved_evaluations, seconds, worker_host FROM nas.seed_runs WHERE trial_id = :t "
                "ORDER BY seed"), {"t": trial_id}).mappings().all()
        return [dict(r) for r in rows]

    def seed_table(self, trial_ids: list[int]) -> dict[int, list[dict]]:
        """Per-seed results of several trials at once (the report's top-N table)."""
        if not trial_ids:
            return {}
        with self.transaction() as session:
            rows = session.execute(sa.text(
                "SELECT trial_id, seed, best_fitness, evaluations, solved_evaluations "
                "FROM nas.seed_runs WHERE trial_id = ANY(:ids) ORDER BY trial_id, seed"),
                {"ids": list(trial_ids)}).mappings().all()
        table: dict[int, list[dict]] = {}
        for r in rows:
            table.setdefault(r["trial_id"], []).append(dict(r))
        return table

    def study_workers(self, study_id: int) -> tuple[int, int]:
        """(worker processes, hosts) that recorded results for a study."""
        with self.transaction() as session:
            row = session.execute(sa.text(
                "SELECT count(DISTINCT (worker_host, worker_pid)), count(DISTINCT worker_host) "
                "FROM nas.seed_runs WHERE study_id = :s"), {"s": study_id}).one()
        return int(row[0]), int(row[1])
