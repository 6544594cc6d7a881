"""Pure networks, a block of LANES episodes per thread in lockstep across SIMD lanes.

One episode is one long dependency chain (network, then physics, then the next step), so
a thread running one at a time waits on latency, not arithmetic. Here a thread keeps
LANES episodes in flight: every array is structure-of-arrays with the lane innermost and
contiguous, and every loop over lanes has the compile-time trip count LANES, so LLVM
turns it into vector instructions and the episodes' chains overlap. When an episode
ends (it failed, or reached max_steps) its lane is refilled from the thread's queue of
rows at once, so short episodes still end early; lanes left without a row run a dummy
episode (zero network, zero state) whose results are never written.

Determinism: a lane computes exactly what the scalar code would, whatever its position
and whatever the other lanes hold. Every loop body is plain IEEE arithmetic and selects
(no libm call: trig.sincos, activations' exp/tanh), and no value is combined across
lanes, so vector and scalar instructions round alike and a row's result is
bit-identical alone or in any batch, at any thread count.

Networks: the padded genome layout of networks.py, copied per lane into P[param, lane]
when a lane is (re)filled; each weighted sum accumulated in torch's order
(`acc = 0; acc += x[k] * w[k, j]` for k in order, then `bias + acc`), as networks.py
describes.
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from nas.evolution.kernels import physics as ph
from nas.evolution.kernels._numba import jit
from nas.evolution.kernels.activations import ELU, RELU, SIGMOID, TANH, elu, relu, sigmoid, tanh
from nas.evolution.kernels.networks import ELMAN, FULL, _padded

LANES = 16
U = np.uint64
L = U(LANES)
F32 = np.float32
WINDOW = 100  # wobble window (double_pole._episodes)
NO_WOBBLE, STATE_WOBBLE, INPUT_WOBBLE = 0, 1, 2
# rows of the float32 scratch buf[row, unit, lane]
OBS, CTX, A, B = 0, 1, 2, 3


@intrinsic
def fetch_add(typingctx, counter):
    """counter[0] += 1 atomically; returns the old value (the row a lane claims)."""
    if counter != types.int64[::1]:
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary,
                                       [context.get_constant(types.intp, 0)])
        one = context.get_constant(types.int64, 1)
        return builder.atomic_rmw("add", ptr, one, "monotonic")

    return types.int64(counter), codegen


@jit(inline="always")
def _claim(counter, rows):
    """The next row of the shared queue, or -1 when it is empty."""
    r = fetch_add(counter)
    return r if r < rows else -1


@jit(inline="always")
def _layer(P, weights, width, bias, buf, src, n_in, n_out, dst, add):
    """buf[dst, j] = P[bias + j] + sum_k buf[src, k] * P[weights + k width + j], j < n_out,
    in torch's order; with `add`, the sum is added to buf[dst] instead (Elman's context).
    One named accumulator per lane (LANES = 16), so they stay in registers and LLVM packs
    each line's 16 lanes into vector instructions."""
    x, d = U(src), U(dst)
    for j in range(U(n_out)):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = a12 = a13 = a14 = a15 = F32(0.0)
        r = U(weights) + j
        for k in range(U(n_in)):
            a0 += buf[x, k, 0] * P[r, 0]
            a1 += buf[x, k, 1] * P[r, 1]
            a2 += buf[x, k, 2] * P[r, 2]
            a3 += buf[x, k, 3] * P[r, 3]
            a4 += buf[x, k, 4] * P[r, 4]
            a5 += buf[x, k, 5] * P[r, 5]
            a6 += buf[x, k, 6] * P[r, 6]
            a7 += buf[x, k, 7] * P[r, 7]
            a8 += buf[x, k, 8] * P[r, 8]
            a9 += buf[x, k, 9] * P[r, 9]
            a10 += buf[x, k, 10] * P[r, 10]
            a11 += buf[x, k, 11] * P[r, 11]
            a12 += buf[x, k, 12] * P[r, 12]
            a13 += buf[x, k, 13] * P[r, 13]
            a14 += buf[x, k, 14] * P[r, 14]
            a15 += buf[x, k, 15] * P[r, 15]
            r += U(width)
        if add:
            buf[d, j, 0] = buf[d, j, 0] + a0
            buf[d, j, 1] = buf[d, j, 1] + a1
            buf[d, j, 2] = buf[d, j, 2] + a2
            buf[d, j, 3] = buf[d, j, 3] + a3
            buf[d, j, 4] = buf[d, j, 4] + a4
            buf[d, j, 5] = buf[d, j, 5] + a5
            buf[d, j, 6] = buf[d, j, 6] + a6
            buf[d, j, 7] = buf[d, j, 7] + a7
            buf[d, j, 8] = buf[d, j, 8] + a8
            buf[d, j, 9] = buf[d, j, 9] + a9
            buf[d, j, 10] = buf[d, j, 10] + a10
            buf[d, j, 11] = buf[d, j, 11] + a11
            buf[d, j, 12] = buf[d, j, 12] + a12
            buf[d, j, 13] = buf[d, j, 13] + a13
            buf[d, j, 14] = buf[d, j, 14] + a14
            buf[d, j, 15] = buf[d, j, 15] + a15
        else:
            b = U(bias) + j
            buf[d, j, 0] = P[b, 0] + a0
            buf[d, j, 1] = P[b, 1] + a1
            buf[d, j, 2] = P[b, 2] + a2
            buf[d, j, 3] = P[b, 3] + a3
            buf[d, j, 4] = P[b, 4] + a4
            buf[d, j, 5] = P[b, 5] + a5
            buf[d, j, 6] = P[b, 6] + a6
            buf[d, j, 7] = P[b, 7] + a7
            buf[d, j, 8] = P[b, 8] + a8
            buf[d, j, 9] = P[b, 9] + a9
            buf[d, j, 10] = P[b, 10] + a10
            buf[d, j, 11] = P[b, 11] + a11
            buf[d, j, 12] = P[b, 12] + a12
            buf[d, j, 13] = P[b, 13] + a13
            buf[d, j, 14] = P[b, 14] + a14
            buf[d, j, 15] = P[b, 15] + a15


