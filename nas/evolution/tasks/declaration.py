"""A task class's declaration, checked: the class attributes and overrides nas reads before
it builds the task, and building it (`cls()`), each failure in one line. Run at study
creation and worker start for every `-t package.module:Class` (nas.evolution.tasks.user);
the whole contract, with episodes, is nas.evolution.tasks.contract.
"""
from __future__ import annotations

import math
import numbers

import torch

from nas.errors import NasError
from nas.evolution.tasks.base import Task


class ContractError(NasError):
    """A task that breaks the contract; the message names the task and the broken rule."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def task_label(task) -> str:
    """The class's own `name` (not one it inherits), else its module:Class reference."""
    cls = task if isinstance(task, type) else type(task)
    own = cls.__dict__.get("name") if isinstance(cls, type) else None
    return own if isinstance(own, str) else f"{cls.__module__}:{cls.__qualname__}"


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def overrides(cls: type, method: str) -> bool:
    return getattr(cls, method) is not getattr(Task, method)


def check_declaration(cls, label: str | None = None) -> None:
    """The class attributes and overrides nas reads before it builds the task."""
    label = label or task_label(cls)

    def fail(rule: str):
        raise ContractError(f"task {label!r} breaks the Task contract: {rule}")

    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ContractError(f"task {label!r} is not a nas Task class "
                            "(subclass nas.evolution.tasks.Task)")
    for attr in ("obs_size", "act_size", "max_steps"):
        value = getattr(cls, attr, None)
        if not _positive_int(value):
            fail(f"{attr} must be a positive int class attribute, got {value!r}")
    if hasattr(cls, "state_size") and not _positive_int(cls.state_size):
        fail(f"state_size must be a positive int, got {cls.state_size!r}")
    rng = cls.fitness_range
    if not (isinstance(rng, tuple) and len(rng) == 2 and all(map(_real, rng)) and rng[0] <= rng[1]):
        fail(f"fitness_range must be a (low, high) tuple with low <= high, got {rng!r}")
    if cls.target_fitness is not None and not (_real(cls.target_fitness)
                                               and math.isfinite(cls.target_fitness)):
        fail(f"target_fitness must be None or a finite number, got {cls.target_fitness!r}")
    for flag in ("needs_memory", "champion_test"):
        if not isinstance(getattr(cls, flag), bool):
            fail(f"{flag} must be True or False, got {getattr(cls, flag)!r}")
    if not isinstance(cls.dtype, torch.dtype):
        fail(f"dtype must be a torch.dtype, got {cls.dtype!r}")
    for method in ("initial_states", "solved"):
        if not overrides(cls, method):
            fail(f"it must define {method}()")
    if not overrides(cls, "evaluate") and not (overrides(cls, "observe") and overrides(cls, "step")):
        fail("it must define observe() and step(), or its own evaluate()")
    if cls.champion_test and not overrides(cls, "champion_solved"):
        fail("champion_test is True but it does not define champion_solved()")


def instantiate(cls: type[Task], label: str | None = None) -> Task:
    """`cls()`, the way nas builds every task (no arguments), with its failure in one line."""
    try:
        return cls()
    except Exception as exc:
        raise ContractError(f"task {label or task_label(cls)!r}: {cls.__name__}() failed: "
                            f"{one_line(exc)}") from None
