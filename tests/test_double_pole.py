"""The batched double pole tasks against a plain-Python reference written from the equations
of motion, plus physical sanity, the damping fitness, the generalization grid and batching."""
import math
import random

import pytest
import torch

from nas.evolution.tasks.double_pole import (
    ANGLE_LIMIT, DoublePole, DoublePoleNV, damping_fitness, double_pole_step,
    generalization_starts)

# ---------------------------------------------------------------------------------------------
# Reference: one state at a time, plain floats, gravity written as +9.8.
G, M_CART, MU_P = 9.8, 1.0, 2e-6
POLES = ((0.1, 0.5), (0.01, 0.05))  # (mass, half-length)


def ref_derivs(s, force, mu_p=MU_P, mu_c=0.0):
    x, xd, th1, th1d, th2, th2d = s
    force -= mu_c * (1.0 if xd >= 0 else -1.0)  # cart friction, sgn(0) = +1
    eff_force, eff_mass, parts = 0.0, 0.0, []
    for (m, l), th, thd in zip(POLES, (th1, th2), (th1d, th2d)):
        c, sn = math.cos(th), math.sin(th)
        eff_force += m * l * thd * thd * sn + 0.75 * m * c * (mu_p * thd / (m * l) - G * sn)
        eff_mass += m * (1.0 - 0.75 * c * c)
        parts.append((m, l, c, sn, thd))
    x_acc = (force + eff_force) / (M_CART + eff_mass)
    acc = [-3.0 / (4.0 * l) * (x_acc * c - G * sn + mu_p * thd / (m * l))
           for m, l, c, sn, thd in parts]
    return [xd, x_acc, th1d, acc[0], th2d, acc[1]]


def ref_rk4(s, force, h=0.01, mu_p=MU_P, mu_c=0.0):
    k1 = ref_derivs(s, force, mu_p, mu_c)
    k2 = ref_derivs([a + h / 2 * b for a, b in zip(s, k1)], force, mu_p, mu_c)
    k3 = ref_derivs([a + h / 2 * b for a, b in zip(s, k2)], force, mu_p, mu_c)
    k4 = ref_derivs([a + h * b for a, b in zip(s, k3)], force, mu_p, mu_c)
    return [a + h / 6 * (p + 2 * q + 2 * r + w) for a, p, q, r, w in zip(s, k1, k2, k3, k4)]


def ref_force(u, floor=0.0):
    """Stanley's force; with a floor, Gomez's: |force| >= floor, 0 counted as positive."""
    f = (1.0 / (1.0 + math.exp(-u)) - 0.5) * 20.0
    if 0 <= f < floor:
        return floor
    return -floor if -floor < f < 0 else f


def ref_control_step(s, u, mu_c=0.0, floor=0.0):
    f = ref_force(u, floor)
    s = ref_rk4(ref_rk4(s, f, mu_c=mu_c), f, mu_c=mu_c)
    failed = abs(s[0]) > 2.4 or abs(s[2]) > 0.628329 or abs(s[4]) > 0.628329
    return s, failed


def energy(s):
    """Cart plus two uniform rods hinged on it (inertia m l^2 / 3 about the centre)."""
    x, xd, th1, th1d, th2, th2d = s
    e = 0.5 * M_CART * xd * xd
    for (m, l), th, thd in zip(POLES, (th1, th2), (th1d, th2d)):
        vx, vy = xd + l * thd * math.cos(th), -l * thd * math.sin(th)
        e += (0.5 * m * (vx * vx + vy * vy) + 0.5 * m * l * l / 3 * thd * thd
              + m * G * l * math.cos(th))
    return e


# ---------------------------------------------------------------------------------------------
# Test policies.
# Discrete LQR gains for the linearized plant (0.02 s hold, force ~ 5 * output near 0), on the
# scaled Markov observation x/4.8, x_dot/2, th1/0.52, th1_dot/2, th2/0.52, th2_dot/2.
LQR = (-1.6191045323390818, -1.4759278574833212, -7.399385143541858, -7.506442961502193,
       5.276439363051052, 1.7904430882235651)


class Linear:
    """A fixed linear controller per row on the Markov observation."""

    def __init__(self, weights):
        self.w = torch.as_tensor(weights, dtype=torch.float64)

    def __call__(self, obs):
        return (obs * self.w).sum(1, keepdim=True)

    def keep(self, rows):
        self.w = self.w[rows]