@jit(inline="always")
def _activate(kind, buf, row, n):
    """buf[row, :n] = activation(buf[row, :n]), every lane: one loop per kind."""
    r = U(row)
    for j in range(U(n)):
        if kind == TANH:
            for l in range(L):
                buf[r, j, l] = tanh(buf[r, j, l])
        elif kind == SIGMOID:
            for l in range(L):
                buf[r, j, l] = sigmoid(buf[r, j, l])
        elif kind == RELU:
            for l in range(L):
                buf[r, j, l] = relu(buf[r, j, l])
        elif kind == ELU:
            for l in range(L):
                buf[r, j, l] = elu(buf[r, j, l])


@jit(inline="always")
def _copy(buf, src, dst, n):
    for j in range(U(n)):
        for l in range(L):
            buf[U(dst), j, l] = buf[U(src), j, l]


@jit(inline="always")
def network_step(P, sizes, recurrent, act, buf, u):
    """BatchedNetwork.__call__ for every lane: buf[OBS] (float32 observations) -> u (each
    lane's first output); buf[CTX] is the recurrent state (zeros at an episode's start)."""
    n_layers = sizes.shape[0] - 1
    n_in = sizes[0]
    if recurrent == FULL:
        n = sizes[1]
        width = _padded(n)
        w_rec = n_in * width
        _layer(P, 0, width, w_rec + n * width, buf, OBS, n_in, n, A, False)
        _layer(P, w_rec, width, 0, buf, CTX, n, n, A, True)
        for l in range(L):
            u[l] = buf[A, 0, l]
        _copy(buf, A, CTX, n)
        _activate(act, buf, CTX, n)
        return
    src, dst = OBS, A
    offset = 0
    for i in range(n_layers):
        a, b = sizes[i], sizes[i + 1]
        width = _padded(b)
        weights = offset
        offset += a * width
        context = offset
        if i == 0 and recurrent == ELMAN:
            offset += b * width
        bias = offset
        offset += width
        _layer(P, weights, width, bias, buf, src, a, b, dst, False)
        if i == 0 and recurrent == ELMAN:
            _layer(P, context, width, 0, buf, CTX, b, b, dst, True)
        if i == n_layers - 1:
            for l in range(L):
                u[l] = buf[U(dst), 0, l]
            return
        _activate(act, buf, dst, b)
        if i == 0 and recurrent == ELMAN:
            _copy(buf, dst, CTX, b)
        src, dst = dst, (B if dst == A else A)


