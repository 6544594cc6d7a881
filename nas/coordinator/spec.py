"""Study spec flags, shared by `nas search` and `nas study create`, validated up front."""
from __future__ import annotations

import functools

import click

from nas.evolution.catalog import MODES, TASKS
from nas.store.studies import StudySpec

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")


def spec_options(func):
    options = [
        click.option("-m", "--mode", type=click.Choice(MODES), default="pure", show_default=True),
        click.option("-t", "--task", type=click.Choice(TASKS), default="cartpole", show_default=True),
        click.option("-n", "--trials", type=click.IntRange(min=1), default=20, show_default=True,
                     help="trial budget: finished trials the study ends with"),
        click.option("-g", "--generations", type=click.IntRange(min=1), default=20, show_default=True),
        click.option("-s", "--seeds", type=click.IntRange(min=1), default=2, show_default=True),
        click.option("-p", "--population", type=click.IntRange(min=2), default=100, show_default=True),
        click.option("--stagnation-limit", type=click.IntRange(min=1), default=None,
                     help="stop a seed after this many generations without improvement"),
        click.option("--sampler", type=click.Choice(SAMPLERS), default="tpe", show_default=True),
        click.option("--pruner", type=click.Choice(PRUNERS), default="median", show_default=True),
        click.option("--objective", default=None, help="your own objective: package.module:function"),
        click.option("--base-seed", type=click.IntRange(min=0), default=0, show_default=True),
    ]
    return functools.reduce(lambda f, opt: opt(f), reversed(options), func)


def spec_from_options(flags: dict) -> StudySpec:
    return StudySpec(mode=flags.pop("mode"), task=flags.pop("task"),
                     generations=flags.pop("generations"), seeds=flags.pop("seeds"),
                     population=flags.pop("population"), budget=flags.pop("trials"),
                     stagnation_limit=flags.pop("stagnation_limit"), sampler=flags.pop("sampler"),
                     pruner=flags.pop("pruner"), objective=flags.pop("objective"),
                     base_seed=flags.pop("base_seed"))
