"""`nas search`: create or resume the study, run J local workers, show progress from the DB."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import click
from tqdm import tqdm

from nas.coordinator.fleet import Fleet
from nas.coordinator.studies import ensure_study
from nas.errors import NasError
from nas.store import claims
from nas.store.status import Progress, study_progress
from nas.store.session import optuna_storage
from nas.store.studies import StudyRow, StudySpec

POLL_SECONDS = 1.0


def run_search(url: str, name: str, spec: StudySpec, jobs: int, threads: int, logdir: Path) -> int:
    row, created = ensure_study(url, name, spec)
    done = claims.counts(url, row.id).get("done", 0)
    if jobs > 0 and done >= spec.budget:
        raise NasError(f"study {name!r} has already finished its budget of {spec.budget} trials: "
                       "see `nas best`, or start a new study with a larger -n")
    click.echo(f"{'created' if created else 'resumed'} study {name!r}: "
               f"{spec.mode}/{spec.task}, budget {spec.budget} trials")
    if jobs == 0:
        return 0
    fleet = Fleet(url, name, jobs, threads, logdir)
    interrupted = _watch(url, row, fleet)
    codes = fleet.exit_codes()
    _summary(url, row)
    if interrupted:
        click.echo("interrupted: workers stopped, their trials queued for retry", err=True)
        return 130
    if any(code != 0 for code in codes):
        click.echo(f"some workers failed (exit codes {codes}); logs in {logdir}", err=True)
        return 1
    return 0


def _watch(url: str, row: StudyRow, fleet: Fleet) -> bool:
    """Start the fleet and follow it until every worker exits; True if interrupted."""
    stop = {"requested": False}

    def on_signal(signum, frame):
        stop["requested"] = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    fleet.start()
    try:
        with tqdm(total=row.spec.budget, unit="trial", dynamic_ncols=True) as bar:
            while fleet.alive() and not stop["requested"]:
                _update(bar, study_progress(url, row.name))
                time.sleep(POLL_SECONDS)
            if stop["requested"]:
                fleet.stop()
            _update(bar, study_progress(url, row.name))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return stop["requested"]


def _update(bar: tqdm, prog: Progress) -> None:
    bar.n = prog.finished
    best = "-" if prog.best is None else f"{prog.best:.4g}"
    bar.set_postfix_str(f"complete={prog.complete} pruned={prog.pruned} failed={prog.failed} "
                        f"running={prog.running} best={best}", refresh=False)
    bar.refresh()


def _summary(url: str, row: StudyRow) -> None:
    import optuna

    prog = study_progress(url, row.name)
    click.echo(f"finished trials: {prog.finished} of {row.spec.budget} "
               f"(complete {prog.complete}, pruned {prog.pruned}, failed {prog.failed})")
    if prog.best is None:
        click.echo("no completed trial yet")
        return
    best = optuna.load_study(study_name=row.name, storage=optuna_storage(url)).best_trial
    click.echo(f"best value {best.value:.6g} (trial {best.number})")
    for key, value in sorted(best.params.items()):
        click.echo(f"  {key} = {value}")

