"""`nas worker` (claim and run trials) and `nas health` (the container healthcheck).

Nothing heavy is imported before `cap_threads`: torch must load after the caps are set.
"""
from __future__ import annotations

import logging
import os
import sys

import click

from nas.cli.options import DEVICE, STORAGE, THREADS, connect
from nas.defaults import MAX_INT
from nas.errors import NasError


@click.command()
@click.option("--study", "study_names", multiple=True, help="serve only these studies (repeatable)")
@THREADS
@click.option("--max-trials", type=click.IntRange(min=1, max=MAX_INT), default=None,
              help="exit after this many finished trials")
@click.option("--serve", is_flag=True, help="wait for new studies instead of exiting when idle")
@DEVICE
@STORAGE
def worker(study_names: tuple[str, ...], threads: int | None, max_trials: int | None,
           serve: bool, device: str | None, storage: str | None) -> None:
    """Claim and run trials until no budget is left, then exit 0.

    Example: nas worker --study demo --threads 2"""
    from nas.worker.stop import install_handlers

    install_handlers()  # first: a stop during the imports below is honoured, not fatal
    from nas.defaults import resolve_threads
    from nas.worker.threads import cap_threads

    count = resolve_threads(threads)
    cap_threads(count)  # before anything imports torch or numpy
    from nas.worker.device import resolve_device
    from nas.worker.loop import Worker
    from nas.worker.settings import WorkerSettings

    settings = WorkerSettings.resolve(count, resolve_device(device))

    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s nas-worker[{os.getpid()}] %(message)s")
    store = connect(storage, create=False)
    raise SystemExit(Worker(store, list(study_names), settings, max_trials, serve).work())


@click.command("health")
@click.option("--max-age", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="seconds since the worker's last successful heartbeat")
def health(max_age: float) -> None:
    """Exit 0 if this container's worker reached the database recently (healthcheck).

    Example: nas health --max-age 600"""
    from nas.worker.heartbeat import healthy

    if not healthy(max_age):
        raise NasError(f"no worker heartbeat within {max_age:.0f}s (NAS_HEALTH_FILE)")
    click.echo("healthy")
