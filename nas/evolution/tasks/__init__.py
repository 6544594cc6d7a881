"""Name -> task registry: a spec or CLI flag picks a task by name.

Built-in names map to the classes below; `gym:ENV_ID` builds a `GymTask` subclass for that
environment (nas.evolution.tasks.gym_env) and `package.module:Class` imports your own `Task`
subclass (nas.evolution.tasks.user). Either is resolved once per process and kept.
"""
from __future__ import annotations

import functools

from nas.errors import NasError
from nas.evolution import catalog
from nas.evolution.tasks.base import Policy, Task
from nas.evolution.tasks.cartpole import CartPole
from nas.evolution.tasks.double_pole import DoublePole, DoublePoleNV, DoublePoleNVGomez

TASKS: dict[str, type[Task]] = {CartPole.name: CartPole, DoublePole.name: DoublePole,
                                DoublePoleNV.name: DoublePoleNV,
                                DoublePoleNVGomez.name: DoublePoleNVGomez}
assert tuple(TASKS) == catalog.TASKS, "evolution/catalog.py lists other tasks"
assert {n: (t.obs_size, t.act_size) for n, t in TASKS.items()} == catalog.TASK_SIZES, \
    "evolution/catalog.py gives other task sizes"


@functools.lru_cache(maxsize=None)
def task_class(name: str) -> type[Task]:
    """The class `name` stands for (built-in, gym:ENV_ID or package.module:Class)."""
    if name in TASKS:
        return TASKS[name]
    catalog.check_task_name(name)
    if name.startswith(catalog.GYM_PREFIX):
        from nas.evolution.tasks.gym_env import gym_task_class

        return gym_task_class(name[len(catalog.GYM_PREFIX):])
    from nas.evolution.tasks.user import load_task_class

    return load_task_class(name)


def task_sizes(name: str) -> tuple[int, int]:
    """(observations, actions); a gym: or module:Class task is resolved to read them."""
    if name in catalog.TASK_SIZES:
        return catalog.TASK_SIZES[name]
    cls = task_class(catalog.check_task_name(name))
    return cls.obs_size, cls.act_size


def has_target(name: str) -> bool:
    """Whether the task has a solved criterion (a target fitness) for the metrics."""
    return (catalog.is_builtin(name)
            or task_class(catalog.check_task_name(name)).target_fitness is not None)


def get_task(name: str) -> Task:
    """A fresh task instance (a gym task keeps its environments per instance)."""
    try:
        cls = task_class(name)
    except NasError:
        if name in TASKS or ":" in name:
            raise
        raise NasError(f"unknown task {name!r}; choose from {', '.join(sorted(TASKS))}, "
                       "gym:ENV_ID or package.module:Class") from None
    return cls()


__all__ = ["Policy", "Task", "TASKS", "get_task", "has_target", "task_class", "task_sizes"]
