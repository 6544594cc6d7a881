"""`nas report` and `nas replay`: pictures of a study and of its best networks."""
from __future__ import annotations

from pathlib import Path

import click

from nas.cli.options import STORAGE, connect


@click.command()
@click.argument("name")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True)
@STORAGE
def report(name: str, out_dir: Path, storage: str | None) -> None:
    """An HTML report (Optuna's figures) and PNG curves for study NAME."""
    from nas.coordinator.report import make_report

    for path in make_report(connect(storage, create=False), name, out_dir):
        click.echo(str(path))


@click.command()
@click.argument("name")
@click.option("--trial", type=click.IntRange(min=0), default=None, help="trial number (default: best)")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="seed (default: its best)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="FILE.gif (animation) or FILE.png (filmstrip)")
@STORAGE
def replay(name: str, trial: int | None, seed: int | None, out: Path, storage: str | None) -> None:
    """Rebuild a stored best genome and render an episode of its task."""
    from nas.coordinator.replay import draw_topology, episode, load_genome, render
    from nas.errors import NasError

    if out.suffix not in (".gif", ".png"):
        raise NasError(f"--out must end in .gif or .png, got {out.name!r}")
    if not out.absolute().parent.is_dir():
        raise NasError(f"--out {out}: the directory {out.absolute().parent} does not exist")
    store = connect(storage, create=False)
    genome, number, seed = load_genome(store, name, trial, seed)
    task, states, forces, steps = episode(store.require_study(name).spec.task, genome, seed)
    try:
        render(task, states, forces, out)
    except OSError as exc:
        raise NasError(f"cannot write {out}: {exc.strerror}") from None
    limit = " (the task's limit)" if steps >= task.max_steps else ""
    click.echo(f"{out}: trial {number}, seed {seed}: an episode of {steps:,} steps{limit}, "
               f"the first {len(forces):,} drawn")
    if genome.get("kind") == "neat":
        topology = out.with_name(f"{out.stem}-topology.png")
        draw_topology(genome["genome"], topology)
        click.echo(f"{topology}: the network")
