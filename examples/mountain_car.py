"""Your own simulator as a nas task: Gymnasium's MountainCar-v0, batched in torch.

    nas task check examples.mountain_car:MountainCar        # the contract, before a study
    nas search car-001 -t examples.mountain_car:MountainCar -m neat -n 20 -g 30 -p 100 -j 2

A task is a subclass of `nas.evolution.tasks.Task` over `[batch, state]` tensors, one row
per episode; nas builds it with no arguments, evaluates a whole population (every seed of a
trial) as one batch, and reads its sizes and flags from the class before it builds it.
Workers import it by name, like `--objective`: run them from the directory that holds
`examples/` (or install your package).

Physics: MountainCar-v0's equations and constants, step for step (force 0.001, gravity
0.0025, velocity clipped to +-0.07, position to [-1.2, 0.6], stopped at the left wall).

    state        3: position, velocity, highest position reached so far
    observation  2: position, velocity (as Gymnasium returns them)
    action       3 network outputs, argmax: push left, do nothing, push right
    episode      ends when the car reaches the flag (position >= 0.5), or after 200 steps
    fitness      201 - steps to the flag if it got there (1..200); else how far up the right
                 hill it came, (highest position + 1.2) / 1.7, in [0, 1): a little credit
                 for climbing, so evolution has a slope before any car reaches the flag
    solved       the flag within 110 steps (fitness >= 91): Gymnasium's reward_threshold
                 of -110, per episode
    starts       position uniform in [-0.6, -0.4], velocity 0, as reset() draws them
"""
from __future__ import annotations

import torch

from nas.evolution.tasks import Policy, Task

FORCE, GRAVITY, MAX_SPEED = 0.001, 0.0025, 0.07
MIN_POSITION, MAX_POSITION, GOAL = -1.2, 0.6, 0.5


class MountainCar(Task):
    name = "mountain-car"  # how tables and messages call it
    obs_size = 2
    act_size = 3
    state_size = 3
    max_steps = 200
    fitness_range = (0.0, 200.0)
    target_fitness = 91.0  # the flag in 110 steps
    # needs_memory = False: position and velocity are the whole state
    # champion_test = False: solved(fitness) decides

    def initial_states(self, generator: torch.Generator, n: int) -> torch.Tensor:
        """Draw only from `generator`: the same seed must give the same starts."""
        start = torch.rand(n, generator=generator, dtype=self.dtype) * 0.2 - 0.6
        return torch.stack((start, torch.zeros_like(start), start), 1)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        return state[:, :2]

    def step(self, state: torch.Tensor, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for every row: (next state, episode over). Never changes `state` in place."""
        push = output.argmax(1).to(self.dtype) - 1.0  # -1, 0, +1
        position, velocity = state[:, 0], state[:, 1]
        velocity = (velocity + push * FORCE - GRAVITY * torch.cos(3 * position)).clamp(-MAX_SPEED, MAX_SPEED)
        position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION)
        velocity = torch.where((position == MIN_POSITION) & (velocity < 0), 0.0, velocity)
        highest = torch.maximum(state[:, 2], position)
        return torch.stack((position, velocity, highest), 1), position >= GOAL

    def evaluate(self, policy: Policy, starts: torch.Tensor) -> torch.Tensor:
        """Every episode at once; a row whose car reached the flag leaves the batch at once
        (`policy.keep`), so it stops costing compute and the policy never sees it again."""
        state = starts.to(self.dtype)
        rows = torch.arange(len(state))  # which episode each row of `state` is
        fitness = torch.empty(len(state), dtype=torch.float64)
        for t in range(self.max_steps):
            state, done = self.step(state, policy(self.observe(state)))
            if bool(done.any()):
                fitness[rows[done]] = self.max_steps + 1.0 - (t + 1)
                alive = (~done).nonzero().squeeze(1)
                rows, state = rows[alive], state[alive]
                if len(alive) == 0:
                    return fitness
                policy.keep(alive)
        fitness[rows] = (state[:, 2] - MIN_POSITION) / (GOAL - MIN_POSITION)
        return fitness

    def solved(self, fitness: torch.Tensor) -> torch.Tensor:
        return fitness >= self.target_fitness

    # Drawing hints for `nas replay` (optional): the car as a cart on a track, and the push
    # as an arrow. A task without force() has no pictures; replay still prints its return.
    cart_index = 0
    track_limit = 1.2

    def force(self, output: torch.Tensor) -> torch.Tensor:
        return output.argmax(-1).to(self.dtype) - 1.0

