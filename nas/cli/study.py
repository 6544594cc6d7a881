"""`nas study ...`: create or resume a study from its spec, list, pause, resume, delete."""
from __future__ import annotations

import click

from nas.cli.options import (PRIORITY, STORAGE, connect, given_spec_fields, spec_from_options,
                             spec_options)
from nas.defaults import MAX_INT
from nas.errors import NasError
from nas.numbers import columns, readable


@click.group("study")
def study() -> None:
    """Studies: specs in nas.studies, trials in Optuna's tables."""


@study.command()
@click.argument("name")
@spec_options
@PRIORITY
@STORAGE
def create(name: str, priority: int, storage: str | None, **flags) -> None:
    """Create study NAME, or resume it if it exists with the same spec.

    Example: nas study create deep-001 -m neat -n 200 -g 50 -s 3 -p 300 --priority 10"""
    from nas.coordinator.study_setup import ensure_study

    row, created = ensure_study(connect(storage), name, spec_from_options(flags), priority,
                                given_spec_fields())
    verb = "created" if created else "resumed"
    click.echo(f"{verb} study {row.name!r} (budget {row.spec.budget} trials)")


@study.command()
@click.argument("name")
@click.argument("trials", type=click.IntRange(min=1, max=MAX_INT))
@STORAGE
def budget(name: str, trials: int, storage: str | None) -> None:
    """Set study NAME's budget to TRIALS finished trials: grow a search that looks
    promising, or shrink it to no less than the trials finished or running.

    Example: nas study budget demo 40"""
    row = connect(storage, create=False).set_budget(name, trials)
    click.echo(f"study {row.name!r}: budget {row.spec.budget} trials")


@study.command("list")
@STORAGE
def list_(storage: str | None) -> None:
    """List studies with their spec and progress.

    Example: nas study list"""
    store = connect(storage, create=False)
    rows = store.list_studies()
    if not rows:
        click.echo("no studies")
        return
    table = []
    for row in rows:
        prog = store.study_progress(row.name)
        table.append([row.name, row.spec.label, row.spec.metric, row.spec.budget, prog.finished,
                      readable(prog.best)])
    for line in columns(["name", "runs", "metric", "budget", "done", "best"], table, right=(3, 4, 5)):
        click.echo(line)


@study.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="delete without asking")
@STORAGE
def delete(name: str, yes: bool, storage: str | None) -> None:
    """Delete study NAME: its Optuna study and every nas row of it (claims, results,
    genomes). Workers serving it drop it, running trials included.

    Example: nas study delete demo --yes"""
    store = connect(storage, create=False)
    store.require_study(name)
    prog = store.study_progress(name)
    if not yes and not click.confirm(f"delete study {name!r} with {prog.finished} finished and "
                                     f"{prog.running} running trials?"):
        raise NasError(f"study {name!r} not deleted (answer y, or pass --yes)")
    store.delete_study(name)
    click.echo(f"deleted study {name!r}")


def _pausing(paused: bool, doc: str):
    @click.argument("name")
    @STORAGE
    def command(name: str, storage: str | None) -> None:
        connect(storage, create=False).set_paused(name, paused)
        click.echo(f"{'paused' if paused else 'resumed'} study {name!r}")

    command.__doc__ = doc
    return command


study.command("pause")(_pausing(True, "Stop giving out new trials of NAME (running ones finish)."
                                      "\n\nExample: nas study pause demo"))
study.command("resume")(_pausing(False, "Give out trials of NAME again.\n\nExample: nas study resume demo"))
