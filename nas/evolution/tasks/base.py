"""What a task is: a batched environment that scores a batch of policies.

A task never sees an algorithm. It receives a `Policy` (a batch of networks with one
row per episode), runs every episode at once over `[batch, state]` tensors, and drops
finished episodes from the batch as they end, so they stop costing compute.

A built-in task whose episodes the compiled CPU kernels can run says so publicly: the
class is marked `@has_kernel(methods the kernel stands in for)` and defines
`kernel_view()`, its physics constants as a `TaskKernel`; `task.kernel()` is what the
evaluator choice reads (nas.evolution.evaluators). Every other task takes the torch path.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

# The physics the kernels can step (nas.evolution.kernels.physics numbers them alike).
CARTPOLE_PHYSICS, DOUBLE_POLE_PHYSICS = 0, 1

# What a kernel stands in for: the episode (every kernel), and the damping fitness and
# champion test (double-pole-nv's kernels). A task that has a kernel only gets it while
# these methods are the ones it was declared with (`has_kernel`).
KERNEL_EPISODE = ("observe", "step", "force", "evaluate")
KERNEL_CHAMPION = ("survival", "long_run", "generalization_score", "champion_solved",
                   "initial_states", "fitness_of")


@dataclass(frozen=True)
class TaskKernel:
    """A task instance as the compiled kernels see it: which physics, what it observes and
    its constants. Read from the instance (`kernel_view`), so per-instance settings the
    torch path honours (max_steps, mu_p, ...) reach the kernel too."""
    physics: int  # CARTPOLE_PHYSICS or DOUBLE_POLE_PHYSICS
    obs_index: np.ndarray  # the state entries observed, in order (int64)
    obs_scale: np.ndarray  # each multiplied by this (float64; 1.0: unscaled, which is exact)
    bias: float | None  # a constant input appended, if any
    fric: tuple[float, float]  # mu_p / (m l) per pole (double pole)
    max_steps: int
    fitness: str  # "steps": survived, failing step included; "damping": task.fitness_of
    mu_c: float = 0.0  # cart friction (double pole)
    force_floor: float = 0.0  # smallest force magnitude, 0: none (double pole)
    wobble: str | None = None  # what the damping sums, as double_pole._episodes' `wobble`

    def __post_init__(self):  # tuples in, the arrays the kernels take out
        object.__setattr__(self, "obs_index", np.array(self.obs_index, np.int64))
        object.__setattr__(self, "obs_scale", np.array(self.obs_scale, np.float64))


def has_kernel(*stands_in_for: str):
    """Class decorator: this task's episodes have a compiled kernel (its `kernel_view()`),
    which stands in for the methods `stands_in_for`. The one safety rule: the kernel serves
    exactly this class, and only while those methods are still the functions they are
    now. A subclass (which may change anything), or a test patching one of them, gets the
    torch path, which calls them."""
    def declare(cls):
        cls._kernel_declared = (cls, {m: getattr(cls, m) for m in stands_in_for})
        return cls
    return declare


class Policy(Protocol):
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """[rows, obs_size] -> [rows, act_size]."""

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only these rows (indices into the current batch) from now on."""


class Task:
    """A batched environment. Sizes, limits and the flags below are class attributes, so a
    caller can read them from `TASKS[name]` without building the task.

    fitness_range   (low, high): every fitness `evaluate` returns lies in it, inclusive.
    needs_memory    True when observations leave out part of the state (double-pole-nv has
                    no velocities), so a feed-forward network cannot solve it: the search
                    space then only offers recurrent networks.
    target_fitness  the fitness of a solving episode (cartpole 500 steps), or None when the task
                    has no solved criterion: the `evaluations` and `auc` metrics measure how
                    close a run came as best fitness / target (nas.evolution.metrics).
    champion_test   True when fitness cannot prove solving: `solved(fitness)` then only marks
                    candidates, and `run_evolution` tests each generation's best candidate with
                    `champion_solved(make_policy)`, which decides. False: `solved` decides.
    """

    name: str
    obs_size: int
    act_size: int
    state_size: int
    max_steps: int
    dtype = torch.float64  # physics in double precision; networks cast to their own dtype
    fitness_range: tuple[float, float] = (-math.inf, math.inf)
    needs_memory: bool = False
    champion_test: bool = False
    target_fitness: float | None = None

    def initial_states(self, generator: torch.Generator, n: int) -> torch.Tensor:
        raise NotImplementedError

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, state: torch.Tensor, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance one control step: (next_state, failed)."""
        raise NotImplementedError

    def solved(self, fitness: torch.Tensor) -> torch.Tensor:
        """A bool mask of fitness's shape: solved, or (`champion_test`) worth the test."""
        raise NotImplementedError

    def champion_solved(self, make_policy: Callable[[int], Policy]) -> bool:
        """The verdict on one network, for tasks with `champion_test`; `make_policy(n)`
        returns a fresh policy of n copies of it (recurrent state reset)."""
        raise NotImplementedError(
            f"task {getattr(self, 'name', type(self).__name__)!r} has no champion test: "
            "set champion_test = True and override champion_solved, or decide in solved()")

    # For pictures (`nas replay`): where the cart and poles are in the state vector.
    cart_index = 0
    poles: tuple[tuple[int, float], ...] = ()  # (angle index in state, half-length in m)
    track_limit = 2.4

    def force(self, output: torch.Tensor) -> torch.Tensor:
        """The force in newtons this task applies for a raw network output."""
        raise NotImplementedError

    def kernel(self) -> TaskKernel | None:
        """This instance as the compiled kernels see it, or None: no kernel serves it (the
        torch path). Only a class marked `has_kernel`, itself and with the methods it was
        marked with, gets its `kernel_view()`; every other task, yours included, None."""
        cls, methods = getattr(type(self), "_kernel_declared", (None, {}))
        if type(self) is not cls or any(getattr(cls, m) is not f for m, f in methods.items()):
            return None
        return self.kernel_view()

    def kernel_view(self) -> TaskKernel:
        """The kernels' view of this instance (a `has_kernel` task defines it)."""
        raise NotImplementedError

    def trace(self, policy: Policy, start: torch.Tensor, max_steps: int,
              frames: int | None = None) -> tuple[list, list, int]:
        """One episode of one network, step by step, until it fails or `max_steps` pass:
        (states, forces) of its first `frames` steps (all of them by default), and the
        control steps it ran, the failing one included."""
        state, states, forces = start.to(self.dtype).reshape(1, -1), [], []
        frames = max_steps if frames is None else frames
        steps = 0
        for steps in range(1, max_steps + 1):
            out = policy(self.observe(state))
            drawn = len(forces) < frames
            if drawn:
                states.append(state[0].tolist())
                forces.append(float(self.force(out)[0]))
            state, failed = self.step(state, out)
            if bool(failed[0]):
                if drawn:
                    states.append(state[0].tolist())
                break
        return states, forces, steps

    def evaluate(self, policy: Policy, starts: torch.Tensor) -> torch.Tensor:
        """Fitness = control steps survived (the failing step counts), one episode per row."""
        state = starts.to(self.dtype)
        rows = torch.arange(len(state), device=state.device)
        steps = torch.full((len(state),), float(self.max_steps), dtype=torch.float64,
                           device=state.device)
        for t in range(self.max_steps):
            state, failed = self.step(state, policy(self.observe(state)))
            if bool(failed.any()):  # rare: only then touch the bookkeeping
                steps[rows[failed]] = t + 1
                alive = (~failed).nonzero().squeeze(1)
                if len(alive) == 0:
                    break
                rows, state = rows[alive], state[alive]
                policy.keep(alive)
        return steps
