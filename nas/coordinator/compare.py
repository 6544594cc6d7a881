"""`nas compare`: did the change help? Studies of one metric side by side.

Per study: completed trials, best, median and quartiles of their values, and the best
trial's result per seed (the spread a single best value hides). Against the first study,
each other one gets the probability that one of its trials, drawn at random, beats one of
the first study's (ties count half): the common-language effect size, which needs no
distribution assumption and reads as plain odds.
"""
from __future__ import annotations

from statistics import median, quantiles

from nas.errors import NasError
from nas.numbers import columns, readable
from nas.store import Store


def _better(a: float, b: float, minimize: bool) -> float:
    return 0.5 if a == b else float(a < b if minimize else a > b)


def beats(mine: list[float], theirs: list[float], minimize: bool) -> float:
    """P(a random trial of `mine` beats a random one of `theirs`), ties half."""
    return sum(_better(a, b, minimize) for a in mine for b in theirs) / (len(mine) * len(theirs))


def _seed_cells(seeds: list[dict], metric: str) -> str:
    if metric == "evaluations":
        return " ".join(f"{s['seed']}:{readable(s['solved_evaluations']) if s['solved_evaluations'] is not None else 'unsolved'}"
                        for s in seeds)
    return " ".join(f"{s['seed']}:{readable(s['best_fitness'])}" for s in seeds)


def compare(store: Store, names: list[str]) -> list[str]:
    import optuna

    rows = [store.require_study(n) for n in names]
    kinds = {(r.spec.metric, r.spec.direction) for r in rows}
    if len(kinds) > 1:
        raise NasError("studies measure different things (" + ", ".join(
            f"{r.name}: {r.spec.metric}, {r.spec.direction}" for r in rows) + "): compare like with like")
    minimize = rows[0].spec.direction == "minimize"
    values = {r.name: store.completed_values(r.optuna_study_id) for r in rows}
    empty = [n for n, v in values.items() if not v]
    if empty:
        raise NasError(f"no completed trial yet in {', '.join(map(repr, empty))}")
    metric = rows[0].spec.metric
    table = []
    for r in rows:
        v = values[r.name]
        q1, _, q3 = quantiles(v, n=4) if len(v) > 1 else (v[0], v[0], v[0])
        best = optuna.load_study(study_name=r.name, storage=store.optuna_storage()).best_trial
        seeds = store.seed_table([best._trial_id]).get(best._trial_id, [])
        table.append([r.name, len(v), readable(min(v) if minimize else max(v)), readable(median(v)),
                      f"{readable(q1)}..{readable(q3)}", _seed_cells(seeds, metric) or "-"])
    per_seed = "evaluations to solve" if metric == "evaluations" else metric
    lines = columns(["study", "trials", "best", "median", "q1..q3",
                     f"best trial per seed ({per_seed})"], table, right=(1, 2, 3, 4))
    better = "lower" if minimize else "higher"
    first = rows[0].name
    for r in rows[1:]:
        p = beats(values[r.name], values[first], minimize)
        lines.append(f"{r.name} vs {first}: a random {r.name} trial beats a random {first} trial "
                     f"{p:.0%} of the time ({better} {metric} is better; 50% = no difference)")
    return lines