class FiniteDifference:
    """Non-Markov controller: velocities from finite differences of observed positions,
    then LQR-like gains per row; from control step `give_up` on it pushes right flat out."""

    def __init__(self, gains, give_up=None, scale=(4.8, 0.52, 0.52)):
        self.w, self.scale = torch.as_tensor(gains, dtype=torch.float64), scale
        n = len(self.w)
        self.give_up = torch.as_tensor(give_up if give_up is not None else [10**9] * n,
                                       dtype=torch.float64)
        self.prev, self.t = None, 0

    def __call__(self, obs):
        pos = obs[:, :3] * torch.tensor(self.scale, dtype=torch.float64)
        vel = (pos - (pos if self.prev is None else self.prev)) / 0.02
        self.prev = pos
        full = torch.stack((pos[:, 0] / 4.8, vel[:, 0] / 2, pos[:, 1] / 0.52, vel[:, 1] / 2,
                            pos[:, 2] / 0.52, vel[:, 2] / 2), dim=1)
        out = (full * self.w).sum(1)
        out = torch.where(self.t >= self.give_up, torch.full_like(out, 5.0), out)
        self.t += 1
        return out.unsqueeze(1)

    def keep(self, rows):
        self.w, self.give_up = self.w[rows], self.give_up[rows]
        if self.prev is not None:
            self.prev = self.prev[rows]


def ref_nv_episode(start, gains, give_up, max_steps=1000):
    """The same controller and the damping fitness, by hand, for one row."""
    s, prev, wobble = list(start), None, []
    for t in range(max_steps):
        pos = [s[0] / 4.8 * 4.8, s[2] / 0.52 * 0.52, s[4] / 0.52 * 0.52]
        vel = [0.0] * 3 if prev is None else [(a - b) / 0.02 for a, b in zip(pos, prev)]
        prev = pos
        full = [pos[0] / 4.8, vel[0] / 2, pos[1] / 0.52, vel[1] / 2, pos[2] / 0.52, vel[2] / 2]
        u = 5.0 if t >= give_up else sum(a * b for a, b in zip(full, gains))
        s, failed = ref_control_step(s, u)
        if failed:
            break
        wobble.append(abs(s[0]) + abs(s[1]) + abs(s[2]) + abs(s[3]))
    steps = len(wobble)
    f2 = 0.0 if steps < 100 else 0.75 / sum(wobble[-100:])
    return steps, 0.1 * steps / 1000 + 0.9 * f2


