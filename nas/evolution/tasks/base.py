"""What a task is: a batched environment that scores a batch of policies.

A task never sees an algorithm. It receives a `Policy` (a batch of networks with one
row per episode), runs every episode at once over `[batch, state]` tensors, and drops
finished episodes from the batch as they end, so they stop costing compute.
"""
from __future__ import annotations

import math
from typing import Callable, Protocol

import torch


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
