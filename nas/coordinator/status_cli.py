"""`nas status` and `nas best`: the live view and the best trial, from the database."""
from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import time

import click

from nas.coordinator.storage import STORAGE, resolve



def _plain(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _snapshot(url: str, name: str | None) -> dict:
    from nas.store import status

    stale = float(os.environ.get("NAS_HEARTBEAT_GRACE", "60"))
    studies = status.progress(url, name)
    if name and not studies:
        from nas.errors import NasError

        raise NasError(f"no study named {name!r} in this database")
    return {"studies": [{k: _plain(v) for k, v in s.items()} for s in studies],
            "workers": [{k: _plain(v) for k, v in w.items()} for w in status.live_workers(url, stale)]}


def _render(snap: dict) -> str:
    lines = [f"{'study':20} {'mode':5} {'task':14} {'done':>9} {'run':>4} {'wait':>4} {'pruned':>6} "
             f"{'failed':>6} {'best':>10} {'trials/h':>9} {'eta':>10}"]
    for s in snap["studies"]:
        best = "-" if s["best"] is None else f"{s['best']:.4g}"
        rate = "-" if s["trials_per_hour"] is None else f"{s['trials_per_hour']:.1f}"
        eta = "-" if s["eta"] is None else str(dt.timedelta(seconds=round(s["eta"])))
        pause = " (paused)" if s["paused"] else ""
        lines.append(f"{s['study'][:20]:20} {s['mode']:5} {s['task'][:14]:14} "
                     f"{s['finished']:>4}/{s['budget']:<4} {s['running']:>4} {s['waiting']:>4} "
                     f"{s['pruned']:>6} {s['failed']:>6} {best:>10} {rate:>9} {eta:>10}{pause}")
    lines.append("")
    lines.append(f"workers: {len(snap['workers'])}")
    for w in snap["workers"]:
        mark = "  STALE" if w["stale"] else ""
        doing = f"{w['study']} #{w['trial']}" if w["study"] else "idle"
        lines.append(f"  {w['host']}:{w['pid']:<7} threads={w['threads']} seen {w['seen_seconds_ago']:.0f}s "
                     f"ago  {doing}{mark}")
    return "\n".join(lines)


@click.command()
@click.argument("name", required=False)
@click.option("--watch", is_flag=True, help="refresh in place every --interval seconds")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@STORAGE
def status(name: str | None, watch: bool, interval: float, as_json: bool, storage: str | None) -> None:
    """Progress of every study (or NAME) and the live workers."""
    url = resolve(storage)
    while True:
        snap = _snapshot(url, name)
        text = json.dumps(snap, indent=2) if as_json else _render(snap)
        if watch:
            click.clear()
        click.echo(text)
        if not watch:
            return
        time.sleep(interval)


@click.command()
@click.argument("name")
@STORAGE
def best(name: str, storage: str | None) -> None:
    """The best trial of study NAME: value, params and per-seed results."""
    import optuna

    from nas.errors import NasError
    from nas.store import results, studies
    from nas.store.session import optuna_storage

    url = resolve(storage)
    studies.require(url, name)
    study = optuna.load_study(study_name=name, storage=optuna_storage(url))
    try:
        trial = study.best_trial
    except ValueError:
        raise NasError(f"study {name!r} has no completed trial yet") from None
    click.echo(f"study {name}: best trial {trial.number}, value {trial.value:.6g}")
    for key, value in sorted(trial.params.items()):
        click.echo(f"  {key} = {value}")
    runs = results.seed_runs(url, trial._trial_id)
    if runs:
        click.echo(f"{'seed':>6} {'best':>10} {'gens':>5} {'evals':>9} {'solved@gen':>10} {'seconds':>8}")
        for r in runs:
            solved = "-" if r["solved_generation"] is None else r["solved_generation"]
            click.echo(f"{r['seed']:>6} {r['best_fitness']:>10.4g} {r['generations']:>5} "
                       f"{r['evaluations']:>9} {solved:>10} {r['seconds']:>8.2f}")
