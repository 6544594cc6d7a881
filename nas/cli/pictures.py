"""`nas report` and `nas replay`: pictures of a study and of its best networks."""
from __future__ import annotations

from pathlib import Path

import click

from nas.cli.options import STORAGE, connect
from nas.defaults import MAX_INT


@click.command()
@click.argument("name")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True,
              help="directory for the HTML page and its PNGs")
@STORAGE
def report(name: str, out_dir: Path, storage: str | None) -> None:
    """An HTML report (Optuna's figures) and PNG curves for study NAME.

    Example: nas report demo --out reports/"""
    from nas.coordinator.report import make_report

    for path in make_report(connect(storage, create=False), name, out_dir):
        click.echo(str(path))


@click.command()
@click.argument("name")
@click.option("--trial", type=click.IntRange(min=0, max=MAX_INT), default=None, help="trial number (default: best)")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_INT), default=None, help="seed (default: its best)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="FILE.gif (animation) or FILE.png (filmstrip)")
@STORAGE
def replay(name: str, trial: int | None, seed: int | None, out: Path, storage: str | None) -> None:
    """Rebuild a stored best genome and render an episode of its task.

    Example: nas replay demo --out ep.gif"""
    from nas.coordinator.replay import replay as draw_replay
    from nas.errors import NasError

    if out.suffix not in (".gif", ".png"):
        raise NasError(f"--out must end in .gif or .png, got {out.name!r}")
    if not out.absolute().parent.is_dir():
        raise NasError(f"--out {out}: the directory {out.absolute().parent} does not exist")
    for line in draw_replay(connect(storage, create=False), name, trial, seed, out):
        click.echo(line)
