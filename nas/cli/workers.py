"""`nas workers up N | ps | down [--via local|supervisor|docker]`."""
from __future__ import annotations

import click

from nas import defaults
from nas.cli.options import STORAGE, THREADS, connect
from nas.coordinator.fleets import FLEETS

VIA = click.option("--via", type=click.Choice(sorted(FLEETS)), default="local", show_default=True)


@click.group("workers")
def workers() -> None:
    """A fleet of workers on this machine."""


@workers.command()
@click.argument("count", type=click.IntRange(min=1))
@VIA
@THREADS
@click.option("--study", "studies", multiple=True, help="serve only these studies")
@click.option("--serve", is_flag=True, help="keep waiting for work (always on for docker)")
@click.option("--image", default=defaults.IMAGE, show_default=True, help="image for --via docker")
@STORAGE
def up(count: int, via: str, threads: int | None, studies: tuple[str, ...], serve: bool,
       image: str, storage: str | None) -> None:
    """Start COUNT workers."""
    from nas.worker.threads import resolve_threads

    store = connect(storage, create=False)
    store.require_current()
    fleet = FLEETS[via](image) if via == "docker" else FLEETS[via]()
    for line in fleet.up(count, store.url, resolve_threads(threads, count), list(studies), serve):
        click.echo(line)


@workers.command()
@VIA
def ps(via: str) -> None:
    """List this machine's workers."""
    lines = FLEETS[via]().ps()
    click.echo("\n".join(lines) if lines else "no workers")


@workers.command()
@VIA
def down(via: str) -> None:
    """Stop this machine's workers gracefully (SIGTERM, then the stop grace)."""
    lines = FLEETS[via]().down()
    click.echo("\n".join(lines) if lines else "no workers")


@workers.command("when-done", hidden=True)
def when_done() -> None:
    """supervisord event listener: shut supervisord down once every worker is done."""
    from nas.coordinator.fleets.when_done import main

    main()
