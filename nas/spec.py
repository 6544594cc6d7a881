"""The study spec: the experiment's identity, shared by the CLI, the store and the worker.

`StudySpec`'s fields are the one definition: the `nas.studies` columns, the CLI's flags
(each field's metadata names its flag and help) and the comparison that refuses to resume
a study with a different spec are all derived from them. Sampler and pruner names map to
their builders here, the one registry of each (Optuna is imported only when one is built).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from nas.errors import NasError
from nas.evolution import catalog
from nas.evolution.catalog import MODES
from nas.evolution.metrics import METRICS


def _tpe():
    import optuna

    return optuna.samplers.TPESampler()


def _random():
    import optuna

    return optuna.samplers.RandomSampler()


def _median():
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)


def _hyperband():
    import optuna

    return optuna.pruners.HyperbandPruner()


def _no_pruner():
    import optuna

    return optuna.pruners.NopPruner()


SAMPLERS: dict[str, Callable[[], Any]] = {"tpe": _tpe, "random": _random}
PRUNERS: dict[str, Callable[[], Any]] = {"median": _median, "hyperband": _hyperband,
                                         "none": _no_pruner}


NAME_RULE = "1-128 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_study_name(name: str) -> str:
    """Study names become log directories and table cells: checked once, at creation,
    so no path is ever built from a name that could leave $NAS_HOME or break a table."""
    if not _NAME.fullmatch(name):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise NasError(f"invalid study name {shown!r}: use {NAME_RULE}")
    return name


def _has_target(task: str) -> bool:
    """Whether the task can be solved: a built-in one from the catalog (no torch); a gym:
    or module:Class one is resolved by nas.evolution.tasks (torch, gymnasium or your module)."""
    if catalog.is_builtin(task):
        return True
    from nas.evolution.tasks import has_target

    return has_target(task)


def _flag(*names: str, help: str | None = None, choices=None, minimum: int | None = None,
          kind: type = int, multiple: bool = False):
    """Metadata for a spec field: how the CLI spells it (see `nas.cli.options`); a
    `multiple` flag may be repeated, its values joined into the field's one string."""
    return {"flags": names, "help": help, "choices": choices, "minimum": minimum, "kind": kind,
            "multiple": multiple}


_ENTRY = re.compile(r"([A-Za-z_]\w*)=(\S+)")


def narrowing(given, flag: str) -> str:
    """--fix / --range values as the spec keeps them: `NAME=VALUE` entries sorted by name,
    space-separated (the flags give a tuple, the database the string). The form only: what
    the names and values mean is checked against the mode's space (nas.worker.narrow)."""
    items = given.split() if isinstance(given, str) else list(given or ())
    seen: dict[str, str] = {}
    for item in items:
        match = _ENTRY.fullmatch(str(item).strip())
        if not match:
            raise NasError(f"{flag} {item!r}: expected NAME=VALUE (a space parameter's name, "
                           "a value without spaces)")
        if match[1] in seen:
            raise NasError(f"{flag} {match[1]} given twice")
        seen[match[1]] = match[0]
    return " ".join(seen[name] for name in sorted(seen))


def entries(text: str) -> dict[str, str]:
    """{name: value} of a `narrowing` string."""
    return dict(item.split("=", 1) for item in text.split())


