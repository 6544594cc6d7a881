"""`nas search`: create or resume the study, run J local workers, show progress from the DB."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import click
from tqdm import tqdm

from nas.coordinator.best import best_line, param_lines
from nas.coordinator.fleets import SearchFleet
from nas.coordinator.study_setup import ensure_study
from nas.coordinator.ties import tie_line, tied
from nas.errors import NasError
from nas.numbers import duration, readable
from nas.spec import StudySpec
from nas.store import Store
from nas.store.status import Progress
from nas.store.studies import StudyRow

POLL_SECONDS = 1.0


def run_search(store: Store, name: str, spec: StudySpec, jobs: int, threads: int,
               logdir: Path, device: str | None = None,
               given: frozenset[str] | None = None) -> int:
    row, created = ensure_study(store, name, spec, given=given)
    spec = row.spec  # on resume: the stored spec, with the budget the user may have grown
    done = store.claim_counts(row.id).get("done", 0)
    if jobs > 0 and row.paused:
        raise NasError(f"study {name!r} is paused: {row.paused_reason}" if row.paused_reason
                       else f"study {name!r} is paused: `nas study resume {name}` to run it")
    if jobs > 0 and done >= spec.budget:
        click.echo(f"study {name!r} has already finished its budget of {spec.budget} trials "
                   "(a new name or a larger -n runs more):")
        _summary(store, row)
        return 0
    click.echo(f"{'created' if created else 'resumed'} study {name!r}: "
               f"{spec.label}, budget {spec.budget} trials")
    if jobs == 0:
        return 0
    fleet = SearchFleet(store.url, name, jobs, threads, logdir, device)
    interrupted = _watch(store, row, fleet, _will_compile(spec, device))
    codes = fleet.exit_codes()
    _summary(store, row)
    now = store.study(name)
    if now is None:
        click.echo(f"study {name!r} was deleted while it ran", err=True)
        return 1
    if now.paused_reason:
        click.echo(f"study {name!r} paused: {now.paused_reason}", err=True)
        return 1
    if interrupted:
        click.echo("interrupted: the workers stopped at a generation boundary, their trials "
                   f"checkpointed and queued to continue; continue with: nas search {name} -j {jobs}",
                   err=True)
        return 130
    if any(code != 0 for code in codes):
        click.echo(f"some workers failed (exit codes {codes}); logs in {logdir}", err=True)
        return 1
    return 0


def _will_compile(spec: StudySpec, device: str | None) -> bool:
    """Whether the workers' first trial waits for the kernels to compile."""
    from nas import defaults
    from nas.evolution.kernels.warm import compiles_first

    return compiles_first(spec.task, spec.objective, defaults.engine(), device)


def _watch(store: Store, row: StudyRow, fleet: SearchFleet, compiling: bool = False) -> bool:
    """Start the fleet and follow it until every worker exits; True if interrupted.

    The bar counts generations (every seed's, of every trial in the budget), so it moves
    inside long trials; the trial counts sit beside it. While the kernels compile it says
    so, and shows no ETA until a trial has finished (the wait would skew the rate)."""
    stop = {"requested": False}

    def on_signal(signum, frame):
        stop["requested"] = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    fleet.start()
    spec = row.spec
    try:
        with tqdm(total=spec.budget * spec.generations * spec.seeds, unit="gen",
                  dynamic_ncols=True, bar_format=BAR) as bar:
            while fleet.alive() and not stop["requested"]:
                _update(bar, store.study_progress(row.name), spec.budget, compiling)
                time.sleep(POLL_SECONDS)
            if stop["requested"]:
                fleet.stop()
            _update(bar, store.study_progress(row.name), spec.budget, compiling)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return stop["requested"]


# tqdm's own remaining-time guess is left out: the ETA is nas.progress's, shown when known.
BAR = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def _update(bar: tqdm, prog: Progress, budget: int, compiled_first: bool = False) -> None:
    """`compiled_first`: the workers compiled the kernels before their first generation."""
    bar.n = prog.generations_done
    waiting = compiled_first and prog.generations_done == 0
    if waiting:
        from nas.evolution.kernels.warm import COMPILING
    bar.set_description_str(COMPILING + " " if waiting else "", refresh=False)
    eta = "-" if prog.eta is None or compiled_first and prog.finished == 0 \
        else duration(prog.eta.total_seconds())
    bar.set_postfix_str(f"trials {prog.finished}/{budget} running={prog.running} "
                        f"best={readable(prog.best)} eta={eta}", refresh=False)
    bar.refresh()


def budget_line(prog: Progress, budget: int) -> str:
    """The budget rule in words: retried failures are attempts, not finished trials."""
    line = (f"finished {prog.finished} of {budget} trials ({prog.complete} complete, "
            f"{prog.pruned} pruned, {prog.counted_failures} failed)")
    if prog.retried:
        many = prog.retried > 1
        line += (f"; {prog.retried} more failed attempt{'s were' if many else ' was'} retried "
                 f"and {'do' if many else 'does'} not count toward the budget")
    return line


def _summary(store: Store, row: StudyRow) -> None:
    import optuna

    prog = store.study_progress(row.name)
    click.echo(budget_line(prog, row.spec.budget))
    if prog.best is None:
        click.echo("no completed trial yet")
        return
    values = store.completed_values(row.optuna_study_id)
    best = optuna.load_study(study_name=row.name, storage=store.optuna_storage()).best_trial
    click.echo(best_line(best, row.spec))
    click.echo(spread_line(values))
    if tied(values):
        click.echo(tie_line(row.name, len(values), values[0], row.spec))
    for line in param_lines(best.params):
        click.echo(line)


def spread_line(values: list[float]) -> str:
    """Best, median and worst of the completed trials: does the search tell them apart?"""
    ordered = sorted(values)
    median = ordered[len(ordered) // 2] if len(ordered) % 2 else \
        (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    return (f"spread over {len(values)} completed trials: min {readable(ordered[0])}, "
            f"median {readable(median)}, max {readable(ordered[-1])}, "
            f"{len(set(values))} distinct values")
