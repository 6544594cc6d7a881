"""A pure block's last episodes, one lane at a time, in scalar code.

Once a block's queue is empty, its last few live episodes would go on stepping in
lockstep, and a lockstep iteration costs about as much with one live lane as with sixteen
(the idle lanes are computed too): more than one lane's step alone, most of all where the
physics is heavy (the double pole's). So a block with at most lockstep.ALONE live lanes
left runs each to its end here. That is the tail of every batch: where a long episode
started late, it is what the other threads wait on.

Determinism: the same IEEE operations in the same order as lockstep.py's lanes (each
weighted sum as dot_lanes adds it up, the activations and physics the same functions), so
a row's bits do not depend on whether it ended in lockstep or alone (tests/test_kernels.py:
alone vs batched, one thread vs two).
"""
from __future__ import annotations

import numpy as np

from nas.evolution.kernels import physics as ph
from nas.evolution.kernels._numba import jit
from nas.evolution.kernels.activations import activate
from nas.evolution.kernels.lanes import A, B, CTX, INPUT_WOBBLE, OBS, STATE_WOBBLE, WINDOW
from nas.evolution.kernels.networks import ELMAN, FULL, full_at, layer_at

U = np.uint64
F32 = np.float32


@jit(inline="always")
def _layer(P, weights, width, bias, buf, src, n_in, n_out, dst, add, l):
    """lockstep._layer for lane l: acc = 0, acc += x w in order, then bias + acc (or, with
    `add`, buf[dst] + acc)."""
    for j in range(U(n_out)):
        acc = F32(0.0)
        for k in range(U(n_in)):
            acc += buf[U(src), k, l] * P[U(weights) + k * U(width) + j, l]
        base = buf[U(dst), j, l] if add else P[U(bias) + j, l]
        buf[U(dst), j, l] = base + acc


@jit(inline="always")
def _activate(kind, buf, row, n, l):
    for j in range(U(n)):
        buf[U(row), j, l] = activate(kind, buf[U(row), j, l])


@jit(inline="always")
def _network(P, sizes, recurrent, act, buf, l):
    """lockstep.network_step for lane l: its first output."""
    n_layers = sizes.shape[0] - 1
    if recurrent == FULL:
        n_in, n, width, w_rec, bias = full_at(sizes)
        _layer(P, 0, width, bias, buf, OBS, n_in, n, A, False, l)
        _layer(P, w_rec, width, 0, buf, CTX, n, n, A, True, l)
        out = buf[A, 0, l]
        for j in range(U(n)):
            buf[CTX, j, l] = buf[A, j, l]
        _activate(act, buf, CTX, n, l)
        return out
    src, dst = OBS, A
    offset = 0
    for i in range(n_layers):
        a, b, width, weights, context, bias, offset = layer_at(sizes, recurrent, i, offset)
        _layer(P, weights, width, bias, buf, src, a, b, dst, False, l)
        if i == 0 and recurrent == ELMAN:
            _layer(P, context, width, 0, buf, CTX, b, b, dst, True, l)
        if i == n_layers - 1:
            break
        _activate(act, buf, dst, b, l)
        if i == 0 and recurrent == ELMAN:
            for j in range(U(b)):
                buf[CTX, j, l] = buf[U(dst), j, l]
        src, dst = dst, (B if dst == A else A)
    return buf[U(dst), 0, l]


@jit()
def run_alone(l, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias, P,
              sizes, recurrent, act, buf, w, u, fell, t, window, wobble_kind, max_steps):
    """Lane l's episode to its end (fell[l], t[l] as lockstep.advance_lanes leaves them)."""
    s = U(l)
    while True:
        for i in range(U(obs_index.shape[0])):
            buf[OBS, i, s] = F32(w[ph.STATE, U(obs_index[i]), s] * obs_scale[i])
        if wobble_kind == INPUT_WOBBLE:
            window[s, t[s] % WINDOW] = ph.input_wobble(w, s, obs_index, obs_scale, bias,
                                                       has_bias)
        u[s] = _network(P, sizes, recurrent, act, buf, s)
        ph.control(physics, w, s, s + U(1), u, fric1, fric2, muc, floor, fell)
        if wobble_kind == STATE_WOBBLE and not fell[s]:
            window[s, t[s] % WINDOW] = ph.wobble(w, s)
        t[s] += 1
        if fell[s] or t[s] >= max_steps:
            return
