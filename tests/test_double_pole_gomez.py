"""double-pole-nv-gomez, Gomez's ESP/CoSyNE setup of the non-Markov double pole, against the
same plain-Python reference as the Stanley setup (test_double_pole) with his differences:
cart friction, the force floor, the inputs and the fitness over them."""
import math

import pytest
import torch

from nas.evolution.tasks import get_task
from nas.evolution.tasks.double_pole import (
    FORCE_FLOOR_GOMEZ, MU_C_GOMEZ, DoublePoleNV, DoublePoleNVGomez, input_damping_fitness)
from test_double_pole import LQR, FiniteDifference, ref_control_step, std_start

SCALE = (2.4, 0.52, 0.52)


def gomez_step(s, u, floor=FORCE_FLOOR_GOMEZ):
    return ref_control_step(s, u, mu_c=MU_C_GOMEZ, floor=floor)


def ref_gomez_episode(start, gains, give_up, max_steps=1000, floor=FORCE_FLOOR_GOMEZ):
    """FiniteDifference's controller and Gomez's fitness by hand, one row: the wobble sums
    |input| (bias included) of the inputs seen before each step, the failing one counted."""
    s, prev, seen = list(start), None, []
    for t in range(max_steps):
        seen.append(abs(s[0] / 2.4) + abs(s[2] / 0.52) + abs(s[4] / 0.52) + 1.0)
        pos = [s[0] / 2.4 * 2.4, s[2] / 0.52 * 0.52, s[4] / 0.52 * 0.52]
        vel = [0.0] * 3 if prev is None else [(a - b) / 0.02 for a, b in zip(pos, prev)]
        prev = pos
        full = [pos[0] / 4.8, vel[0] / 2, pos[1] / 0.52, vel[1] / 2, pos[2] / 0.52, vel[2] / 2]
        u = 5.0 if t >= give_up else sum(a * b for a, b in zip(full, gains))
        s, failed = gomez_step(s, u, floor)
        if failed:
            break
    n = len(seen)
    f2 = 0.0 if n < 100 else 0.75 / sum(seen[-100:])
    return n, 0.1 * n / 1000 + 0.9 * f2


