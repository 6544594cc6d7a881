"""`nas db ...`: the embedded cluster and schema upgrades."""
from __future__ import annotations

import os

import click

from nas import defaults
from nas.cli.options import STORAGE, connect, resolve
from nas.errors import NasError
from nas.store.embedded import EmbeddedDB
from nas.store.url import explicit_url, for_libpq, mask, normalize, parse, without_password


@click.group("db")
def db() -> None:
    """The database: embedded cluster under $NAS_HOME, or NAS_DATABASE_URL."""


@db.command()
def start() -> None:
    """Start the embedded PostgreSQL cluster (idempotent) and print its URL (masked).

    Example: nas db start"""
    click.echo(mask(EmbeddedDB().start()))


@db.command()
@click.option("--force", is_flag=True, help="stop even while workers are running trials")
def stop(force: bool) -> None:
    """Stop the embedded cluster (fast shutdown).

    Refuses while live workers are mid-trial, naming how many: a fast shutdown pulls
    the database from under those trials, which nas would otherwise lose without a
    word. We refuse rather than stop the workers ourselves: they may run on other
    machines or under a scheduler nas did not start them with. Stop them first (`nas
    workers down`, or SIGTERM: they release their trials cleanly), or pass --force.

    Example: nas db stop"""
    emb = EmbeddedDB()
    if not force and emb.server_pid():
        _refuse_while_trials_run(emb)
    click.echo("stopped" if emb.stop() else "not running")


def _refuse_while_trials_run(emb: EmbeddedDB) -> None:
    """NasError when live workers (heartbeat within the grace) are running trials here."""
    from nas.store import Store

    store = None
    try:
        store = Store(normalize(emb.cluster.url))  # (needs the owner's secret)
        if store.current_revision() is None:
            return  # no nas schema: no workers either
        live = [w for w in store.live_workers(defaults.heartbeat_grace()) if not w["stale"]]
    except NasError as exc:
        raise NasError(f"cannot check for running workers ({exc}); "
                       "`nas db stop --force` stops the database anyway") from None
    finally:
        if store is not None:
            store.dispose()
    busy = [w for w in live if w["state"] in ("busy", "compiling") or w["trial"] is not None]
    if busy:
        raise NasError(
            f"{len(live)} live worker{'s' * (len(live) != 1)} here, {len(busy)} of them running "
            f"a trial ({len(busy)} trial{'s' * (len(busy) != 1)} would be interrupted): stop "
            "the workers first (`nas workers down`), or `nas db stop --force`")


@db.command()
def status() -> None:
    """Say whether the embedded cluster runs, and where.

    Example: nas db status"""
    emb = EmbeddedDB()
    pid = emb.running_pid()
    if pid:
        click.echo(f"running (pid {pid}) at {emb.cluster.masked_url}, data in {emb.cluster.datadir}")
    else:
        click.echo(f"not running (data in {emb.cluster.datadir})")
        raise SystemExit(3)


@db.command()
@STORAGE
def url(storage: str | None) -> None:
    """Print the database URL (starts the embedded cluster if needed).

    For the embedded cluster: the URL without its password, which works as printed in
    psql, Optuna, the optuna CLI and optuna-dashboard once PGPASSFILE names the password
    file this prints to stderr. Any other URL: password masked.

    Example: nas db url"""
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
    """Create or upgrade Optuna's tables and the nas schema (safe to run concurrently).

    Example: nas db upgrade"""
    store = connect(storage)
    store.upgrade()
    click.echo(f"schema at revision {store.current_revision()} on {mask(store.url)}")


@db.command(context_settings={"ignore_unknown_options": True})
@STORAGE
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(storage: str | None, psql_args: tuple[str, ...]) -> None:
    """Open psql on the database (extra arguments go to psql).

    Example: nas db psql -c 'SELECT * FROM nas.progress'"""
    target = parse(resolve(storage))
    env = dict(os.environ)
    if target.password:  # via the environment: argv is visible to every user in `ps`
        env["PGPASSWORD"] = target.password
    bare = for_libpq(without_password(target).render_as_string(hide_password=False))
    os.execvpe("psql", ["psql", bare, *psql_args], env)
