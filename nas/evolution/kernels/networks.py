"""Pure networks for one episode at a time, in float32 as the torch path computes them.

Pure networks (nas.evolution.networks) and NEAT networks (nas.evolution.neat.network) run
in float32 there, so they do here, and every weighted sum is accumulated as torch's
small-matrix kernel does it: `acc = 0; acc += x[k] * w[k, j]` for k in order, no FMA, then
`bias + acc` (baddbmm). torch takes that path whenever a layer's in x out is below 400
(measured: bit-identical), and a BLAS sgemm with its own order and FMA above it, where
the two paths agree to float32 rounding only. Activations: activations.py.

Layout. A genome arrives in NetworkSpec's layout (per layer its weights `in x out`
row-major, then, first layer of an Elman net, the context matrix `h x h`, then its biases;
fully recurrent: w_in `n_in x N`, w_rec `N x N`, biases `N`). `padded_layout` maps it to
the kernel's: the same blocks with every row padded with zeros to a multiple of LANES
outputs, so a layer is computed LANES outputs at a time with one accumulator each (no
loop over a short unknown count, which costs more than the arithmetic); each output's sum
is still accumulated in torch's order. Padding lanes compute zeros no one reads.

Indices in the loops are unsigned (`U`): numba then skips its negative-index wraparound,
which otherwise costs a compare and a move per access.
"""
from __future__ import annotations

import numpy as np

from nas.evolution.kernels._numba import jit
from nas.evolution.kernels.activations import ACTIVATION_IDS, ZERO, activate_row  # noqa: F401

# pure recurrence ids (networks.RECURRENCE)
NONE, ELMAN, FULL = 0, 1, 2
RECURRENCE_IDS = {"none": NONE, "elman": ELMAN, "full": FULL}

LANES = 8
U = np.uint64


def padded(n: int) -> int:
    """n rounded up to whole LANES."""
    return -(-n // LANES) * LANES


_padded = jit(inline="always")(padded)


def padded_layout(spec) -> np.ndarray:
    """For each position of the kernel's padded genome, the index of the NetworkSpec
    parameter it holds, or -1 (a zero)."""
    out, offset = [], 0
    for _, shape in spec.shapes():
        rows, cols = (1, shape[0]) if len(shape) == 1 else shape
        index = np.full((rows, padded(cols)), -1, np.int64)
        index[:, :cols] = offset + np.arange(rows * cols).reshape(rows, cols)
        out.append(index.reshape(-1))
        offset += rows * cols
    return np.concatenate(out)


def pad_genomes(params: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """`[genomes, n_params]` float32 in NetworkSpec's layout -> the padded layout."""
    out = np.zeros((params.shape[0], layout.shape[0]), np.float32)
    real = layout >= 0
    out[:, real] = params[:, layout[real]]
    return out


@jit(inline="always")
def _layer(p, weights, buf, s, src, n_in, width, bias, dst, add):
    """buf[s, dst, :width] = b + sum_k buf[s, src, k] * w[k, :] in torch's order; with `add`,
    the sum is added to buf[s, dst] instead of the biases (Elman's context: a bmm, then an
    add). (Indices into one scratch array rather than array views: handing arrays around
    in the step loop would cost reference counting.)"""
    d, x = U(dst), U(src)
    for c in range(U(0), U(width), U(LANES)):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = ZERO
        r = U(weights) + c
        for k in range(U(n_in)):
            h = buf[s, x, k]
            a0 += h * p[r]
            a1 += h * p[r + U(1)]
            a2 += h * p[r + U(2)]
            a3 += h * p[r + U(3)]
            a4 += h * p[r + U(4)]
            a5 += h * p[r + U(5)]
            a6 += h * p[r + U(6)]
            a7 += h * p[r + U(7)]
            r += U(width)
        if add:
            buf[s, d, c] = buf[s, d, c] + a0
            buf[s, d, c + U(1)] = buf[s, d, c + U(1)] + a1
            buf[s, d, c + U(2)] = buf[s, d, c + U(2)] + a2
            buf[s, d, c + U(3)] = buf[s, d, c + U(3)] + a3
            buf[s, d, c + U(4)] = buf[s, d, c + U(4)] + a4
            buf[s, d, c + U(5)] = buf[s, d, c + U(5)] + a5
            buf[s, d, c + U(6)] = buf[s, d, c + U(6)] + a6
            buf[s, d, c + U(7)] = buf[s, d, c + U(7)] + a7
        else:
            b = U(bias) + c
            buf[s, d, c] = p[b] + a0
            buf[s, d, c + U(1)] = p[b + U(1)] + a1
            buf[s, d, c + U(2)] = p[b + U(2)] + a2
            buf[s, d, c + U(3)] = p[b + U(3)] + a3
            buf[s, d, c + U(4)] = p[b + U(4)] + a4
            buf[s, d, c + U(5)] = p[b + U(5)] + a5
            buf[s, d, c + U(6)] = p[b + U(6)] + a6
            buf[s, d, c + U(7)] = p[b + U(7)] + a7


# rows of an episode's scratch buf[s] (buf: float32 [slots, 4, width]) pure_step works in
OBS, CTX, A, B = 0, 1, 2, 3


@jit(inline="always")
def _copy(buf, s, src, dst, n):
    for j in range(U(n)):
        buf[s, U(dst), j] = buf[s, U(src), j]


@jit(inline="always")
def pure_step(p, sizes, recurrent, act, buf, s, out):
    """BatchedNetwork.__call__ for the episode in slot s (unsigned): buf[s, OBS] (float32
    observation) -> out[s] (float32, n_out); p is the padded genome, buf[s, CTX] the
    recurrent state (zeros at the start), buf[s, A] and buf[s, B] scratch."""
    n_layers = sizes.shape[0] - 1
    n_in = sizes[0]
    if recurrent == FULL:
        n = sizes[1]
        width = _padded(n)
        w_rec = n_in * width
        bias = w_rec + n * width
        _layer(p, 0, buf, s, OBS, n_in, width, bias, A, False)
        _layer(p, w_rec, buf, s, CTX, n, width, 0, A, True)
        for j in range(out.shape[1]):
            out[s, j] = buf[s, A, j]
        _copy(buf, s, A, CTX, n)
        activate_row(act, buf, s, CTX, n)
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
        _layer(p, weights, buf, s, src, a, width, bias, dst, False)
        if i == 0 and recurrent == ELMAN:
            _layer(p, context, buf, s, CTX, b, width, 0, dst, True)
        if i == n_layers - 1:
            for j in range(b):
                out[s, j] = buf[s, dst, j]
            return
        activate_row(act, buf, s, dst, b)
        if i == 0 and recurrent == ELMAN:
            _copy(buf, s, dst, CTX, b)
        src, dst = dst, (B if dst == A else A)
