"""The tasks' physics for one episode at a time, in float64, op for op as the torch path.

Each function mirrors the torch code it replaces (nas.evolution.tasks.cartpole and
.double_pole) operation by operation, constants included, so both round alike: torch's
`addcmul(s, a, b, value=v)` is `fma(v * a, b, s)` and `add(a, b, alpha=k)` is
`fma(b, k, a)` on x86 CPUs (measured, torch 2.13: its CPU kernels contract them), so
those are fused here too (`fma`, LLVM's fused multiply-add); every other operation is a
plain IEEE operation in the same order. What still differs is the transcendental
functions: torch's vectorized sin/cos/exp (SLEEF / its own) and glibc's disagree in the
last bit for ~0.1-3% of arguments, so trajectories agree to round-off, not bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from nas.evolution.kernels._numba import jit
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


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma: the FMA instruction, or libm's fma)."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * 3)
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.f64")
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


# An episode's float64 scratch is w[s] of a [slots, 6, 6] array `w`, s its slot (unsigned):
# rows the state (cartpole: its first 4 entries) and the RK4 stages. (Indices into one
# array rather than array views: handing arrays around in the step loop would cost
# reference counting per step.)
K1, K2, K3, K4, TMP, STATE = 0, 1, 2, 3, 4, 5


@jit(inline="always")
def cartpole_step(w, s, push_right):
    """cartpole_step for the state in w[s, STATE], in place; True if terminated."""
    x, x_dot, theta, theta_dot = w[s, STATE, 0], w[s, STATE, 1], w[s, STATE, 2], w[s, STATE, 3]
    force = CP_FORCE if push_right else -CP_FORCE
    cos, sin = math.cos(theta), math.sin(theta)
    temp = fma(CP_PML * (theta_dot * theta_dot), sin, force) / CP_TOTAL
    cos2 = cos * cos
    theta_acc = fma(-1.0 * cos, temp, CP_GRAVITY * sin) / (
        ((cos2 * CP_NEG_MP_OVER_TM) + CP_FOUR_THIRDS) * CP_HALF)
    x_acc = fma(CP_NEG_PML_OVER_TM * theta_acc, cos, temp)
    w[s, STATE, 0] = fma(x_dot, CP_TAU, x)
    w[s, STATE, 1] = fma(x_acc, CP_TAU, x_dot)
    w[s, STATE, 2] = fma(theta_dot, CP_TAU, theta)
    w[s, STATE, 3] = fma(theta_acc, CP_TAU, theta_dot)
    return abs(w[s, STATE, 0]) > CP_X_LIMIT or abs(w[s, STATE, 2]) > CP_THETA_LIMIT


@jit(inline="always")
def _derivatives(w, s, at, force, fric1, fric2, muc, into):
    """double_pole.derivatives of the state in w[s, at], into w[s, into]."""
    if muc != 0.0:  # cart friction (Gomez's setup), as double_pole.derivatives branches
        force = force - (muc if w[s, at, 1] >= 0 else -muc)
    th1, th1d, th2, th2d = w[s, at, 2], w[s, at, 3], w[s, at, 4], w[s, at, 5]
    cos1, sin1 = math.cos(th1), math.sin(th1)
    cos2, sin2 = math.cos(th2), math.sin(th2)
    torque1 = fma(sin1, DP_NEG_G, th1d * fric1)
    torque2 = fma(sin2, DP_NEG_G, th2d * fric2)
    eff_force1 = fma(1.0 * (DP_M341 * cos1), torque1, ((DP_ML1 * th1d) * th1d) * sin1)
    eff_force2 = fma(1.0 * (DP_M342 * cos2), torque2, ((DP_ML2 * th2d) * th2d) * sin2)
    eff_mass1 = DP_M1 - (DP_M341 * cos1) * cos1
    eff_mass2 = DP_M2 - (DP_M342 * cos2) * cos2
    x_acc = (force + (eff_force1 + eff_force2)) / ((eff_mass1 + eff_mass2) + DP_CART)
    w[s, into, 0] = w[s, at, 1]
    w[s, into, 1] = x_acc
    w[s, into, 2] = th1d
    w[s, into, 3] = fma(1.0 * x_acc, cos1, torque1) * DP_NEG34L1
    w[s, into, 4] = th2d
    w[s, into, 5] = fma(1.0 * x_acc, cos2, torque2) * DP_NEG34L2


@jit(inline="always")
def _rk4(w, s, force, fric1, fric2, muc):
    """double_pole.rk4 of the state in w[s, STATE], in place."""
    _derivatives(w, s, STATE, force, fric1, fric2, muc, K1)
    for i in range(6):
        w[s, TMP, i] = fma(w[s, K1, i], DP_HALF_TAU, w[s, STATE, i])
    _derivatives(w, s, TMP, force, fric1, fric2, muc, K2)
    for i in range(6):
        w[s, TMP, i] = fma(w[s, K2, i], DP_HALF_TAU, w[s, STATE, i])
    _derivatives(w, s, TMP, force, fric1, fric2, muc, K3)
    for i in range(6):
        w[s, TMP, i] = fma(w[s, K3, i], DP_TAU, w[s, STATE, i])
    _derivatives(w, s, TMP, force, fric1, fric2, muc, K4)
    for i in range(6):
        w[s, STATE, i] = fma(fma(w[s, K2, i] + w[s, K3, i], 2.0, w[s, K1, i] + w[s, K4, i]), DP_TAU6,
                          w[s, STATE, i])


@jit(inline="always")
def double_pole_force(output, floor):
    """_DoublePoleBase.force: (sigmoid(u) - 0.5) * 20 N, the sigmoid in float64; with a
    `floor` > 0, double_pole.floor_force of it."""
    force = (1.0 / (1.0 + math.exp(-np.float64(output))) - 0.5) * DP_FORCE2
    if floor > 0.0:
        if math.isnan(force):
            force = DP_FORCE_MAG
        if abs(force) < floor:
            force = floor if force >= 0 else -floor
    return force


@jit(inline="always")
def double_pole_step(w, s, force, fric1, fric2, muc):
    """double_pole_step for the state in w[s, STATE], in place: two RK4 steps; True if it
    failed. `fric` is mu_p / (m l) per pole, `muc` the cart friction."""
    for _ in range(DP_RK4_STEPS):
        _rk4(w, s, force, fric1, fric2, muc)
    return (abs(w[s, STATE, 0]) > DP_X_LIMIT or abs(w[s, STATE, 2]) > DP_ANGLE_LIMIT
            or abs(w[s, STATE, 4]) > DP_ANGLE_LIMIT)


@jit(inline="always")
def wobble(w, s):
    """|x| + |x_dot| + |th1| + |th1_dot| of w[s, STATE], summed in order (torch's 4-element
    row sum)."""
    return ((abs(w[s, STATE, 0]) + abs(w[s, STATE, 1])) + abs(w[s, STATE, 2])) + abs(w[s, STATE, 3])


@jit(inline="always")
def input_wobble(w, s, obs_index, obs_scale, bias, has_bias):
    """The observation's sum of |input| in float64 (Gomez's wobble: torch's
    `observe(state).abs().sum(1)`), summed in order, the bias last."""
    total = 0.0
    for i in range(obs_index.shape[0]):
        total += abs(w[s, STATE, obs_index[i]] * obs_scale[i])
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