def test_name_sizes_observation_and_what_it_shares_with_stanleys_setup():
    task = get_task("double-pole-nv-gomez")
    assert type(task) is DoublePoleNVGomez and isinstance(task, DoublePoleNV)
    assert (task.obs_size, task.act_size, task.max_steps, task.needs_memory,
            task.champion_test) == (4, 1, 1000, True, True)
    s = torch.tensor([[1.2, -0.4, 0.13, 0.6, -0.26, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(task.observe(s)[0], torch.tensor(
        [1.2 / 2.4, 0.13 / 0.52, -0.26 / 0.52, 1.0], dtype=torch.float64))
    assert task.initial_states(torch.Generator(), 2).tolist() == [std_start()] * 2


def test_the_force_never_falls_below_the_floor_and_keeps_its_sign():
    task = DoublePoleNVGomez()
    u = torch.tensor([[0.0], [1e-4], [-1e-4], [-1e-9], [1.3], [-60.0], [float("nan")]])
    force = task.force(u).tolist()
    floor = 10.0 / 256
    assert force[:4] == [floor, floor, -floor, -floor]
    assert force[4] == pytest.approx((1 / (1 + math.exp(-1.3)) - 0.5) * 20, abs=1e-6)
    assert force[5] == pytest.approx(-10.0) and force[6] == 10.0
    assert DoublePoleNV().force(u[:1]).tolist() == [0.0]  # Stanley's has no floor


def test_step_with_cart_friction_matches_the_reference():
    gen = torch.Generator().manual_seed(0)
    states = (torch.rand(300, 6, generator=gen, dtype=torch.float64) - 0.5) * torch.tensor(
        [4.8, 4, 1.2, 6, 1.2, 6], dtype=torch.float64)
    states[::10, 1] = 0.0  # sgn(0) = +1
    outs = torch.randn(300, 1, generator=gen, dtype=torch.float64) * 2
    outs[::7] = 0.0  # the floor
    ours, failed = DoublePoleNVGomez().step(states, outs)
    for i in range(300):
        ref, ref_failed = gomez_step(states[i].tolist(), float(outs[i, 0]))
        torch.testing.assert_close(ours[i], torch.tensor(ref, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-12)
        assert bool(failed[i]) == ref_failed
    assert 0 < int(failed.sum()) < 300


def test_friction_slows_a_sliding_cart_by_mu_c_over_the_mass():
    """Poles hanging still upright, no net force but the floor (the same in both setups'
    step here: output 0 gives the floor's +10/256 N with Gomez's, 0 N with Stanley's), so
    the cart's speed changes by (F - mu_c) / M over the 0.02 s step, to first order, M the
    cart plus the upright poles' effective masses (m (1 - 3/4 cos^2 0) = m / 4 each)."""
    s = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    u = torch.zeros(1, 1, dtype=torch.float64)
    gomez = DoublePoleNVGomez().step(s, u)[0][0, 1].item()
    stanley = DoublePoleNV().step(s, u)[0][0, 1].item()
    assert stanley == 1.0
    assert gomez - 1.0 == pytest.approx((10 / 256 - MU_C_GOMEZ) * 0.02 / 1.0275, rel=1e-3)


def test_input_damping_fitness_formula_by_hand():
    survived = torch.tensor([50.0, 98.0, 99.0, 640.0, 1000.0], dtype=torch.float64)
    wobble = torch.tensor([60.0, 120.0, 120.0, 150.0, 100.0], dtype=torch.float64)
    # steps taken: 51, 99, 100 and 641 (each failed, the failing step counted), 1000
    expected = [0.0051, 0.0099, 0.01 + 0.9 * 0.75 / 120, 0.0641 + 0.9 * 0.005,
                0.1 + 0.9 * 0.0075]
    torch.testing.assert_close(input_damping_fitness(survived, wobble),
                               torch.tensor(expected, dtype=torch.float64), rtol=1e-14, atol=0)


def test_episode_fitness_matches_a_per_row_reference_episode():
    """Steps alike; fitness within 1e-4: the floor makes the force jump by 2 x 10/256 N where
    a near-balanced controller's output crosses 0, so the two sums' last-bit differences
    send long episodes on different (equally good) paths. Without the floor they agree to
    1e-12 (the second half)."""
    gains = [list(LQR), [0.5 * w for w in LQR], list(LQR), list(LQR), [0.0] * 6]
    give_up = [10**9, 10**9, 400, 150, 10**9]  # survive, survive, fail mid-way x2, fall at once
    task = DoublePoleNVGomez()
    starts = task.initial_states(torch.Generator(), 5)
    fitness = task.evaluate(FiniteDifference(gains, give_up, SCALE), starts)
    survived = task.survival(FiniteDifference(gains, give_up, SCALE), starts, 1000)
    ref = [ref_gomez_episode(std_start(), g, k) for g, k in zip(gains, give_up)]
    steps = [r[0] for r in ref]
    assert steps == [1000, 1000, 405, 155, 28]
    assert (survived + (survived < 1000)).tolist() == steps  # the failing step counted
    torch.testing.assert_close(fitness, torch.tensor([r[1] for r in ref], dtype=torch.float64),
                               rtol=1e-4, atol=0)
    # survival decides: each balancing row beats each failing one; damping breaks the tie
    assert min(fitness[:2]) > max(fitness[2:]) and fitness[0] != fitness[1]

    task.force_floor = 0.0
    fitness = task.evaluate(FiniteDifference(gains, give_up, SCALE), starts)
    ref = [ref_gomez_episode(std_start(), g, k, floor=0.0)[1] for g, k in zip(gains, give_up)]
    torch.testing.assert_close(fitness, torch.tensor(ref, dtype=torch.float64), rtol=1e-11, atol=0)


def test_solved_by_the_long_run_alone_where_stanleys_setup_also_needs_generalization():
    """Gomez's loop stops on the 100,000-step run; the 625-start test is not part of it.
    Shorter tests (instance settings) so random networks land on both sides."""
    from test_kernels import pure_batch
    gomez, mode, genomes, _ = pure_batch("double-pole-nv-gomez", (4,), "tanh", "full",
                                         rows=40, seed=3)
    gomez.long_steps, gomez.generalization_steps = 12, 10
    both = DoublePoleNVGomez()
    both.long_steps, both.generalization_steps, both.generalization_needed = 12, 10, 625

    def copies(i):
        return lambda n: mode.copies(genomes, i, n, "cpu")

    with torch.inference_mode():
        alone = [gomez.champion_solved(copies(i)) for i in range(40)]
        long_run = [gomez.long_run(copies(i)) for i in range(40)]
        with_test = [both.champion_solved(copies(i)) for i in range(40)]
    assert gomez.generalization_needed == 0 and alone == long_run
    assert any(a and not w for a, w in zip(alone, with_test))
    assert not any(w and not a for a, w in zip(alone, with_test))
