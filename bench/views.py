"""How fast the psql views are on a big study: 10,000 trials x 3 seeds x 150 generations.

Fills one study through SQL (Optuna's tables as Optuna lays them out, plus nas's; each
trial has the params a pure trial of nas's search space has, at its largest: three hidden
layers and the GA), ANALYZEs, then times each view query (median of 5) and prints its
plan's top node.
Run: python bench/views.py [--trials 10000 --seeds 3 --generations 150]
"""
from __future__ import annotations

import argparse
import statistics
import time

import sqlalchemy as sa

from _support import parse_args, throwaway_postgres
from nas.spec import StudySpec
from nas.store import Store
from nas.store.session import engine_for

FILL = [
    """INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete)
       SELECT n, :sid, 'COMPLETE', now() - (:t - n) * interval '1 minute',
              now() - (:t - n) * interval '1 minute' + interval '50 seconds'
       FROM generate_series(0, :t - 1) n""",
    """INSERT INTO trial_values (trial_id, objective, value, value_type)
       SELECT trial_id, 0, random() * 1000, 'FINITE' FROM trials WHERE study_id = :sid""",
    None,  # trial_params: PARAMS_FILL, built from the search space
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

# :number is a trial in the middle of the study (1234 at the full size), so the
# one-trial queries always find their trial.
def params_fill(spec: StudySpec) -> tuple[str, dict]:
    """INSERT of trial_params: the params (and distributions, as Optuna stores them) of a
    pure trial at the largest path through the space, each value random in its range."""
    import optuna
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      distribution_to_json)

    from nas.worker.space import MAX_HIDDEN_LAYERS, suggest_pure

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"recurrence": "none", "hidden_layers": MAX_HIDDEN_LAYERS, "algorithm": "ga"})
    trial = study.ask()
    suggest_pure(trial, spec)
    rows, binds = [], {}
    for i, (name, dist) in enumerate(sorted(trial.distributions.items())):
        if isinstance(dist, CategoricalDistribution):
            value = f"floor(random() * {len(dist.choices)})"
        elif isinstance(dist, FloatDistribution):
            value = f"{dist.low!r} + random() * {dist.high - dist.low!r}"
        else:
            value = f"floor({dist.low} + random() * {dist.high - dist.low + 1})"
        rows.append(f"(:n{i}, {value}, :d{i})")
        binds.update({f"n{i}": name, f"d{i}": distribution_to_json(dist)})
    return ("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
            "SELECT t.trial_id, p.name, p.v, p.d FROM trials t CROSS JOIN LATERAL (VALUES "
            + ", ".join(rows) + ") AS p(name, v, d) WHERE t.study_id = :sid", binds)


QUERIES = {
    "nas.progress": "SELECT * FROM nas.progress",
    "nas.leaderboard top 10": "SELECT * FROM nas.leaderboard WHERE study = 'big' AND rank <= 10",
    "nas.trials best 10": "SELECT * FROM nas.trials WHERE study = 'big' ORDER BY value DESC NULLS LAST LIMIT 10",
    "nas.trials one trial": "SELECT * FROM nas.trials WHERE study = 'big' AND number = :number",
    "curve of one trial": "SELECT g.* FROM nas.generations g JOIN nas.trials t ON t.trial_id = g.trial_id "
                          "WHERE t.study = 'big' AND t.number = :number",
    "seed runs per host": "SELECT worker_host, count(*) FROM nas.seed_runs GROUP BY 1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--generations", type=int, default=150)
    args = parse_args(parser, smoke={"trials": 200, "seeds": 2, "generations": 5})
    number = min(1234, args.trials // 2)
    with throwaway_postgres() as url:
        store = Store(url)
        store.upgrade()
        spec = StudySpec(mode="pure", task="cartpole", generations=args.generations,
                         seeds=args.seeds, population=500, budget=args.trials)
        row, _ = store.create_or_resume_study("big", spec)
        engine = engine_for(url)
        started = time.perf_counter()
        params_sql, params_binds = params_fill(spec)
        with engine.begin() as conn:
            for statement in FILL:
                binds = {"sid": row.optuna_study_id, "nid": row.id,
                         "t": args.trials, "s": args.seeds, "g": args.generations}
                if statement is None:
                    statement, binds = params_sql, {**binds, **params_binds}
                conn.execute(sa.text(statement), binds)
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
                    found = conn.execute(sa.text(sql), {"number": number}).all()
                    times.append(1000 * (time.perf_counter() - t0))
                if not found:
                    raise SystemExit(f"views: {name!r} found no rows: the fill does not match the views")
                plan = conn.execute(sa.text("EXPLAIN " + sql), {"number": number}).all()[0][0].strip()
                print(f"{name:26} {statistics.median(times):>10.1f}  {plan[:70]}")


if __name__ == "__main__":
    main()
