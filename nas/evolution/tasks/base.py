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

    def evaluate(self, policy: Policy, starts: torch.Tensor) -> torch.Tensor:
        """Fitness = control steps survived (the failing step counts), one episode per row."""
        state = starts.to(self.dtype)
        rows = torch.arange(len(state), device=state.device)
        steps = torch.zeros(len(state), dtype=torch.int64, device=state.device)
        for _ in range(self.max_steps):
            state, failed = self.step(state, policy(self.observe(state)))
            steps[rows] += 1
            if bool(failed.any()):
                alive = (~failed).nonzero().squeeze(1)
                if len(alive) == 0:
                    break
                rows, state = rows[alive], state[alive]
                policy.keep(alive)
        return steps.to(torch.float64)
