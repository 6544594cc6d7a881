"""The `nas` command: thin click modules, one per command group, over the library.

Heavy imports (torch, optuna) happen inside commands, never at import time: `nas worker`
must set its thread caps before torch is loaded.
"""
from __future__ import annotations

import sys

import click

from nas.cli.db import db
from nas.cli.export import export
from nas.cli.pictures import replay, report
from nas.cli.search import search
from nas.cli.status import best, compare, status
from nas.cli.study import study
from nas.cli.task import task
from nas.cli.worker import health, worker
from nas.cli.workers import workers
from nas.defaults import check_settings
from nas.errors import NasError
from nas.store.url import mask_text


@click.group()
@click.version_option(package_name="nas")
def cli() -> None:
    """Distributed neuroevolution architecture search on Optuna and PostgreSQL."""


for command in (db, study, search, status, best, compare, export, worker, workers, health, report, replay,
                task):
    cli.add_command(command)


def main() -> None:
    """Entry point: user-facing failures become one line on stderr and a non-zero exit."""
    try:
        check_settings()
        cli.main(standalone_mode=False)
    except NasError as exc:
        _fail(str(exc), 1)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except KeyError as exc:
        if exc.args != ("Record does not exist.",):
            raise
        _fail("the study was deleted (by nas or Optuna's own tools) while this command ran", 1)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {mask_text(message)}", err=True)
    sys.exit(code)
