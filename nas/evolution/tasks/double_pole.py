"""Double pole balancing, batched: Wieland's equations with the constants, RK4 integrator,
failure limits and start state of Stanley's NEAT code (experiments.cpp) and the NEAT paper;
`double-pole-nv-gomez` is the same task as Gomez's ESP/CoSyNE code sets it up (below).

Physics (both tasks), in float64 on `[rows, 6]` states (x, x_dot, th1, th1_dot, th2, th2_dot):
    cart 1 kg, no cart friction; long pole 0.1 kg, half-length 0.5 m; short pole 0.01 kg,
    half-length 0.05 m; pivot friction mu_p = 2e-6; gravity 9.8 m/s^2 (the C++ writes it as
    -9.8 in equations whose signs expect that); angles in rad from upright.
    One control step = two RK4 steps of tau = 0.01 s (0.02 s), with the force held.
    Failure: |x| > 2.4 m, or |th1| > 0.628329 rad, or |th2| > 0.628329 rad (36 degrees),
    checked after each control step.
    Start: th1 = 0.07 rad (about 4 degrees), everything else 0, for every row.

action (both)   one raw (linear) network output u -> force (sigmoid(u) - 0.5) * 20 N, in
                -10..10 N; the task applies the sigmoid.

`double-pole` (Markov: with velocities)
    observation  7: x/4.8, x_dot/2, th1/0.52, th1_dot/2, th2/0.52, th2_dot/2, bias 0.5
    fitness      control steps survived, the failing step included (Stanley's count), max 100,000
    solved       fitness >= 100,000

`double-pole-nv` (non-Markov: no velocities; Gruau's damping fitness, as in the NEAT paper)
    observation  4: x/4.8, th1/0.52, th2/0.52, bias 0.5
    fitness      over at most 1,000 steps: f = 0.1 * t / 1000 + 0.9 * f2, with t = control
                 steps survived (the failing step not counted, as Stanley's `balanced_sum`),
                 f2 = 0 if t < 100, else 0.75 / sum over the last 100 survived steps of
                 (|x| + |x_dot| + |th1| + |th1_dot|) taken after each of those steps.
    solved       cannot be decided from fitness. A network is solved iff it (a) balances
                 100,000 steps from the standard start and (b) balances 1,000 steps from at
                 least 200 of the 625 generalization starts (`generalization_starts`), each
                 run from a reset (recurrent state zeroed) network: `champion_solved`.
                 `solved(fitness)` only returns the mask of candidates worth that test:
                 fitness >= 0.1, which every run that survived all 1,000 steps reaches
                 (a necessary condition; a shorter run with very little wobble can reach it too).

`double-pole-nv-gomez` (non-Markov, as the CoSyNE paper ran it: Gomez's ESP/CoSyNE
CartPole code, where it differs from Stanley's)
    physics      cart friction mu_c = 0.0005: the cart's force is F - mu_c sgn(x_dot)
                 (sgn(0) = +1), in every RK4 stage; and the applied force never smaller
                 in magnitude than 10/256 N (a force in [0, 10/256) becomes +10/256, one
                 in (-10/256, 0) becomes -10/256; NaN becomes +10 N)
    observation  4: x/2.4, th1/0.52, th2/0.52, bias 1.0
    fitness      Gruau's form over the network's inputs: with n = control steps taken (the
                 failing step included), at most 1,000: f = 0.1 * n / 1000 + 0.9 * f2,
                 f2 = 0 if n < 100, else 0.75 / sum over the last 100 steps of the sum of
                 |input| (all 4 inputs, bias included) the network saw before acting.
                 The bias adds 100 to that sum, so f2 <= 0.0075: survival decides, the
                 damping only breaks ties (in Stanley's form it dominates).
                 (Gomez's loop runs 1,001 steps and counts one extra on success; here 1,000,
                 as the generalization test's episodes.)
    solved       `champion_solved` with test (a) alone: the generation champion balances
                 100,000 steps from the standard start (Gomez's loop stops there; his
                 625-start generalization test is not part of it, and the CoSyNE paper's
                 reruns of NEAT and ESP, 5-6x cheaper than the NEAT paper's, agree).
                 `generalization_score` still measures a solution's test (b).
"""
from __future__ import annotations

from typing import Callable

import torch

from nas.evolution.tasks.base import (DOUBLE_POLE_PHYSICS, KERNEL_CHAMPION, KERNEL_EPISODE, Policy,
                                      Task, TaskKernel, has_kernel)

