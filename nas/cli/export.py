"""`nas export`: a study's trials as CSV, JSON or Parquet (nas.coordinator.export)."""
from __future__ import annotations

from pathlib import Path

import click

from nas.cli.options import STORAGE, connect


@click.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(("csv", "json", "parquet")), default="csv",
              show_default=True, help="csv and json go to stdout without --out")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="file to write (default: stdout)")
@STORAGE
def export(name: str, fmt: str, out: Path | None, storage: str | None) -> None:
    """Study NAME's trials, one row each: value, params_<name>, seed<k>_<result>.

    Example: nas export demo --out demo.csv   (then pandas.read_csv("demo.csv"))"""
    from nas.coordinator.export import export as write

    text = write(connect(storage, create=False), name, fmt, out)
    if text is not None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        click.echo(f"{out}: study {name!r}", err=True)