def std_start():
    return [0.0, 0.0, 0.07, 0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------------------------
def test_names_sizes_start_observation_and_force():
    mp, nv = DoublePole(), DoublePoleNV()
    for task, sizes in ((mp, ("double-pole", 7, 1, 6, 100_000)),
                        (nv, ("double-pole-nv", 4, 1, 6, 1_000))):
        assert (task.name, task.obs_size, task.act_size, task.state_size, task.max_steps) == sizes
    starts = mp.initial_states(torch.Generator().manual_seed(0), 3)
    assert starts.dtype == torch.float64 and starts.tolist() == [std_start()] * 3
    s = torch.tensor([[1.2, -0.4, 0.13, 0.6, -0.26, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(mp.observe(s)[0], torch.tensor(
        [1.2 / 4.8, -0.4 / 2, 0.13 / 0.52, 0.6 / 2, -0.26 / 0.52, 1.0 / 2, 0.5], dtype=torch.float64))
    torch.testing.assert_close(nv.observe(s)[0], torch.tensor(
        [1.2 / 4.8, 0.13 / 0.52, -0.26 / 0.52, 0.5], dtype=torch.float64))
    u = torch.tensor([[0.0], [1.3], [-0.7], [60.0], [-60.0]])
    expected = torch.tensor([ref_force(float(v)) for v in u[:, 0]], dtype=torch.float64)
    torch.testing.assert_close(mp.force(u), expected, rtol=0, atol=1e-12)
    assert float(mp.force(u)[3]) == pytest.approx(10.0)
    assert float(mp.force(u)[4]) == pytest.approx(-10.0)


def test_step_matches_reference_on_random_states_and_outputs():
    rng = random.Random(0)
    states = [[rng.uniform(-2.4, 2.4), rng.uniform(-2, 2), rng.uniform(-0.6, 0.6),
               rng.uniform(-3, 3), rng.uniform(-0.6, 0.6), rng.uniform(-3, 3)] for _ in range(200)]
    outs = [rng.gauss(0.0, 2.0) for _ in range(200)]
    task = DoublePole()
    ours, failed = task.step(torch.tensor(states, dtype=torch.float64),
                             torch.tensor(outs, dtype=torch.float64).unsqueeze(1))
    for i in range(200):
        ref, ref_failed = ref_control_step(states[i], outs[i])
        torch.testing.assert_close(ours[i], torch.tensor(ref, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-12)
        assert bool(failed[i]) == ref_failed
    assert 0 < int(failed.sum()) < 200  # the sample reaches both sides of the limits


def test_a_whole_closed_loop_episode_matches_reference():
    """Each side runs its own controller on its own state (the loop keeps round-off small)."""
    task, s, ref = DoublePole(), torch.tensor([std_start()], dtype=torch.float64), std_start()
    policy, scale = Linear([list(LQR) + [0.0]]), (4.8, 2, 0.52, 2, 0.52, 2)
    worst = 0.0
    for _ in range(500):
        s, failed = task.step(s, policy(task.observe(s)))
        u = sum(w * v / k for w, v, k in zip(LQR, ref, scale))
        ref, ref_failed = ref_control_step(ref, u)
        assert not bool(failed[0]) and not ref_failed
        worst = max(worst, max(abs(a - b) for a, b in zip(s[0].tolist(), ref)))
    assert worst < 1e-12


def test_energy_is_conserved_without_friction_and_force():
    s = torch.tensor([[0.0, 0.0, 0.05, 0.0, -0.02, 0.0]], dtype=torch.float64)
    e0, drift, zero = energy(s[0].tolist()), 0.0, torch.zeros(1, dtype=torch.float64)
    for _ in range(300):  # the poles fall past the limits and swing: a hard test for RK4
        s, _ = double_pole_step(s, zero, mu_p=0.0)
        drift = max(drift, abs(energy(s[0].tolist()) - e0))
    assert drift < 1e-6 * e0
    # and the task's own friction switch does the same thing
    class Frictionless(DoublePole):
        mu_p = 0.0
    s0 = torch.tensor([[0.0, 0.0, 0.05, 0.0, -0.02, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(Frictionless().step(s0, torch.zeros(1, 1))[0],
                               double_pole_step(s0, zero, mu_p=0.0)[0], rtol=0, atol=0)


def test_zero_force_falls_and_fails_within_a_bounded_number_of_steps():
    class Zero:
        def __call__(self, obs):
            return torch.zeros(len(obs), 1)

        def keep(self, rows):
            pass

    mp, nv = DoublePole(), DoublePoleNV()
    fitness = mp.evaluate(Zero(), mp.initial_states(torch.Generator(), 2))
    assert fitness[0] == fitness[1] and 2 <= float(fitness[0]) <= 100
    states, _, _ = mp.trace(Zero(), mp.initial_states(torch.Generator(), 1)[0], 1000)
    assert len(states) == int(fitness[0]) + 1  # failing step included
    last = states[-1]
    assert max(abs(last[2]), abs(last[4])) > ANGLE_LIMIT and abs(last[0]) <= 2.4
    survived = nv.survival(Zero(), nv.initial_states(torch.Generator(), 1), 1000)
    assert float(survived[0]) == float(fitness[0]) - 1  # survived steps exclude the failing one


def test_leaving_the_track_or_tilting_past_36_degrees_fails():
    task = DoublePole()
    s = torch.tensor([[2.39, 2.0, 0.0, 0.0, 0.0, 0.0],     # runs off to the right
                      [-2.39, -2.0, 0.0, 0.0, 0.0, 0.0],   # and to the left
                      [2.3, 0.0, 0.0, 0.0, 0.0, 0.0],      # at rest, upright: fine
                      [0.0, 0.0, 0.0, 0.0, 0.63, 0.0],     # short pole past 36 degrees
                      [0.0, 0.0, -0.63, 0.0, 0.0, 0.0]],   # long pole past 36 degrees
                     dtype=torch.float64)
    nxt, failed = task.step(s, torch.zeros(5, 1))
    assert failed.tolist() == [True, True, False, True, True]
    assert float(nxt[0, 0]) > 2.4 and float(nxt[1, 0]) < -2.4


def test_damping_fitness_formula_by_hand():
    survived = torch.tensor([50.0, 99.0, 100.0, 640.0, 1000.0], dtype=torch.float64)
    wobble = torch.tensor([3.0, 3.0, 7.5, 2.5, 0.01], dtype=torch.float64)
    expected = [0.005, 0.0099, 0.01 + 0.9 * 0.1, 0.064 + 0.9 * 0.3, 0.1 + 0.9 * 75.0]
    torch.testing.assert_close(damping_fitness(survived, wobble),
                               torch.tensor(expected, dtype=torch.float64), rtol=1e-14, atol=0)


def test_damping_fitness_matches_a_per_row_reference_episode():
    gains = [list(LQR), [0.5 * w for w in LQR], list(LQR), list(LQR), [0.0] * 6]
    give_up = [10**9, 10**9, 400, 150, 10**9]  # survive, survive, fail mid-way x2, fall at once
    task = DoublePoleNV()
    starts = task.initial_states(torch.Generator(), 5)
    fitness = task.evaluate(FiniteDifference(gains, give_up), starts)
    ref = [ref_nv_episode(std_start(), g, k) for g, k in zip(gains, give_up)]
    steps = [r[0] for r in ref]
    assert steps[0] == steps[1] == 1000 and 400 < steps[2] < 1000 and 150 < steps[3] < 400
    assert steps[4] < 100
    # row 0 settles to a wobble sum of ~1e-6 (fitness ~1e6), where round-off is relatively big
    torch.testing.assert_close(fitness, torch.tensor([r[1] for r in ref], dtype=torch.float64),
                               rtol=1e-7, atol=0)
    assert task.solved(fitness).tolist()[:2] == [True, True] and not bool(task.solved(fitness)[4])


def test_generalization_grid_has_625_distinct_starts_in_the_stated_ranges():
    starts = generalization_starts()
    assert starts.shape == (625, 6) and starts.dtype == torch.float64
    assert len({tuple(r) for r in starts.tolist()}) == 625
    assert bool((starts[:, 4:] == 0).all())
    for col, limit in zip(range(4), (2.16, 1.35, 0.0628, 0.150)):
        values = sorted(set(starts[:, col].tolist()))
        assert len(values) == 5
        for v, frac in zip(values, (0.05, 0.25, 0.5, 0.75, 0.95)):
            assert v == pytest.approx(-limit + frac * 2 * limit, rel=1e-3, abs=1e-9)
        assert (starts[:, col] == values[0]).sum() == 125


def test_a_batch_of_policies_scores_each_row_as_if_alone():
    mp = DoublePole()
    mp.max_steps = 300
    weights = [[s * w for w in LQR] + [b] for s, b in
               ((1.0, 0.0), (0.3, 0.0), (2.0, 0.1), (0.0, 0.0), (1.0, 0.8), (-1.0, 0.0))]
    starts = mp.initial_states(torch.Generator(), len(weights))
    together = mp.evaluate(Linear(weights), starts)
    alone = torch.cat([mp.evaluate(Linear([w]), starts[:1]) for w in weights])
    assert together.tolist() == alone.tolist()
    assert 300.0 in together.tolist() and min(together.tolist()) < 300

    nv = DoublePoleNV()
    gains = [list(LQR), [0.0] * 6, [1.5 * w for w in LQR], list(LQR)]
    give_up = [10**9, 10**9, 10**9, 200]
    starts = generalization_starts()[[0, 156, 313, 468]]
    together = nv.evaluate(FiniteDifference(gains, give_up), starts)
    alone = torch.cat([nv.evaluate(FiniteDifference([g], [k]), starts[i:i + 1])
                       for i, (g, k) in enumerate(zip(gains, give_up))])
    torch.testing.assert_close(together, alone, rtol=1e-13, atol=0)


def test_champion_test_runs_fresh_batches_and_decides():
    nv = DoublePoleNV()
    nv.long_steps = 2_000  # the real test is 100,000 steps; the logic is the same
    asked = []

    def make(gains):
        def make_policy(n):
            asked.append(n)
            return FiniteDifference([gains] * n)
        return make_policy

    assert nv.generalization_score(make(list(LQR))) >= 200
    assert nv.champion_solved(make(list(LQR)))
    assert asked[-2:] == [625, 1]
    asked.clear()
    assert not nv.champion_solved(make([0.0] * 6))
    assert asked == [625]  # failing the (cheap, batched) generalization skips the long run
    # doing nothing only "balances" the 5 starts already at rest (x_dot = th1 = th1_dot = 0)
    assert nv.generalization_score(make([0.0] * 6)) == 5
