"""Which tasks have a kernel, and what the kernel needs of a task instance.

Keyed by task name. A task gets its kernel only if it is exactly the registered class and
none of the methods the kernel stands in for has been replaced since this module was
imported (a subclass, or a test patching the class, must get the torch path, which calls
those methods). Everything the kernel needs is read from the instance (`max_steps`,
`mu_p`, the observation scales, the champion test's sizes), so per-instance changes the
torch path honours are honoured here too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from nas.evolution.tasks.base import Task
from nas.evolution.tasks.cartpole import CartPole
from nas.evolution.tasks.double_pole import DoublePole, DoublePoleNV, DoublePoleNVGomez
from nas.evolution.tasks.double_pole import HALF_LENGTH_1, HALF_LENGTH_2, MASS_POLE_1, MASS_POLE_2

CARTPOLE, DOUBLE_POLE = 0, 1  # physics ids (as kernels.physics numbers them)


@dataclass(frozen=True)
class TaskKernel:
    physics: int
    obs_index: np.ndarray  # the state entries observed, in order
    obs_scale: np.ndarray  # each multiplied by this (1.0: unscaled, which is exact)
    bias: float | None  # a constant input appended, if any
    fric: tuple[float, float]  # mu_p / (m l) per pole (double pole)
    max_steps: int
    fitness: str  # "steps": survived, failing step included; "damping": task.fitness_of
    mu_c: float = 0.0  # cart friction (double pole)
    force_floor: float = 0.0  # smallest force magnitude, 0: none (double pole)
    wobble: str | None = None  # what the damping sums, as double_pole._episodes' `wobble`


@dataclass(frozen=True)
class _Entry:
    cls: type[Task]
    build: Callable[[Task], TaskKernel]
    originals: dict  # method name -> the function the kernel stands in for


def _cartpole(task: CartPole) -> TaskKernel:
    return TaskKernel(CARTPOLE, np.arange(4), np.ones(4), None, (0.0, 0.0), task.max_steps, "steps")


def _fric(task) -> tuple[float, float]:
    return (task.mu_p / (MASS_POLE_1 * HALF_LENGTH_1), task.mu_p / (MASS_POLE_2 * HALF_LENGTH_2))


def _double_pole(task: DoublePole) -> TaskKernel:
    return TaskKernel(DOUBLE_POLE, np.arange(6), np.array(task._scale, np.float64), task.bias_input,
                      _fric(task), task.max_steps, "steps", task.mu_c, task.force_floor)


def _double_pole_nv(task: DoublePoleNV) -> TaskKernel:
    return TaskKernel(DOUBLE_POLE, np.array([0, 2, 4]), np.array(task._scale, np.float64),
                      task.bias_input, _fric(task), task.max_steps, "damping", task.mu_c,
                      task.force_floor, task.wobble)


_EPISODE = ("observe", "step", "force", "evaluate")
_CHAMPION = ("survival", "long_run", "generalization_score", "champion_solved", "initial_states",
             "fitness_of")


def _entry(cls, build, methods) -> _Entry:
    return _Entry(cls, build, {m: getattr(cls, m) for m in methods})


KERNELS: dict[str, _Entry] = {
    CartPole.name: _entry(CartPole, _cartpole, _EPISODE),
    DoublePole.name: _entry(DoublePole, _double_pole, _EPISODE),
    DoublePoleNV.name: _entry(DoublePoleNV, _double_pole_nv, _EPISODE + _CHAMPION),
    DoublePoleNVGomez.name: _entry(DoublePoleNVGomez, _double_pole_nv, _EPISODE + _CHAMPION),
}


def task_kernel(task: Task) -> TaskKernel | None:
    """The kernel's view of `task`, or None when it must take the torch path."""
    entry = KERNELS.get(getattr(task, "name", None))
    if entry is None or type(task) is not entry.cls:
        return None
    if any(getattr(entry.cls, m) is not f for m, f in entry.originals.items()):
        return None
    return entry.build(task)
