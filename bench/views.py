"""How fast the psql views are on a big study: 10,000 trials x 3 seeds x 150 generations.

Fills one study through SQL (Optuna's tables as Optuna lays them out, plus nas's),
ANALYZEs, then times each view query (median of 5) and prints its plan's top node.
Run: python bench/views.py [--trials 10000 --seeds 3 --generations 150]
"""
from __future__ import annotations

import argparse
import statistics
import time

import sqlalchemy as sa

from _support import throwaway_postgres
from nas.store import schema, studies
from nas.store.session import engine_for
from nas.store.studies import StudySpec

FILL = [
    """INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete)
       SELECT n, :sid, 'COMPLETE', now() - (:t - n) * interval '1 minute',
              now() - (:t - n) * interval '1 minute' + interval '50 seconds'
       FROM generate_series(0, :t - 1) n""",
    """INSERT INTO trial_values (trial_id, objective, value, value_type)
       SELECT trial_id, 0, random() * 1000, 'FINITE' FROM trials WHERE study_id = :sid""",
    """INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json)
       SELECT t.trial_id, p.name, p.v, p.d FROM trials t CROSS JOIN LATERAL (VALUES
         ('sigma', random(), '{"name": "FloatDistribution", "attributes": {"low": 0.01, "high": 1.0, "log": true, "step": null}}'),
         ('hidden_layers', floor(random() * 4), '{"name": "IntDistribution", "attributes": {"low": 0, "high": 3, "log": false, "step": 1}}'),
         ('activation', floor(random() * 4), '{"name": "CategoricalDistribution", "attributes": {"choices": ["elu", "relu", "sigmoid", "tanh"]}}')
       ) AS p(name, v, d) WHERE t.study_id = :sid""",
    """INSERT INTO nas.claims (study_id, trial_id, state, finished_at)
       SELECT :nid, trial_id, 'done', datetime_complete FROM trials WHERE study_id = :sid""",
    """INSERT INTO nas.seed_runs (trial_id, seed, study_id, trial_number, best_fitness, generations,
         evaluations, seconds, worker_host, worker_pid)
       SELECT t.trial_id, s, :nid, t.number, random() * 1000, :g, :g * 500, 50, 'host-' || (t.number % 8), 1
       FROM trials t CROSS JOIN generate_series(0, :s - 1) s WHERE t.study_id = :sid""",
    """INSERT INTO nas.generations (trial_id, seed, generation, best, mean)
       SELECT t.trial_id, s, g, g * 5 + random(), g * 2 + random()
       FROM trials t CROSS JOIN generate_series(0, :s - 1) s CROSS JOIN generate_series(0, :g - 1) g
       WHERE t.study_id = :sid""",
]

QUERIES = {
    "nas.progress": "SELECT * FROM nas.progress",
    "nas.leaderboard top 10": "SELECT * FROM nas.leaderboard WHERE study = 'big' AND rank <= 10",
    "nas.trials best 10": "SELECT * FROM nas.trials WHERE study = 'big' ORDER BY value DESC NULLS LAST LIMIT 10",
    "nas.trials one trial": "SELECT * FROM nas.trials WHERE study = 'big' AND number = 1234",
    "curve of one trial": "SELECT g.* FROM nas.generations g JOIN nas.trials t ON t.trial_id = g.trial_id "
                          "WHERE t.study = 'big' AND t.number = 1234",
    "failures per host": "SELECT worker_host, count(*) FROM nas.seed_runs GROUP BY 1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=150)
    args = parser.parse_args()
    with throwaway_postgres() as url:
        schema.upgrade(url)
        spec = StudySpec(mode="pure", task="cartpole", generations=args.generations,
                         seeds=args.seeds, population=500, budget=args.trials)
        row, _ = studies.create_or_resume(url, "big", spec)
        engine = engine_for(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in FILL:
                conn.execute(sa.text(statement), {"sid": row.optuna_study_id, "nid": row.id,
                                                  "t": args.trials, "s": args.seeds, "g": args.generations})
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
        fill_s = time.perf_counter() - started
        rows = args.trials * args.seeds * args.generations
        print(f"views: {args.trials} trials x {args.seeds} seeds x {args.generations} generations "
              f"({rows:,} generation rows, filled in {fill_s:.0f} s)")
        print(f"{'query':26} {'median ms':>10}  plan")
        with engine.connect() as conn:
            for name, sql in QUERIES.items():
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    conn.execute(sa.text(sql)).all()
                    times.append(1000 * (time.perf_counter() - t0))
                plan = conn.execute(sa.text("EXPLAIN " + sql)).all()[0][0].strip()
                print(f"{name:26} {statistics.median(times):>10.1f}  {plan[:70]}")


if __name__ == "__main__":
    main()
