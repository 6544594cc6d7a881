"""`nas status` and `nas best`: the live view and the best trial, from the database."""
from __future__ import annotations

import json
import time

import click

from nas.cli.options import STORAGE, connect
from nas.coordinator.best import best_line, param_lines
from nas.numbers import columns, readable


@click.command()
@click.argument("name", required=False)
@click.option("--watch", is_flag=True, help="refresh in place every --interval seconds")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True,
              help="seconds between refreshes with --watch")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@STORAGE
def status(name: str | None, watch: bool, interval: float, as_json: bool, storage: str | None) -> None:
    """Progress of every study (or NAME) and the live workers.

    Example: nas status demo --watch"""
    from nas.coordinator.status_view import render, snapshot

    store = connect(storage, create=False)
    while True:
        snap = snapshot(store, name)
        text = json.dumps(snap, indent=2) if as_json else render(snap)
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
    """The best trial of study NAME: value, params and per-seed results.

    Example: nas best demo"""
    import optuna

    from nas.errors import NasError

    store = connect(storage, create=False)
    row = store.require_study(name)
    study = optuna.load_study(study_name=name, storage=store.optuna_storage())
    try:
        trial = study.best_trial
    except ValueError:
        raise NasError(f"study {name!r} has no completed trial yet") from None
    click.echo(f"study {name}: {best_line(trial, row.spec)}")
    for line in param_lines(trial.params):
        click.echo(line)
    runs = store.seed_runs(trial._trial_id)
    if runs:  # evaluations run (all generations) beside evaluations to solve (the metric's)
        rows = [[r["seed"], readable(r["best_fitness"]), r["generations"], readable(r["evaluations"]),
                 readable(r["solved_generation"]), readable(r["solved_evaluations"]),
                 readable(r["seconds"])] for r in runs]
        for line in columns(["seed", "best fitness", "generations", "evaluations run",
                             "solved at generation", "evaluations to solve", "seconds"],
                            rows, right=tuple(range(7))):
            click.echo(line)


@click.command()
@click.argument("names", nargs=-1, required=True)
@STORAGE
def compare(names: tuple[str, ...], storage: str | None) -> None:
    """Studies of one metric side by side: spread of their trials, the best trial's
    seeds, and how often one study's trial beats the first's.

    Example: nas compare baseline-001 wider-net-001"""
    from nas.coordinator.compare import compare as lines_of

    for line in lines_of(connect(storage, create=False), list(names)):
        click.echo(line)
