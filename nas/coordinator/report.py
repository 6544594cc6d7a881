"""`nas report`: one self-contained HTML page (nas.coordinator.report_page) plus the
matplotlib PNGs it inlines.

Everything is read from the database, so a report can be made while workers run, from
any machine that reaches it. An empty study, or one whose trials all failed, gets a
clear message instead of a traceback.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from nas.coordinator.report_page import TOP_TABLE, PageData, write_page
from nas.coordinator.ties import tie_line, tied
from nas.errors import NasError
from nas.store import Store

TOP_TRIALS = 5  # curves drawn


def make_report(store: Store, name: str, out: Path) -> list[Path]:
    import optuna
    from optuna.trial import TrialState

    row = store.require_study(name)
    study = optuna.load_study(study_name=name, storage=store.optuna_storage())
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    counts = Counter(t.state.name for t in trials)
    if not complete:
        raise NasError(f"study {name!r} has no completed trial to report on yet "
                       f"({dict(counts) or 'no trials'})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NasError(f"cannot write the report to {out}: {exc.strerror}") from None
    minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
    pngs = [_best_so_far_png(complete, out / f"{name}-best-so-far.png", minimize, row.spec.metric)]
    curves = store.top_curves(row.optuna_study_id, TOP_TRIALS)
    if curves:
        pngs.append(_curves_png(curves, out / f"{name}-curves.png"))
    ranked = sorted(complete, key=lambda t: t.value if minimize else -t.value)
    data = PageData(name=name, spec=row.spec, direction="minimize" if minimize else "maximize",
                    complete=ranked, counts=dict(counts),
                    seeds=store.seed_table([t._trial_id for t in ranked[:TOP_TABLE]]),
                    workers=store.study_workers(row.id), span_seconds=_span(trials), pngs=pngs,
                    interruptions=store.interruptions(name).get(name, {}),
                    tie=_tie(name, [t.value for t in complete], row.spec))
    return [write_page(data, study, out / f"{name}.html"), *pngs]


def _tie(name: str, values: list[float], spec) -> str | None:
    return tie_line(name, len(values), values[0], spec) if tied(values) else None


def _span(trials) -> float | None:
    """Seconds from the first trial's start to the last one's finish."""
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else None


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
    values = [b for seeds in curves.values() for c in seeds.values() for b, _ in c]
    if _spans_decades(values):  # steps survived from 10 to 100,000: linear shows only the top
        ax.set_yscale("log")
        ax.set_ylabel("best fitness, log scale (mean, min-max over seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _spans_decades(values: list[float], decades: float = 2.0) -> bool:
    """Positive values whose largest is over 10**decades times the smallest."""
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10 ** decades