@dataclass(frozen=True)
class StudySpec:
    mode: str = field(default="pure", metadata=_flag(
        "-m", "--mode", choices=MODES, kind=str,
        help="pure: fixed topologies (GA, CoSyNE or CMA-ES), architecture searched; neat: NEAT"))
    task: str = field(default="double-pole", metadata=_flag(
        "-t", "--task", kind=str,
        help=f"{', '.join(catalog.TASKS)}; gym:ENV_ID (a Gymnasium environment); or "
             "package.module:Class (your own nas Task)"))
    budget: int = field(default=20, metadata=_flag(
        "-n", "--trials", minimum=1, help="trial budget: finished trials the study ends with"))
    generations: int = field(default=20, metadata=_flag(
        "-g", "--generations", minimum=1, help="generations each seed evolves"))
    seeds: int = field(default=2, metadata=_flag(
        "-s", "--seeds", minimum=1,
        help="independent evolution runs per trial; the metric averages over them"))
    population: int = field(default=100, metadata=_flag(
        "-p", "--population", minimum=2, help="genomes per generation"))
    stagnation_limit: int | None = field(default=None, metadata=_flag(
        "--stagnation-limit", minimum=1,
        help="stop a seed after this many generations without improvement"))
    sampler: str = field(default="tpe", metadata=_flag(
        "--sampler", choices=tuple(SAMPLERS), kind=str,
        help="Optuna sampler that picks each trial's params"))
    pruner: str = field(default="median", metadata=_flag(
        "--pruner", choices=tuple(PRUNERS), kind=str,
        help="Optuna pruner: median and hyperband stop trials whose per-generation values "
             "trail other trials'; none runs every trial to the end"))
    metric: str | None = field(default=None, metadata=_flag(
        "--metric", choices=tuple(METRICS), kind=str,
        help="what a trial's value measures (default: evaluations; fitness with --objective "
             "or a task without a solved criterion)"))
    objective: str | None = field(default=None, metadata=_flag(
        "--objective", kind=str, help="your own objective: package.module:function"))
    base_seed: int = field(default=0, metadata=_flag(
        "--base-seed", minimum=0,
        help="first seed: a trial runs seeds BASE_SEED .. BASE_SEED + SEEDS - 1"))
    direction: str | None = field(default=None, metadata=_flag(
        "--direction", choices=("maximize", "minimize"), kind=str,
        help="whether higher or lower values are better (default: the metric's; set it "
             "for an --objective that returns a loss)"))
    fix: str = field(default="", metadata=_flag(
        "--fix", kind=str, multiple=True,
        help="NAME=VALUE: hold one search-space parameter at a value (repeatable), e.g. "
             "--fix algorithm=cmaes --fix hidden_layers=0"))
    ranges: str = field(default="", metadata=_flag(
        "--range", kind=str, multiple=True,
        help="NAME=LOW:HIGH (numbers) or NAME=A,B (choices): search a parameter within "
             "part of its range (repeatable), e.g. --range sigma=0.05:0.5"))

    def __post_init__(self):
        catalog.check_task_name(self.task)  # the name's form; `check_task` imports it
        self._check_narrowing()
        if self.metric is None:  # a user objective's float is maximized, as before metrics
            object.__setattr__(self, "metric", "fitness" if self.objective or not (
                _has_target(self.task)) else "evaluations")
        own = METRICS[self.metric].direction
        if self.direction is None:
            object.__setattr__(self, "direction", own)
        elif self.direction != own and not (self.objective and self.metric == "fitness"):
            raise NasError(f"--direction {self.direction} contradicts --metric {self.metric} "
                           f"({own}); --direction is for an --objective's own value")

    def _check_narrowing(self) -> None:
        object.__setattr__(self, "fix", narrowing(self.fix, "--fix"))
        object.__setattr__(self, "ranges", narrowing(self.ranges, "--range"))
        both = sorted(set(self.fixed) & set(self.ranged))
        if both:
            raise NasError(f"{both[0]} is given both --fix and --range: one or the other")
        if self.objective and (self.fix or self.ranges):
            raise NasError("--fix and --range narrow nas's own search space; an --objective "
                           "samples its own")

    @property
    def fixed(self) -> dict[str, str]:
        """--fix as {name: value text}."""
        return entries(self.fix)

    @property
    def ranged(self) -> dict[str, str]:
        """--range as {name: LOW:HIGH or A,B text}."""
        return entries(self.ranges)

    @property
    def label(self) -> str:
        """What the study runs, as tables show it: a user objective is not pure/cartpole."""
        return f"objective {self.objective}" if self.objective else f"{self.mode}/{self.task}"

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The `nas.studies` columns that hold a spec (one per field)."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, mapping) -> "StudySpec":
        return cls(**{name: mapping[name] for name in cls.columns()})

    def differences(self, other: "StudySpec") -> list[str]:
        return [f"{f.name}: {getattr(other, f.name)!r} -> {getattr(self, f.name)!r}"
                for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def check_task(self) -> None:
        """Resolve a gym: or package.module:Class task (one line when it does not import,
        is no Task or breaks its declarations) and refuse a metric that needs a solved
        criterion the task lacks. At study creation and at worker start."""
        if self.objective or catalog.is_builtin(self.task):
            return
        from nas.evolution.tasks import task_class  # torch, and gymnasium or your module

        cls = task_class(catalog.check_task_name(self.task))
        if METRICS[self.metric].needs_target and cls.target_fitness is None:
            raise NasError(f"--metric {self.metric} needs a solved criterion, and task "
                           f"{self.task!r} has none (no target_fitness / reward_threshold): "
                           "use --metric fitness")

    def build_sampler(self):
        return SAMPLERS[self.sampler]()

    def build_pruner(self):
        return PRUNERS[self.pruner]()
