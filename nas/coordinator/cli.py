"""The `nas` command. Heavy imports (torch, optuna) happen inside commands, never at
import time: `nas worker` must set its thread caps before torch is loaded."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from nas.coordinator.db_cli import db
from nas.coordinator.spec import spec_from_options, spec_options
from nas.coordinator.storage import STORAGE, resolve
from nas.coordinator.report_cli import replay, report
from nas.coordinator.status_cli import best, status
from nas.coordinator.study_cli import study
from nas.coordinator.workers_cli import workers
from nas.errors import NasError
from nas.store.url import mask_text


@click.group()
@click.version_option(package_name="nas")
def cli() -> None:
    """Distributed neuroevolution architecture search on Optuna and PostgreSQL."""


cli.add_command(db)
cli.add_command(study)
cli.add_command(status)
cli.add_command(best)
cli.add_command(workers)
cli.add_command(report)
cli.add_command(replay)


@cli.command()
@click.option("--study", "study_names", multiple=True, help="serve only these studies (repeatable)")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads (default: NAS_THREADS, else cores)")
@click.option("--max-trials", type=click.IntRange(min=1), default=None,
              help="exit after this many finished trials")
@click.option("--serve", is_flag=True, help="wait for new studies instead of exiting when idle")
@click.option("--device", default=None, help="torch device: cpu (default: NAS_DEVICE, else cpu), cuda, cuda:N")
@STORAGE
def worker(study_names: tuple[str, ...], threads: int | None, max_trials: int | None,
           serve: bool, device: str | None, storage: str | None) -> None:
    """Claim and run trials until no budget is left, then exit 0."""
    from nas.worker.threads import cap_threads, resolve_threads

    count = resolve_threads(threads)
    cap_threads(count)  # before anything imports torch or numpy
    from nas.worker.device import resolve_device
    from nas.worker.loop import Worker

    resolve_device(device)

    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s nas-worker[{os.getpid()}] %(message)s")
    raise SystemExit(Worker(resolve(storage), list(study_names), count, max_trials, serve).work())


@cli.command("health")
@click.option("--max-age", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="seconds since the worker's last successful heartbeat")
def health(max_age: float) -> None:
    """Exit 0 if this container's worker reached the database recently (healthcheck)."""
    from nas.worker.heartbeat import healthy

    if not healthy(max_age):
        raise NasError(f"no worker heartbeat within {max_age:.0f}s (NAS_HEALTH_FILE)")
    click.echo("healthy")


@cli.command()
@click.argument("name")
@spec_options
@click.option("-j", "--n-jobs", "jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="local worker processes to start (0: only create the study)")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads per worker (default: cores // n-jobs, at least 1)")
@click.option("--device", default=None, help="torch device for the workers (cpu, cuda, cuda:N)")
@STORAGE
def search(name: str, jobs: int, threads: int | None, device: str | None, storage: str | None,
           **flags) -> None:
    """Create or resume study NAME and run it with N-JOBS local worker processes."""
    from nas.coordinator.search import run_search
    from nas.worker.device import resolve_device
    from nas.worker.threads import resolve_threads

    resolve_device(device)  # sets NAS_DEVICE, which the local workers inherit

    spec = spec_from_options(flags)
    count = resolve_threads(threads, workers=max(1, jobs))
    home = Path(os.environ.get("NAS_HOME") or ".nas")
    raise SystemExit(run_search(resolve(storage), name, spec, jobs, count, home / "logs" / name))


def main() -> None:
    """Entry point: user-facing failures become one line on stderr and a non-zero exit."""
    try:
        cli.main(standalone_mode=False)
    except NasError as exc:
        _fail(str(exc), 1)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {mask_text(message)}", err=True)
    sys.exit(code)
