"""`nas db ...`: the embedded cluster and schema upgrades."""
from __future__ import annotations

import os

import click

from nas.cli.options import STORAGE, connect, resolve
from nas.store.embedded import EmbeddedDB
from nas.store.url import explicit_url, for_libpq, mask, parse, without_password


@click.group("db")
def db() -> None:
    """The database: embedded cluster under $NAS_HOME, or NAS_DATABASE_URL."""


@db.command()
def start() -> None:
    """Start the embedded PostgreSQL cluster (idempotent) and print its URL (masked)."""
    click.echo(mask(EmbeddedDB().start()))


@db.command()
def stop() -> None:
    """Stop the embedded cluster (fast shutdown)."""
    click.echo("stopped" if EmbeddedDB().stop() else "not running")


@db.command()
def status() -> None:
    """Say whether the embedded cluster runs, and where."""
    emb = EmbeddedDB()
    pid = emb.running_pid()
    if pid:
        click.echo(f"running (pid {pid}) at {emb.cluster.url}, data in {emb.cluster.datadir}")
    else:
        click.echo(f"not running (data in {emb.cluster.datadir})")
        raise SystemExit(3)


@db.command()
@STORAGE
def url(storage: str | None) -> None:
    """Print the database URL (starts the embedded cluster if needed).

    For the embedded cluster: the URL without its password, which works as printed in
    psql, Optuna, the optuna CLI and optuna-dashboard once PGPASSFILE names the password
    file this prints to stderr. Any other URL: password masked."""
    target = resolve(storage)
    emb = EmbeddedDB()
    if explicit_url(storage) is None and emb.cluster.secrets is not None:
        click.echo(for_libpq(without_password(parse(target)).render_as_string(hide_password=False)))
        click.echo(f"password: export PGPASSFILE={emb.cluster.secrets.pgpass}", err=True)
        return
    click.echo(mask(target))


@db.command()
@STORAGE
def upgrade(storage: str | None) -> None:
    """Create or upgrade Optuna's tables and the nas schema (safe to run concurrently)."""
    store = connect(storage)
    store.upgrade()
    click.echo(f"schema at revision {store.current_revision()} on {mask(store.url)}")


@db.command(context_settings={"ignore_unknown_options": True})
@STORAGE
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(storage: str | None, psql_args: tuple[str, ...]) -> None:
    """Open psql on the database (extra arguments go to psql)."""
    target = parse(resolve(storage))
    env = dict(os.environ)
    if target.password:  # via the environment: argv is visible to every user in `ps`
        env["PGPASSWORD"] = target.password
    bare = for_libpq(without_password(target).render_as_string(hide_password=False))
    os.execvpe("psql", ["psql", bare, *psql_args], env)