GRAVITY = 9.8  # m/s^2, magnitude (the C++ constant is -9.8)
MASS_CART = 1.0
MASS_POLE_1, HALF_LENGTH_1 = 0.1, 0.5
MASS_POLE_2, HALF_LENGTH_2 = 0.01, 0.05
MU_P = 2e-6  # pivot friction of each pole
MU_C_GOMEZ = 0.0005  # cart friction of Gomez's setup (Stanley's has none)
FORCE_FLOOR_GOMEZ = 10.0 / 256  # Gomez's smallest force magnitude (his one_over_256)
FORCE_MAG = 10.0
TAU = 0.01  # one RK4 step
RK4_STEPS = 2  # RK4 steps per control step
X_LIMIT = 2.4
ANGLE_LIMIT = 0.628329  # 36 degrees, as Stanley's `thirty_six_degrees`
START_ANGLE = 0.07

# Generalization test (Gruau; NEAT paper): a 5^4 grid of starts; th2 = th2_dot = 0.
GRID_FRACTIONS = (0.05, 0.25, 0.5, 0.75, 0.95)
GRID_LIMITS = (2.16, 1.35, 0.06283152, 0.15009752)  # x, x_dot, th1, th1_dot (3.6 and 8.6 deg)
WOBBLE_FLOOR = 1e-300  # damping_fitness divides by at least this: huge but finite


_CONSTANTS: dict = {}


def _constants(state: torch.Tensor, mu_p: float) -> tuple[torch.Tensor, ...]:
    """Per-pole constant rows (long, short), built once per dtype, device and friction."""
    key = (state.dtype, state.device, mu_p)
    if key not in _CONSTANTS:
        m = torch.tensor((MASS_POLE_1, MASS_POLE_2), dtype=torch.float64)
        half = torch.tensor((HALF_LENGTH_1, HALF_LENGTH_2), dtype=torch.float64)
        limits = torch.tensor((X_LIMIT, ANGLE_LIMIT, ANGLE_LIMIT), dtype=torch.float64)
        _CONSTANTS[key] = tuple(t.to(state.device, state.dtype) for t in (
            m * half, 0.75 * m, m, mu_p / (m * half), -0.75 / half, limits))
    return _CONSTANTS[key]


def derivatives(state: torch.Tensor, force: torch.Tensor, mu_p: float = MU_P,
                mu_c: float = 0.0) -> torch.Tensor:
    """d(state)/dt for a batch: `[rows, 6]` states and `[rows]` forces in newtons; with cart
    friction `mu_c`, the cart feels F - mu_c sgn(x_dot) (sgn(0) = +1).

    For each pole i (mass m, half-length l): effective force
    m l th_dot^2 sin th + 3/4 m cos th (mu_p th_dot / (m l) - g sin th) and effective mass
    m (1 - 3/4 cos^2 th); the cart's acceleration is (F + sum of effective forces) /
    (M + sum of effective masses), and th_acc = -3 / (4 l) (x_acc cos th - g sin th +
    mu_p th_dot / (m l)), with g = +9.8 here (the C++'s -9.8 with the signs flipped).
    """
    ml, m34, m, fric, neg34_over_l, _ = _constants(state, mu_p)
    if mu_c:  # (a branch, not a zero friction: Stanley's setup keeps its exact arithmetic)
        mu = state.new_tensor(mu_c)  # (two bare scalars would make float32 of it)
        force = force - torch.where(state[:, 1] >= 0, mu, -mu)
    th, thd = state[:, 2::2], state[:, 3::2]  # [rows, 2]: long pole, short pole
    cos, sin = torch.cos(th), torch.sin(th)
    torque = torch.add(thd * fric, sin, alpha=-GRAVITY)  # mu_p th_dot / (m l) - g sin th
    eff_force = torch.addcmul(ml * thd * thd * sin, m34 * cos, torque)
    eff_mass = m - m34 * cos * cos
    x_acc = (force + eff_force.sum(1)) / (eff_mass.sum(1) + MASS_CART)
    th_acc = torch.addcmul(torque, x_acc.unsqueeze(1), cos) * neg34_over_l
    out = torch.empty_like(state)
    out[:, 0::2] = state[:, 1::2]
    out[:, 1] = x_acc
    out[:, 3::2] = th_acc
    return out


def rk4(state: torch.Tensor, force: torch.Tensor, mu_p: float = MU_P,
        tau: float = TAU, mu_c: float = 0.0) -> torch.Tensor:
    """One classical Runge-Kutta step of `tau` seconds with the force held."""
    k1 = derivatives(state, force, mu_p, mu_c)
    k2 = derivatives(torch.add(state, k1, alpha=0.5 * tau), force, mu_p, mu_c)
    k3 = derivatives(torch.add(state, k2, alpha=0.5 * tau), force, mu_p, mu_c)
    k4 = derivatives(torch.add(state, k3, alpha=tau), force, mu_p, mu_c)
    return torch.add(state, torch.add(k1 + k4, k2 + k3, alpha=2.0), alpha=tau / 6.0)