@jit(inline="always")
def _observe(w, obs_index, obs_scale, buf):
    """Task.observe then `.to(float32)` for every lane (the bias input is set once)."""
    for i in range(U(obs_index.shape[0])):
        k, scale = U(obs_index[i]), obs_scale[i]
        for l in range(L):
            buf[OBS, i, l] = F32(w[ph.STATE, k, l] * scale)


@jit(inline="always")
def _fill(l, r, params, genome_of, starts, P, w, buf, t, row, window, wobble_kind):
    """Lane l starts row r (r < 0: a dummy episode, zero network and state)."""
    g = genome_of[r] if r >= 0 else 0
    for i in range(P.shape[0]):
        P[i, l] = params[g, i] if r >= 0 else F32(0.0)
    for i in range(6):
        w[ph.STATE, i, l] = 0.0
    if r >= 0:
        for i in range(starts.shape[1]):
            w[ph.STATE, i, l] = starts[r, i]
    for j in range(buf.shape[1]):
        buf[CTX, j, l] = F32(0.0)
    if wobble_kind != NO_WOBBLE:
        for k in range(WINDOW):
            window[l, k] = 0.0
    t[l], row[l] = 0, r


@jit()
def run_block(counter, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
              params, genome_of, sizes, recurrent, act, starts, max_steps, wobble_kind, lanes,
              survived, failed, wobble):
    """Rows claimed from the shared queue `counter` (the next row to run, an int64[1]),
    LANES at a time in lockstep, until it is empty (episodes.pure_episodes' contract).
    Which thread and lane runs a row changes nothing in its result."""
    rows = starts.shape[0]
    first = _claim(counter, rows)
    if first < 0:
        return
    if max_steps <= 0:
        while first >= 0:
            survived[first], failed[first], wobble[first] = max_steps, False, 0.0
            first = _claim(counter, rows)
        return
    P = np.zeros((params.shape[1], LANES), F32)
    buf = np.zeros((4, _padded(max(sizes.max(), obs_index.shape[0] + 1)), LANES), F32)
    w = np.zeros((ph.STAGES, 6, LANES), np.float64)
    u = np.zeros(LANES, F32)
    fell = np.zeros(LANES, np.bool_)
    t = np.zeros(LANES, np.int64)
    row = np.zeros(LANES, np.int64)
    window = np.zeros((LANES, WINDOW), np.float64)
    if has_bias:
        for l in range(L):
            buf[OBS, obs_index.shape[0], l] = F32(bias)
    active, more = 0, True
    for l in range(LANES):
        r = first if l == 0 else (_claim(counter, rows) if more else -1)
        more = r >= 0
        _fill(l, r, params, genome_of, starts, P, w, buf, t, row, window, wobble_kind)
        active += 1 if r >= 0 else 0
    while active > 0:
        _observe(w, obs_index, obs_scale, buf)
        if wobble_kind == INPUT_WOBBLE:
            for l in range(L):
                window[l, t[l] % WINDOW] = ph.input_wobble(w, l, obs_index, obs_scale, bias,
                                                           has_bias)
        network_step(P, sizes, recurrent, act, buf, u)
        ph.control(physics, w, U(0), L, u, fric1, fric2, muc, floor, fell)
        if wobble_kind == STATE_WOBBLE:
            for l in range(L):
                if not fell[l]:
                    window[l, t[l] % WINDOW] = ph.wobble(w, l)
        done = False
        for l in range(L):
            t[l] += 1
            done |= fell[l] | (t[l] >= max_steps)
        if done:
            for l in range(LANES):
                if not (fell[l] or t[l] >= max_steps):
                    continue
                r = row[l]
                if r >= 0:
                    survived[r] = t[l] - 1 if fell[l] else max_steps
                    failed[r] = fell[l]
                    wobble[r] = (ph.window_sum(window, U(l), lanes)
                                 if wobble_kind != NO_WOBBLE else 0.0)
                    active -= 1
                r = _claim(counter, rows) if more else -1
                more = r >= 0
                _fill(l, r, params, genome_of, starts, P, w, buf, t, row, window, wobble_kind)
                active += 1 if r >= 0 else 0
