"""`nas workers up N | ps | down [--via local|supervisor|docker|slurm]`."""
from __future__ import annotations

import click

from nas import defaults
from nas.cli.options import STORAGE, THREADS, connect
from nas.coordinator.fleets import FLEETS, FleetOptions, fleet
from nas.errors import NasError

VIA = click.option("--via", type=click.Choice(sorted(FLEETS)), default="local", show_default=True,
                   help="how the workers run: local processes, supervisord, docker or slurm")


@click.group("workers")
def workers() -> None:
    """A fleet of workers on this machine, or on a Slurm cluster."""


@workers.command()
@click.argument("count", type=click.IntRange(min=1))
@VIA
@THREADS
@click.option("--study", "studies", multiple=True, help="serve only these studies")
@click.option("--serve", is_flag=True, help="keep waiting for work (always on for docker)")
@click.option("--image", default=defaults.IMAGE, show_default=True, help="image for --via docker")
@click.option("--partition", help="Slurm partition (--via slurm)")
@click.option("--time", "time_limit", help="Slurm time limit per worker, e.g. 2-00:00:00 (--via slurm)")
@click.option("--cpus", type=click.IntRange(min=1), help="CPUs per Slurm task = worker threads (--via slurm)")
@STORAGE
def up(count: int, via: str, threads: int | None, studies: tuple[str, ...], serve: bool,
       image: str, partition: str | None, time_limit: str | None, cpus: int | None,
       storage: str | None) -> None:
    """Start COUNT workers (--via slurm: submit a job array of COUNT tasks).

    Example: nas workers up 4 --via supervisor"""
    if via != "slurm" and (partition or time_limit or cpus):
        raise NasError("--partition, --time and --cpus are for --via slurm")
    store = connect(storage, create=False)
    store.require_current()
    if via == "slurm":
        from nas.coordinator.fleets.slurm import cpus_per_task

        cap = cpus_per_task(cpus, threads)
    else:
        cap = defaults.resolve_threads(threads, count)
    options = FleetOptions(image=image, partition=partition, time_limit=time_limit)
    for line in fleet(via, options).up(count, store.url, cap, list(studies), serve):
        click.echo(line)


@workers.command()
@VIA
def ps(via: str) -> None:
    """List this machine's workers.

    Example: nas workers ps --via supervisor"""
    lines = fleet(via).ps()
    click.echo("\n".join(lines) if lines else "no workers")


@workers.command()
@VIA
def down(via: str) -> None:
    """Stop this machine's workers gracefully (SIGTERM, then the stop grace).

    Example: nas workers down --via supervisor"""
    lines = fleet(via).down()
    click.echo("\n".join(lines) if lines else "no workers")


@workers.command("when-done", hidden=True)
def when_done() -> None:
    """supervisord event listener: shut supervisord down once every worker is done."""
    from nas.coordinator.fleets.when_done import main

    main()
