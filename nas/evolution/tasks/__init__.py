"""Name -> task registry: a spec or CLI flag picks a task by name."""
from __future__ import annotations

from nas.errors import NasError
from nas.evolution import catalog
from nas.evolution.tasks.base import Policy, Task
from nas.evolution.tasks.cartpole import CartPole
from nas.evolution.tasks.double_pole import DoublePole, DoublePoleNV

TASKS: dict[str, type[Task]] = {CartPole.name: CartPole, DoublePole.name: DoublePole,
                                DoublePoleNV.name: DoublePoleNV}
assert tuple(TASKS) == catalog.TASKS, "evolution/catalog.py lists other tasks"
assert {n: (t.obs_size, t.act_size) for n, t in TASKS.items()} == catalog.TASK_SIZES, \
    "evolution/catalog.py gives other task sizes"


def get_task(name: str) -> Task:
    try:
        return TASKS[name]()
    except KeyError:
        raise NasError(f"unknown task {name!r}; choose from {', '.join(sorted(TASKS))}") from None


__all__ = ["Policy", "Task", "TASKS", "get_task"]
