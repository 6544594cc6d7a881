"""The report's HTML page: the one file a researcher sends a colleague.

Self-contained (plotly.js and the PNGs are inlined), so it opens offline and survives
being mailed. It leads with what a reader wants first: the best configuration and how
reliably it solved, then the top trials with their per-seed results, then the figures,
then how the study was set up and how long it ran on how many workers.
"""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, fields
from pathlib import Path

from nas.numbers import duration, readable, share

# Fewer completed trials than this and parameter importances are mostly noise: fANOVA
# fits a random forest to the trials, and a forest on a handful of points ranks by chance.
RELIABLE_IMPORTANCES = 20
TOP_TABLE = 10  # rows in the table of top trials

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f3f3f3}.caveat{color:#8a5a00}
code{font-size:.85rem}img{max-width:100%}
"""


@dataclass
class PageData:
    """What the page shows, gathered by `nas.coordinator.report` from the database."""
    name: str
    spec: object  # nas.spec.StudySpec
    direction: str
    complete: list  # optuna FrozenTrials, best first
    counts: dict[str, int]  # trial state -> trials
    seeds: dict[int, list[dict]]  # optuna trial id -> per-seed rows
    workers: tuple[int, int]  # (processes, hosts)
    span_seconds: float | None
    pngs: list[Path]
    interruptions: dict[str, int]  # {"preempted": attempts, "resumed": attempts}
    tie: str | None = None  # nas.coordinator.ties' line when every completed trial tied


def write_page(data: PageData, study, path: Path) -> Path:
    parts = [f"<h1>nas study {_e(data.name)}</h1>", _summary(data), _best_block(data),
             _top_table(data), *_figures(data, study), _spec_table(data)]
    path.write_text("<!doctype html><html><head><meta charset='utf-8'>"
                    f"<title>nas {_e(data.name)}</title><style>{_STYLE}</style></head>"
                    f"<body>{''.join(parts)}</body></html>")
    return path


def _e(value) -> str:
    return html.escape(str(value))


def _summary(data: PageData) -> str:
    spec, (processes, hosts) = data.spec, data.workers
    states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(data.counts.items()) if n)
    better = "lower" if data.direction == "minimize" else "higher"
    return (f"<p>{_e(spec.label)}, value = <b>{_e(spec.metric)}</b> ({better} is better). "
            f"Trials: {_e(states)} (budget {spec.budget}; retried failures are outside it). "
            f"Ran {duration(data.span_seconds)} (first trial start to last finish) on "
            f"{processes} worker process{'es' if processes != 1 else ''} on "
            f"{hosts} host{'s' if hosts != 1 else ''}.{_interrupted(data.interruptions)}</p>"
            + (f"<p class='tie'><b>{_e(data.tie)}</b></p>" if data.tie else ""))


def _interrupted(counts: dict[str, int]) -> str:
    """Interruptions are not failures: say how many attempts were stopped and continued."""
    if not counts.get("preempted") and not counts.get("resumed"):
        return ""
    return (f" Interrupted: {counts.get('preempted', 0)} attempt(s) preempted (stopped on "
            f"request, checkpointed and re-queued), {counts.get('resumed', 0)} resumed from a "
            "checkpoint instead of generation 0.")


def _resumed(trial) -> str:
    """' (resumed from generation G, attempt N)' for a trial that continued a checkpoint."""
    generation = trial.system_attrs.get("nas_resumed_from")
    if generation is None:
        return ""
    attempt = len(trial.system_attrs.get("retry_history", [])) + 1
    return f"<br><small>resumed from generation {generation}, attempt {attempt}</small>"


def _best_block(data: PageData) -> str:
    best = data.complete[0]
    params = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_param(v))}</td></tr>"
                     for k, v in sorted(best.params.items()))
    rate = _rate(best)
    solved = f", solved {rate} of seeds" if rate != "-" else ""
    return (f"<h2>Best configuration</h2><p id='best'>Trial {best.number}: value "
            f"<b>{readable(best.value)}</b>{solved}.</p>"
            f"<table class='best-params'>{params or '<tr><td>(no parameters)</td></tr>'}</table>"
            f"<p>Reproduce its setting in Optuna with <code>study.enqueue_trial("
            f"{_e(json.dumps(best.params))})</code>.</p>")


def _top_table(data: PageData) -> str:
    rows = []
    for rank, t in enumerate(data.complete[:TOP_TABLE], start=1):
        params = "<br>".join(f"{_e(k)}={_e(_param(v))}" for k, v in sorted(t.params.items()))
        rows.append(f"<tr><td>{rank}</td><td>{t.number}{_resumed(t)}</td><td>{readable(t.value)}</td>"
                    f"<td>{_rate(t)}</td><td>{params}</td>"
                    f"<td>{_seed_cells(data.seeds.get(t._trial_id, []))}</td></tr>")
    return ("<h2>Top trials</h2><table class='top'><tr><th>rank</th><th>trial</th><th>value</th>"
            "<th>solved</th><th>parameters</th><th>per seed: best fitness / evaluations "
            "to solve</th></tr>" + "".join(rows) + "</table>")


def _rate(trial) -> str:
    """The share of seeds that solved, as stored with the trial ('-' before nas stored it)."""
    return share(trial.user_attrs.get("success_rate")) or "-"


def _seed_cells(seeds: list[dict]) -> str:
    if not seeds:
        return "-"
    return "<br>".join(
        f"seed {s['seed']}: {readable(s['best_fitness'])} / "
        f"{readable(s['solved_evaluations']) if s['solved_evaluations'] is not None else 'unsolved'}"
        for s in seeds)


def _param(value) -> str:
    return readable(value) if isinstance(value, float) else str(value)


def _figures(data: PageData, study) -> list[str]:
    from optuna import visualization as vis

    figures = [("Optimization history", vis.plot_optimization_history(study), ""),
               ("Intermediate values (per generation)", vis.plot_intermediate_values(study), "")]
    axes = shared_params(data.complete)
    if len(data.complete) > 1 and len(axes) >= 2:
        figures.append(("Parallel coordinates", vis.plot_parallel_coordinate(study, params=axes),
                        f"Parameters every completed trial has ({len(axes)}); conditional ones "
                        "(a third layer's units, NEAT-only settings) are left out."))
    figures.append(_importances(data, study))
    parts, first = [], True
    for title, fig, note in figures:
        parts.append(f"<h2>{_e(title)}</h2>")
        if note:
            parts.append(f"<p class='caveat'>{_e(note)}</p>")
        if fig is not None:
            parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
            first = False
    for png in data.pngs:
        encoded = base64.b64encode(png.read_bytes()).decode()
        parts.append(f"<h2>{_e(png.stem.removeprefix(data.name + '-').replace('-', ' '))}</h2>"
                     f"<img alt='{_e(png.name)}' src='data:image/png;base64,{encoded}'>")
    return parts


def _importances(data: PageData, study):
    import warnings

    from optuna import visualization as vis

    n = len(data.complete)
    if n < 2:
        return ("Parameter importances", None, f"Not computed: {n} completed trial.")
    caveat = (f"Computed from {n} completed trials: fewer than {RELIABLE_IMPORTANCES}, so "
              "the ranking is unreliable (a forest fitted to a few points ranks by chance)."
              if n < RELIABLE_IMPORTANCES else f"Computed from {n} completed trials (fANOVA).")
    shared = shared_params(data.complete)
    if not shared:
        return ("Parameter importances", None, "Not computed: no parameter every trial has.")
    left_out = sorted({p for t in data.complete for p in t.params} - set(shared))
    if left_out:  # drawn only by some trials: an importance for them would be noise
        caveat += f" Conditional parameters left out: {', '.join(left_out)}."
    try:
        with warnings.catch_warnings():  # the caveat goes on the page, not the terminal
            warnings.simplefilter("ignore")
            return ("Parameter importances", vis.plot_param_importances(study, params=shared), caveat)
    except (RuntimeError, ValueError) as exc:
        return ("Parameter importances", None, f"Not computed: {exc}")


def shared_params(trials: list) -> list[str]:
    """Parameters every trial has, in name order. A conditional parameter (the units of a
    third layer, a setting only some algorithms have) is missing from other trials and
    draws as a parallel-coordinate axis full of None."""
    names = set(trials[0].params) if trials else set()
    for t in trials[1:]:
        names &= set(t.params)
    return sorted(names)


def _spec_value(value) -> str:
    return "-" if value is None else str(value)


def _spec_table(data: PageData) -> str:
    rows = "".join(f"<tr><th>{_e(f.name)}</th><td>{_e(_spec_value(getattr(data.spec, f.name)))}"
                   "</td></tr>" for f in fields(data.spec))
    return f"<h2>Study spec</h2><table class='spec'>{rows}</table>"
