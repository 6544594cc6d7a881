"""The tasks' physics for a block of episodes in lockstep, in float64, op for op as the torch path.

Each function mirrors the torch code it replaces (nas.evolution.tasks.cartpole and
.double_pole) operation by operation, constants included, so both round alike: torch's
`addcmul(s, a, b, value=v)` is `fma(v * a, b, s)` and `add(a, b, alpha=k)` is
`fma(b, k, a)` on x86 CPUs (measured, torch 2.13: its CPU kernels contract them), so
those are fused here too (`fma`, LLVM's fused multiply-add); every other operation is a
plain IEEE operation in the same order. What still differs is the transcendental
functions: torch's vectorized sin/cos/exp (SLEEF / its own) and ours (trig.sincos,
trig.exp: within 1 ulp, like glibc's) disagree in the last bit for ~0.1-3% of
arguments, so trajectories agree to round-off, not bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from nas.evolution.kernels._numba import jit
from nas.evolution.kernels.trig import exp, fma, sincos
from nas.evolution.kernels.registry import CARTPOLE, DOUBLE_POLE  # noqa: F401  (physics ids)
from nas.evolution.tasks import cartpole as cp
from nas.evolution.tasks import double_pole as dp

# cartpole constants, as cartpole_step writes them
CP_FORCE = cp.FORCE_MAG
CP_PML = cp.POLEMASS_LENGTH
CP_TOTAL = cp.TOTAL_MASS
CP_GRAVITY = cp.GRAVITY
CP_NEG_MP_OVER_TM = -cp.MASS_POLE / cp.TOTAL_MASS
CP_NEG_PML_OVER_TM = -cp.POLEMASS_LENGTH / cp.TOTAL_MASS
CP_FOUR_THIRDS = 4.0 / 3.0
CP_HALF = cp.HALF_LENGTH
CP_TAU = cp.TAU
CP_X_LIMIT = cp.X_LIMIT
CP_THETA_LIMIT = cp.THETA_LIMIT

# double pole constants, per pole as double_pole._constants builds them
DP_ML1, DP_ML2 = dp.MASS_POLE_1 * dp.HALF_LENGTH_1, dp.MASS_POLE_2 * dp.HALF_LENGTH_2
DP_M341, DP_M342 = 0.75 * dp.MASS_POLE_1, 0.75 * dp.MASS_POLE_2
DP_M1, DP_M2 = dp.MASS_POLE_1, dp.MASS_POLE_2
DP_NEG34L1, DP_NEG34L2 = -0.75 / dp.HALF_LENGTH_1, -0.75 / dp.HALF_LENGTH_2
DP_NEG_G = -dp.GRAVITY
DP_CART = dp.MASS_CART
DP_FORCE2, DP_FORCE_MAG = 2 * dp.FORCE_MAG, dp.FORCE_MAG
DP_HALF_TAU, DP_TAU, DP_TAU6 = 0.5 * dp.TAU, dp.TAU, dp.TAU / 6.0
DP_RK4_STEPS = dp.RK4_STEPS
DP_X_LIMIT, DP_ANGLE_LIMIT = dp.X_LIMIT, dp.ANGLE_LIMIT


# Episodes' float64 scratch is one [7, 6, lanes] array `w`, lane (episode) index innermost
# so a loop over lanes vectorizes: w[STATE, :, l] is lane l's state (cartpole: its first 4
# entries), K1..TMP the RK4 stages, w[FORCE, 0, l] the double pole's force. Every
# function runs lanes lo..hi (unsigned) with one loop body per lane and no libm call
# (trig.sincos, trig.exp), so a lane's result never depends on its position or
# on how many lanes run. (Indices into one array rather than views: handing arrays around
# in the step loop would cost reference counting per step.)
K1, K2, K3, K4, TMP, STATE, FORCE = 0, 1, 2, 3, 4, 5, 6
STAGES = 7
EXP_CLAMP = 700.0  # float64 sigmoid(-x) is 1 or below 1e-300 beyond it: no change


@jit(inline="always")
def cartpole_step(w, s, push_right):
    """cartpole_step for lane s's state, in place; True if terminated."""
    x, x_dot, theta, theta_dot = w[STATE, 0, s], w[STATE, 1, s], w[STATE, 2, s], w[STATE, 3, s]
    force = CP_FORCE if push_right else -CP_FORCE
    sin, cos = sincos(theta)
    temp = fma(CP_PML * (theta_dot * theta_dot), sin, force) / CP_TOTAL
    cos2 = cos * cos
    theta_acc = fma(-1.0 * cos, temp, CP_GRAVITY * sin) / (
        ((cos2 * CP_NEG_MP_OVER_TM) + CP_FOUR_THIRDS) * CP_HALF)
    x_acc = fma(CP_NEG_PML_OVER_TM * theta_acc, cos, temp)
    w[STATE, 0, s] = fma(x_dot, CP_TAU, x)
    w[STATE, 1, s] = fma(x_acc, CP_TAU, x_dot)
    w[STATE, 2, s] = fma(theta_dot, CP_TAU, theta)
    w[STATE, 3, s] = fma(theta_acc, CP_TAU, theta_dot)
    return (abs(w[STATE, 0, s]) > CP_X_LIMIT) | (abs(w[STATE, 2, s]) > CP_THETA_LIMIT)