def out_of_bounds(state: torch.Tensor) -> torch.Tensor:
    """The failure test, `[rows]` bool: |x| > 2.4 or |th1| > 0.628329 or |th2| > 0.628329."""
    return (state[:, 0::2].abs() > _constants(state, MU_P)[-1]).any(1)


def double_pole_step(state: torch.Tensor, force: torch.Tensor, mu_p: float = MU_P,
                     mu_c: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One control step (two RK4 steps) for a batch: (next_state, failed)."""
    for _ in range(RK4_STEPS):
        state = rk4(state, force, mu_p, mu_c=mu_c)
    return state, out_of_bounds(state)


def floor_force(force: torch.Tensor, floor: float) -> torch.Tensor:
    """Gomez's force rule: |force| >= floor (the sign of a small force kept, 0 counted as
    positive) and NaN (a diverged network) as +FORCE_MAG."""
    force = torch.where(torch.isnan(force), FORCE_MAG, force)
    low = force.new_tensor(floor)  # (two bare scalars would make float32 of it)
    return torch.where(force.abs() < floor, torch.where(force >= 0, low, -low), force)


def generalization_starts(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The 625 starts of the generalization test, `[625, 6]`: every combination of the
    fractions {0.05, 0.25, 0.5, 0.75, 0.95} of each range [-limit, limit] of x, x_dot, th1,
    th1_dot (value = -limit + fraction * 2 * limit); th2 = th2_dot = 0."""
    frac = torch.tensor(GRID_FRACTIONS, dtype=dtype)
    axes = [-lim + frac * (2 * lim) for lim in GRID_LIMITS]
    grid = torch.cartesian_prod(*axes)  # [625, 4]: x, x_dot, th1, th1_dot
    starts = torch.zeros(len(grid), 6, dtype=dtype)
    starts[:, :4] = grid
    return starts


class _DoublePoleBase(Task):
    act_size = 1
    state_size = 6
    mu_p = MU_P  # a subclass or instance may change it (tests switch friction off)
    mu_c = 0.0  # cart friction (Gomez's setup: MU_C_GOMEZ)
    force_floor = 0.0  # smallest force magnitude, 0: none (Gomez's setup: FORCE_FLOOR_GOMEZ)

    poles = ((2, HALF_LENGTH_1), (4, HALF_LENGTH_2))
    track_limit = X_LIMIT
    bias_input = 0.5  # the constant input observations end with

    def initial_states(self, generator: torch.Generator, n: int) -> torch.Tensor:
        """Stanley's fixed start for every row; `generator` is accepted but not drawn from."""
        starts = torch.zeros(n, 6, dtype=self.dtype)
        starts[:, 2] = START_ANGLE
        return starts

    def force(self, output: torch.Tensor) -> torch.Tensor:
        force = (torch.sigmoid(output[..., 0].to(self.dtype)) - 0.5) * (2 * FORCE_MAG)
        return floor_force(force, self.force_floor) if self.force_floor else force

    def step(self, state, output):
        return double_pole_step(state, self.force(output), self.mu_p, self.mu_c)

    def pole_friction(self) -> tuple[float, float]:
        """mu_p / (m l) of each pole: the kernels' form of the pole friction."""
        return (self.mu_p / (MASS_POLE_1 * HALF_LENGTH_1), self.mu_p / (MASS_POLE_2 * HALF_LENGTH_2))

    def survival(self, policy: Policy, starts: torch.Tensor, max_steps: int) -> torch.Tensor:
        """Control steps survived (failing step not counted), at most `max_steps`, one episode
        per row, the whole batch at once; stops as soon as every row has failed."""
        return _episodes(self, policy, starts, max_steps, wobble=None)[0]


