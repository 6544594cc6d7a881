"""What a task is: a batched environment that scores a batch of policies.

A task never sees an algorithm. It receives a `Policy` (a batch of networks with one
row per episode), runs every episode at once over `[batch, state]` tensors, and drops
finished episodes from the batch as they end, so they stop costing compute.
"""
from __future__ import annotations

from typing import Protocol

import torch


class Policy(Protocol):
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """[rows, obs_size] -> [rows, act_size]."""

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only these rows (indices into the current batch) from now on."""


class Task:
    name: str
    obs_size: int
    act_size: int
    state_size: int
    max_steps: int
    dtype = torch.float64  # physics in double precision; networks cast to their own dtype

    def initial_states(self, generator: torch.Generator, n: int) -> torch.Tensor:
        raise NotImplementedError

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, state: torch.Tensor, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance one control step: (next_state, failed)."""
        raise NotImplementedError

    def solved(self, fitness: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # For pictures (`nas replay`): where the cart and poles are in the state vector.
    cart_index = 0
    poles: tuple[tuple[int, float], ...] = ()  # (angle index in state, half-length in m)
    track_limit = 2.4

    def force(self, output: torch.Tensor) -> torch.Tensor:
        """The force in newtons this task applies for a raw network output."""
        raise NotImplementedError

    def trace(self, policy: Policy, start: torch.Tensor, max_steps: int) -> tuple[list, list]:
        """One episode of one network, step by step: (states, forces) until it fails."""
        state, states, forces = start.to(self.dtype).reshape(1, -1), [], []
        for _ in range(max_steps):
            out = policy(self.observe(state))
            states.append(state[0].tolist())
            forces.append(float(self.force(out)[0]))
            state, failed = self.step(state, out)
            if bool(failed[0]):
                states.append(state[0].tolist())
                break
        return states, forces

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