@jit(inline="always")
def _derivatives(w, lo, hi, at, fric1, fric2, muc, into):
    """double_pole.derivatives of the states in w[at], into w[into], for lanes lo..hi."""
    for s in range(lo, hi):
        force = w[FORCE, 0, s]
        if muc != 0.0:  # cart friction (Gomez's setup), as double_pole.derivatives branches
            force = force - (muc if w[at, 1, s] >= 0 else -muc)
        th1, th1d, th2, th2d = w[at, 2, s], w[at, 3, s], w[at, 4, s], w[at, 5, s]
        sin1, cos1 = sincos(th1)
        sin2, cos2 = sincos(th2)
        torque1 = fma(sin1, DP_NEG_G, th1d * fric1)
        torque2 = fma(sin2, DP_NEG_G, th2d * fric2)
        eff_force1 = fma(1.0 * (DP_M341 * cos1), torque1, ((DP_ML1 * th1d) * th1d) * sin1)
        eff_force2 = fma(1.0 * (DP_M342 * cos2), torque2, ((DP_ML2 * th2d) * th2d) * sin2)
        eff_mass1 = DP_M1 - (DP_M341 * cos1) * cos1
        eff_mass2 = DP_M2 - (DP_M342 * cos2) * cos2
        x_acc = (force + (eff_force1 + eff_force2)) / ((eff_mass1 + eff_mass2) + DP_CART)
        w[into, 0, s] = w[at, 1, s]
        w[into, 1, s] = x_acc
        w[into, 2, s] = th1d
        w[into, 3, s] = fma(1.0 * x_acc, cos1, torque1) * DP_NEG34L1
        w[into, 4, s] = th2d
        w[into, 5, s] = fma(1.0 * x_acc, cos2, torque2) * DP_NEG34L2


@jit(inline="always")
def _stage(w, lo, hi, k, h):
    """w[TMP] = w[STATE] + h * w[k] (torch's add with alpha: fused)."""
    for i in range(6):
        for s in range(lo, hi):
            w[TMP, i, s] = fma(w[k, i, s], h, w[STATE, i, s])