def _episodes(task: _DoublePoleBase, policy: Policy, starts: torch.Tensor, max_steps: int,
              wobble: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run every row until it fails or `max_steps` control steps pass.

    Returns (survived `[batch]` float64, the failing step not counted; and the wobble,
    `[batch]` float64, if asked: "state" sums |x| + |x_dot| + |th1| + |th1_dot| after each
    of the last min(100, survived) survived steps (Stanley); "inputs" sums |input| over the
    observation seen before each of the last min(100, steps taken) steps, the failing one
    included (Gomez)). Failed rows leave the batch (`policy.keep`).
    """
    state = starts.to(task.dtype)
    batch, device = len(state), state.device
    rows = torch.arange(batch, device=device)
    survived = torch.full((batch,), float(max_steps), dtype=torch.float64, device=device)
    window = torch.zeros(batch, 100, dtype=torch.float64, device=device) if wobble else None
    sums = torch.zeros(batch, dtype=torch.float64, device=device) if wobble else None
    for t in range(max_steps):
        if len(state) == 0:
            break
        obs = task.observe(state)
        if wobble == "inputs":
            window[:, t % 100] = obs.abs().sum(1)
        state, failed = task.step(state, policy(obs))
        if bool(failed.any()):  # rare: only then touch the bookkeeping
            gone = rows[failed]
            survived[gone] = t  # steps 1..t were survived, step t + 1 failed
            if wobble:
                sums[gone] = window[failed].sum(1)
            alive = (~failed).nonzero().squeeze(1)
            rows, state = rows[alive], state[alive]
            if wobble:
                window = window[alive]
            if len(alive) == 0:
                break
            policy.keep(alive)
        if wobble == "state":  # the ring buffer keeps the wobble of the last 100 steps
            window[:, t % 100] = state[:, :4].abs().sum(1)
    if wobble and len(rows):
        sums[rows] = window.sum(1)
    return survived, sums


@has_kernel(*KERNEL_EPISODE)
class DoublePole(_DoublePoleBase):
    """Double pole with velocities (Markov): obs 7 (x/4.8, x_dot/2, th1/0.52, th1_dot/2,
    th2/0.52, th2_dot/2, 0.5); force (sigmoid(u) - 0.5) * 20 N; fitness = control steps
    survived, failing step included, max 100,000; solved iff fitness >= 100,000."""

    name = "double-pole"
    obs_size = 7
    max_steps = 100_000
    fitness_range = (1.0, 100_000.0)
    target_fitness = 100_000.0

    obs_scale = (1 / 4.8, 1 / 2, 1 / 0.52, 1 / 2, 1 / 0.52, 1 / 2)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        scaled = state * state.new_tensor(self.obs_scale)
        return torch.cat((scaled, scaled.new_full((len(state), 1), self.bias_input)), dim=1)

    # evaluate: base.Task.evaluate (steps survived, failing step included).

    def solved(self, fitness: torch.Tensor) -> torch.Tensor:
        return fitness >= self.max_steps

    def kernel_view(self) -> TaskKernel:
        return TaskKernel(DOUBLE_POLE_PHYSICS, range(6), self.obs_scale, self.bias_input,
                          self.pole_friction(), self.max_steps, "steps", self.mu_c,
                          self.force_floor)


@has_kernel(*KERNEL_EPISODE, *KERNEL_CHAMPION)
class DoublePoleNV(_DoublePoleBase):
    """Double pole without velocities (non-Markov): obs 4 (x/4.8, th1/0.52, th2/0.52, 0.5);
    force (sigmoid(u) - 0.5) * 20 N; fitness = Gruau's damping fitness over at most 1,000
    steps (module docstring); solved: `champion_solved` (100,000 steps from the standard start
    and 1,000 steps from >= 200 of the 625 generalization starts). `solved(fitness)` is only
    the pre-filter fitness >= 0.1 (necessary for a run that survived all 1,000 steps)."""

    name = "double-pole-nv"
    obs_size = 4
    max_steps = 1_000
    fitness_range = (0.0, 0.1 + 0.9 * (0.75 / WOBBLE_FLOOR))  # damping_fitness's extremes
    needs_memory = True  # positions only: velocities must be remembered
    champion_test = True  # fitness only nominates; champion_solved decides
    target_fitness = 0.1  # what a run that balanced all 1,000 steps reaches: the test's gate
    long_steps = 100_000  # test (a)
    generalization_steps = 1_000  # test (b), per start
    generalization_needed = 200  # of 625

    obs_scale = (1 / 4.8, 1 / 0.52, 1 / 0.52)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        scaled = state[:, 0::2] * state.new_tensor(self.obs_scale)
        return torch.cat((scaled, scaled.new_full((len(state), 1), self.bias_input)), dim=1)

    def evaluate(self, policy: Policy, starts: torch.Tensor) -> torch.Tensor:
        survived, wobble = _episodes(self, policy, starts, self.max_steps, self.wobble)
        return self.fitness_of(survived, wobble)

    wobble = "state"  # what the damping term sums (_episodes)

    def fitness_of(self, survived: torch.Tensor, wobble: torch.Tensor) -> torch.Tensor:
        """The fitness from the episodes' survived steps and wobble (the kernel path's too)."""
        return damping_fitness(survived, wobble, self.max_steps)

    def solved(self, fitness: torch.Tensor) -> torch.Tensor:
        """Candidates worth `champion_solved`, not a verdict (see the class docstring)."""
        return fitness >= 0.1

    def kernel_view(self) -> TaskKernel:
        """Positions only; the damping fitness (`fitness_of` on the kernel's wobble)."""
        return TaskKernel(DOUBLE_POLE_PHYSICS, (0, 2, 4), self.obs_scale, self.bias_input,
                          self.pole_friction(), self.max_steps, "damping", self.mu_c,
                          self.force_floor, self.wobble)

    def long_run(self, make_policy: Callable[[int], Policy]) -> bool:
        """Test (a): one fresh network balances `long_steps` steps from the standard start."""
        start = self.initial_states(torch.Generator(), 1)
        return bool(self.survival(make_policy(1), start, self.long_steps)[0] >= self.long_steps)

    def generalization_score(self, make_policy: Callable[[int], Policy]) -> int:
        """Test (b): from how many of the 625 generalization starts a fresh network balances
        `generalization_steps` steps; the 625 episodes run as one batch."""
        starts = generalization_starts(self.dtype)
        survived = self.survival(make_policy(len(starts)), starts, self.generalization_steps)
        return int((survived >= self.generalization_steps).sum())

    def champion_solved(self, make_policy: Callable[[int], Policy]) -> bool:
        """The NEAT paper's verdict on one network. `make_policy(n)` must return a fresh
        batched policy of n copies of that network (recurrent state reset)."""
        # Both must pass; the 625 generalization episodes run as one batch of 1,000 steps,
        # far cheaper than 100,000 sequential steps, so they go first (skipped where the
        # setup needs none: generalization_needed = 0).
        if self.generalization_needed and (self.generalization_score(make_policy)
                                           < self.generalization_needed):
            return False
        return self.long_run(make_policy)


@has_kernel(*KERNEL_EPISODE, *KERNEL_CHAMPION)  # its own settings, the same kernel
class DoublePoleNVGomez(DoublePoleNV):
    """Double pole without velocities as the CoSyNE paper ran it (Gomez's ESP/CoSyNE code):
    cart friction 0.0005 and a 10/256 N force floor; obs 4 (x/2.4, th1/0.52, th2/0.52,
    bias 1.0); Gruau's fitness over the network's inputs (`input_damping_fitness`); solved
    when the champion balances 100,000 steps, without the 625-start test (module docstring)."""

    name = "double-pole-nv-gomez"
    mu_c = MU_C_GOMEZ
    force_floor = FORCE_FLOOR_GOMEZ
    bias_input = 1.0
    fitness_range = (0.0, 0.1 + 0.9 * 0.0075)  # the bias alone puts 100 in the wobble
    wobble = "inputs"
    generalization_needed = 0  # Gomez's loop stops on the 100,000-step run alone

    obs_scale = (1 / 2.4, 1 / 0.52, 1 / 0.52)

    def fitness_of(self, survived: torch.Tensor, wobble: torch.Tensor) -> torch.Tensor:
        return input_damping_fitness(survived, wobble, self.max_steps)


def input_damping_fitness(survived: torch.Tensor, wobble: torch.Tensor,
                          max_steps: int = 1_000) -> torch.Tensor:
    """Gomez's f = 0.1 * n / max_steps + 0.9 * f2, n = steps taken (the failing one
    counted: survived + 1 when it failed), f2 = 0 if n < 100 else 0.75 / wobble (a wobble
    over the inputs, bias included, so never below 100 * bias)."""
    taken = torch.where(survived < max_steps, survived + 1, survived)
    return damping_fitness(taken, wobble, max_steps)  # Gruau's formula, over the steps taken


def damping_fitness(survived: torch.Tensor, wobble: torch.Tensor,
                    max_steps: int = 1_000) -> torch.Tensor:
    """Gruau's f = 0.1 * t / max_steps + 0.9 * f2, f2 = 0 if t < 100 else 0.75 / wobble.

    A wobble of exactly 0 (a start already at rest, held there) gives a huge finite
    fitness (0.675e300) rather than inf."""
    f2 = torch.where(survived >= 100, 0.75 / wobble.clamp_min(WOBBLE_FLOOR),
                     torch.zeros_like(wobble))
    return 0.1 * survived / max_steps + 0.9 * f2


__all__ = ["DoublePole", "DoublePoleNV", "DoublePoleNVGomez", "damping_fitness", "derivatives",
           "double_pole_step", "floor_force", "generalization_starts", "input_damping_fitness",
           "out_of_bounds", "rk4"]
