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

from nas.evolution.tasks.base import Task

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


def cartpole_step(state: torch.Tensor, push_right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One gymnasium step for a batch: returns (next_state, terminated)."""
    x, x_dot, theta, theta_dot = state.unbind(-1)
    force = torch.where(push_right, FORCE_MAG, -FORCE_MAG).to(state.dtype)
    cos, sin = torch.cos(theta), torch.sin(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot * theta_dot * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (
        HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * cos * cos / TOTAL_MASS))
    x_acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS
    nxt = torch.stack((x + TAU * x_dot, x_dot + TAU * x_acc,
                       theta + TAU * theta_dot, theta_dot + TAU * theta_acc), dim=-1)
    terminated = (nxt[..., 0].abs() > X_LIMIT) | (nxt[..., 2].abs() > THETA_LIMIT)
    return nxt, terminated


class CartPole(Task):
    name = "cartpole"
    obs_size = 4
    act_size = 1
    state_size = 4
    max_steps = 500

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