@jit(inline="always")
def _rk4(w, lo, hi, fric1, fric2, muc):
    """double_pole.rk4 of the states in w[STATE], in place."""
    _derivatives(w, lo, hi, STATE, fric1, fric2, muc, K1)
    _stage(w, lo, hi, K1, DP_HALF_TAU)
    _derivatives(w, lo, hi, TMP, fric1, fric2, muc, K2)
    _stage(w, lo, hi, K2, DP_HALF_TAU)
    _derivatives(w, lo, hi, TMP, fric1, fric2, muc, K3)
    _stage(w, lo, hi, K3, DP_TAU)
    _derivatives(w, lo, hi, TMP, fric1, fric2, muc, K4)
    for i in range(6):
        for s in range(lo, hi):
            w[STATE, i, s] = fma(fma(w[K2, i, s] + w[K3, i, s], 2.0, w[K1, i, s] + w[K4, i, s]),
                                 DP_TAU6, w[STATE, i, s])


@jit(inline="always")
def double_pole_force(output, floor):
    """_DoublePoleBase.force: (sigmoid(u) - 0.5) * 20 N, the sigmoid in float64; with a
    `floor` > 0, double_pole.floor_force of it."""
    z = -np.float64(output)
    z = -EXP_CLAMP if z < -EXP_CLAMP else z  # (NaN passes)
    z = EXP_CLAMP if z > EXP_CLAMP else z
    force = (1.0 / (1.0 + exp(z)) - 0.5) * DP_FORCE2
    if floor > 0.0:
        force = DP_FORCE_MAG if math.isnan(force) else force
        force = (floor if force >= 0 else -floor) if abs(force) < floor else force
    return force


@jit(inline="always")
def control(physics, w, lo, hi, u, fric1, fric2, muc, floor, fell):
    """Task.step for lanes lo..hi (unsigned) of w, in place, for the network outputs u[l]
    (float32): fell[l] True if lane l's episode failed."""
    if physics == CARTPOLE:
        for s in range(lo, hi):
            fell[s] = cartpole_step(w, s, u[s] > np.float32(0.0))
        return
    for s in range(lo, hi):
        w[FORCE, 0, s] = double_pole_force(u[s], floor)
    for _ in range(DP_RK4_STEPS):
        _rk4(w, lo, hi, fric1, fric2, muc)
    for s in range(lo, hi):
        fell[s] = ((abs(w[STATE, 0, s]) > DP_X_LIMIT) | (abs(w[STATE, 2, s]) > DP_ANGLE_LIMIT)
                   | (abs(w[STATE, 4, s]) > DP_ANGLE_LIMIT))


@jit(inline="always")
def wobble(w, s):
    """|x| + |x_dot| + |th1| + |th1_dot| of lane s's state, summed in order (torch's 4-element
    row sum)."""
    return ((abs(w[STATE, 0, s]) + abs(w[STATE, 1, s])) + abs(w[STATE, 2, s])) + abs(w[STATE, 3, s])


@jit(inline="always")
def input_wobble(w, s, obs_index, obs_scale, bias, has_bias):
    """The observation's sum of |input| in float64 (Gomez's wobble: torch's
    `observe(state).abs().sum(1)`), summed in order, the bias last."""
    total = 0.0
    for i in range(obs_index.shape[0]):
        total += abs(w[STATE, obs_index[i], s] * obs_scale[i])
    return total + abs(bias) if has_bias else total


@jit(inline="always")
def window_sum(window, s, lanes):
    """torch's sum of a contiguous float64 row of 100 (`window.sum(1)` in
    double_pole._episodes; here window[s]) in torch's own order: `lanes`-wide vectors (8 with AVX512, else
    4) in 4 interleaved accumulators, the scalar tail first, then lane by lane."""
    n = window.shape[1]
    n_vec = n // lanes
    n_ilp = n_vec // 4
    total = 0.0
    for k in range(n_vec * lanes, n):
        total += window[s, k]
    for lane in range(lanes):
        p0 = p1 = p2 = p3 = 0.0
        for i in range(n_ilp):
            base = i * 4 * lanes + lane
            p0 += window[s, base]
            p1 += window[s, base + lanes]
            p2 += window[s, base + 2 * lanes]
            p3 += window[s, base + 3 * lanes]
        for v in range(n_ilp * 4, n_vec):
            p0 += window[s, v * lanes + lane]
        total += ((p0 + p1) + p2) + p3
    return total
