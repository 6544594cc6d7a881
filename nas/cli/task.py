"""`nas task check REF`: run nas's Task contract on your own task before a study does."""
from __future__ import annotations

import click


@click.group("task")
def task() -> None:
    """Tasks: your own simulator (package.module:Class) or a Gymnasium env (gym:ENV_ID)."""


@task.command("check")
@click.argument("ref")
@click.option("--rows", type=click.IntRange(min=2), default=8, show_default=True,
              help="episodes per batch in the checks")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="seed of the start states and probe controllers")
def check(ref: str, rows: int, seed: int) -> None:
    """Check REF (what -t takes) against the Task contract: shapes and dtypes, determinism,
    rows dropping out mid-episode, failed episodes staying failed. The same checks are
    importable for your tests: nas.evolution.tasks.contract.check_task(cls).

    Example: nas task check examples.mountain_car:MountainCar"""
    from nas.evolution import catalog
    from nas.evolution.tasks.contract import check_task

    catalog.check_task_name(ref)
    for line in check_task(ref, rows, seed):
        click.echo(f"ok  {line}")
    click.echo(f"{ref}: follows the Task contract")
