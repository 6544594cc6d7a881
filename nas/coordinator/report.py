"""`nas report`: one self-contained HTML page (Optuna's plotly figures) plus matplotlib PNGs.

Everything is read from the database, so a report can be made while workers run, from
any machine that reaches it. An empty study, or one whose trials all failed, gets a
clear message instead of a traceback.
"""
from __future__ import annotations

from pathlib import Path

from nas.errors import NasError
from nas.store import Store

TOP_TRIALS = 5


def make_report(store: Store, name: str, out: Path) -> list[Path]:
    import optuna
    from optuna.trial import TrialState

    row = store.require_study(name)
    study = optuna.load_study(study_name=name, storage=store.optuna_storage())
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        counts = {s.name: n for s, n in _state_counts(study).items() if n}
        raise NasError(f"study {name!r} has no completed trial to report on yet ({counts or 'no trials'})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NasError(f"cannot write the report to {out}: {exc.strerror}") from None
    files = [_html(study, row, out / f"{name}.html")]
    minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
    files.append(_best_so_far_png(complete, out / f"{name}-best-so-far.png", minimize,
                                  row.spec.metric))
    curves = store.top_curves(row.optuna_study_id, TOP_TRIALS)
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


def _best_so_far_png(complete, path: Path, minimize: bool, metric: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(complete, key=lambda t: t.number)
    better = min if minimize else max
    best, running = [], ordered[0].value
    for t in ordered:
        running = better(running, t.value)
        best.append(running)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter([t.number for t in ordered], [t.value for t in ordered], s=10, alpha=0.5, label="trial")
    ax.step([t.number for t in ordered], best, where="post", color="C3", label="best so far")
    ax.set(xlabel="trial number", ylabel=f"value ({metric}, {'lower' if minimize else 'higher'} is better)",
           title="Best value so far")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
