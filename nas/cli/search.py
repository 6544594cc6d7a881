"""`nas search`: create or resume a study and run it with local worker processes."""
from __future__ import annotations

import click

from nas.cli.options import (DEVICE, STORAGE, THREADS, connect, given_spec_fields, spec_from_options,
                             spec_options)


@click.command()
@click.argument("name")
@spec_options
@click.option("-j", "--n-jobs", "jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="local worker processes to start (0: only create the study)")
@THREADS
@DEVICE
@STORAGE
def search(name: str, jobs: int, threads: int | None, device: str | None, storage: str | None,
           **flags) -> None:
    """Create or resume study NAME and run it with N-JOBS local worker processes.

    Flags left out when resuming are taken from the stored spec; -n changes the budget.

    Example: nas search demo -m pure -t double-pole -n 12 -g 50 -s 2 -p 100 -j 2"""
    from nas import defaults, paths
    from nas.coordinator.search import run_search
    from nas.spec import check_study_name
    from nas.worker.device import resolve_device

    check_study_name(name)  # before the log directory is built from it
    device = resolve_device(device)  # checked here, passed to the local workers as --device
    spec = spec_from_options(flags)
    count = defaults.resolve_threads(threads, workers=max(1, jobs))
    logdir = paths.logs_dir(name)
    raise SystemExit(run_search(connect(storage), name, spec, jobs, count, logdir, device,
                                given_spec_fields()))
