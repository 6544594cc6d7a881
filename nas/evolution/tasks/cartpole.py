"""Gymnasium CartPole-v1, batched: the same Euler equations and constants, step for step.

    observation  4: x, x_dot, theta, theta_dot (unscaled, as gymnasium returns them)
    action       network output > 0 pushes right (+10 N), otherwise left (-10 N)
    fitness      steps survived, the terminating step included (gymnasium's reward), max 500
    solved       an individual survives all 500 steps (gymnasium's truncation limit)
    starts       every state variable uniform in [-0.05, 0.05], as `reset()` draws them
"""
from __future__ import annotations

import math

import torch

from nas.evolution.tasks.base import CARTPOLE_PHYSICS, KERNEL_EPISODE, Task, TaskKernel, has_kernel

GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
TOTAL_MASS = MASS_CART + MASS_POLE
HALF_LENGTH = 0.5
POLEMASS_LENGTH = MASS_POLE * HALF_LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_LIMIT = 12 * 2 * math.pi / 360
X_LIMIT = 2.4


_CONSTANTS: dict = {}


def _constants(like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(+force, -force, state limits) as tensors on the state's device and dtype, made once."""
    key = (like.device, like.dtype)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = (torch.tensor(FORCE_MAG, dtype=like.dtype, device=like.device),
                           torch.tensor(-FORCE_MAG, dtype=like.dtype, device=like.device),
                           torch.tensor([X_LIMIT, math.inf, THETA_LIMIT, math.inf],
                                        dtype=like.dtype, device=like.device))
    return _CONSTANTS[key]


def cartpole_step(state: torch.Tensor, push_right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One gymnasium step for a batch: returns (next_state, terminated).

    Gymnasium's equations with its order of operations, written as ~20 fused tensor ops
    (a small batch costs per op, not per element); agrees with gymnasium to ~1e-15."""
    right, left, limits = _constants(state)
    x_dot, theta, theta_dot = state[:, 1], state[:, 2], state[:, 3]
    force = torch.where(push_right, right, left)
    cos, sin = torch.cos(theta), torch.sin(theta)
    temp = torch.addcmul(force, theta_dot * theta_dot, sin, value=POLEMASS_LENGTH) / TOTAL_MASS
    cos2 = cos * cos
    theta_acc = torch.addcmul(GRAVITY * sin, cos, temp, value=-1.0) / (
        cos2.mul_(-MASS_POLE / TOTAL_MASS).add_(4.0 / 3.0).mul_(HALF_LENGTH))
    x_acc = torch.addcmul(temp, theta_acc, cos, value=-POLEMASS_LENGTH / TOTAL_MASS)
    nxt = torch.add(state, torch.stack((x_dot, x_acc, theta_dot, theta_acc), dim=-1), alpha=TAU)
    terminated = (nxt.abs() > limits).any(-1)
    return nxt, terminated


@has_kernel(*KERNEL_EPISODE)
class CartPole(Task):
    name = "cartpole"
    obs_size = 4
    act_size = 1
    state_size = 4
    max_steps = 500
    fitness_range = (1.0, 500.0)
    target_fitness = 500.0

    def initial_states(self, generator: torch.Generator, n: int) -> torch.Tensor:
        return torch.rand(n, 4, generator=generator, dtype=torch.float64) * 0.1 - 0.05

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        return state

    def step(self, state, output):
        return cartpole_step(state, output[..., 0] > 0)

    poles = ((2, HALF_LENGTH),)
    track_limit = X_LIMIT

    def solved(self, fitness: torch.Tensor) -> torch.Tensor:
        return fitness >= self.max_steps

    def force(self, output: torch.Tensor) -> torch.Tensor:
        return torch.where(output[..., 0] > 0, FORCE_MAG, -FORCE_MAG)

    def kernel_view(self) -> TaskKernel:
        return TaskKernel(CARTPOLE_PHYSICS, range(4), (1.0,) * 4, None, (0.0, 0.0),
                          self.max_steps, "steps")
