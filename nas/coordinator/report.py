"""`nas report`: one self-contained HTML page (Optuna's plotly figures) plus matplotlib PNGs.

Everything is read from the database, so a report can be made while workers run, from
any machine that reaches it. An empty study, or one whose trials all failed, gets a
clear message instead of a traceback.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from nas.errors import NasError
from nas.store import studies
from nas.store.session import optuna_storage, session_scope

TOP_TRIALS = 5


def make_report(url: str, name: str, out: Path) -> list[Path]:
    import optuna
    from optuna.trial import TrialState

    row = studies.require(url, name)
    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        counts = {s.name: n for s, n in _state_counts(study).items() if n}
        raise NasError(f"study {name!r} has no completed trial to report on yet ({counts or 'no trials'})")
    out.mkdir(parents=True, exist_ok=True)
    files = [_html(study, row, out / f"{name}.html")]
    files.append(_best_so_far_png(complete, out / f"{name}-best-so-far.png"))
    curves = _top_curves(url, row.optuna_study_id)
    if curves:
        files.append(_curves_png(curves, out / f"{name}-curves.png"))
    return files


def _state_counts(study):
    from collections import Counter

    return Counter(t.state for t in study.get_trials(deepcopy=False))


def _html(study, row, path: Path) -> Path:
    from optuna import visualization as vis

    figures = [("Optimization history", vis.plot_optimization_history(study)),
               ("Intermediate values (per generation)", vis.plot_intermediate_values(study))]
    if len(study.get_trials(deepcopy=False)) > 1 and study.best_trial.params:
        figures.append(("Parallel coordinates", vis.plot_parallel_coordinate(study)))
        try:
            figures.append(("Parameter importances", vis.plot_param_importances(study)))
        except (RuntimeError, ValueError) as exc:  # too few trials for importances
            figures.append((f"Parameter importances: not yet ({exc})", None))
    spec = row.spec
    parts = [f"<h1>nas study {row.name}</h1>",
             f"<p>{spec.mode} / {spec.task}: population {spec.population}, {spec.generations} "
             f"generations, {spec.seeds} seeds, budget {spec.budget}. Best value "
             f"{study.best_value:.6g} (trial {study.best_trial.number}).</p>"]
    first = True
    for title, fig in figures:
        parts.append(f"<h2>{title}</h2>")
        if fig is not None:
            parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
            first = False
    path.write_text("<!doctype html><html><head><meta charset='utf-8'>"
                    f"<title>nas {row.name}</title></head><body>{''.join(parts)}</body></html>")
    return path


def _best_so_far_png(complete, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(complete, key=lambda t: t.number)
    best, running = [], float("-inf")
    for t in ordered:
        running = max(running, t.value)
        best.append(running)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter([t.number for t in ordered], [t.value for t in ordered], s=10, alpha=0.5, label="trial")
    ax.step([t.number for t in ordered], best, where="post", color="C3", label="best so far")
    ax.set(xlabel="trial number", ylabel="value", title="Best value so far")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _top_curves(url: str, optuna_study_id: int) -> dict[int, dict[int, list[tuple[float, float]]]]:
    with session_scope(url) as session:
        rows = session.execute(sa.text("""
            WITH top AS (
                SELECT t.trial_id, t.number FROM trials t JOIN trial_values v USING (trial_id)
                WHERE t.study_id = :s AND t.state = 'COMPLETE' ORDER BY v.value DESC LIMIT :k)
            SELECT top.number, g.seed, g.generation, g.best, g.mean
            FROM top JOIN nas.generations g ON g.trial_id = top.trial_id
            ORDER BY top.number, g.seed, g.generation"""), {"s": optuna_study_id, "k": TOP_TRIALS}).all()
    curves: dict[int, dict[int, list]] = {}
    for number, seed, _, best, mean in rows:
        curves.setdefault(number, {}).setdefault(seed, []).append((best, mean))
    return curves


def _curves_png(curves, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (number, seeds) in enumerate(curves.items()):
        length = max(len(c) for c in seeds.values())
        best = np.full((len(seeds), length), np.nan)
        for j, curve in enumerate(seeds.values()):
            best[j, :len(curve)] = [b for b, _ in curve]
            best[j, len(curve):] = curve[-1][0]  # a stopped seed keeps its best
        mean, low, high = best.mean(0), best.min(0), best.max(0)
        ax.plot(mean, color=f"C{i}", label=f"trial {number}")
        ax.fill_between(range(length), low, high, color=f"C{i}", alpha=0.2)
    ax.set(xlabel="generation", ylabel="best fitness (mean, min-max over seeds)",
           title=f"Top {len(curves)} trials: fitness per generation")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
