"""Pure networks' genome layout for the kernels, which run them in float32 as the torch
path computes them (lockstep.py runs them).

Pure networks (nas.evolution.networks) and NEAT networks (nas.evolution.neat.network) run
in float32 there, so they do here, and every weighted sum is accumulated as torch's
small-matrix kernel does it: `acc = 0; acc += x[k] * w[k, j]` for k in order, no FMA, then
`bias + acc` (baddbmm). torch takes that path whenever a layer's in x out is below 400
(measured: bit-identical), and a BLAS sgemm with its own order and FMA above it, where
the two paths agree to float32 rounding only. Activations: activations.py.

Layout. A genome arrives in NetworkSpec's layout (per layer its weights `in x out`
row-major, then, first layer of an Elman net, the context matrix `h x h`, then its biases;
fully recurrent: w_in `n_in x N`, w_rec `N x N`, biases `N`). `padded_layout` maps it to
the kernel's, which lockstep.py gathers each genome into as it loads it into a lane: the
same blocks with every row padded with zeros to a multiple of LANES outputs (lockstep.py
reads only the real ones; the padding keeps the offsets of the layout every kernel cache
was built for).
"""
from __future__ import annotations

import numpy as np

from nas.evolution.kernels._numba import jit

# pure recurrence ids (networks.RECURRENCE)
NONE, ELMAN, FULL = 0, 1, 2
RECURRENCE_IDS = {"none": NONE, "elman": ELMAN, "full": FULL}

LANES = 8


def padded(n: int) -> int:
    """n rounded up to whole LANES."""
    return -(-n // LANES) * LANES


_padded = jit(inline="always")(padded)


@jit(inline="always")
def layer_at(sizes, recurrent, i, offset):
    """Layer i of a padded genome (padded_layout) whose weights start at `offset`: its
    inputs, units, row width, and where its weights, Elman context (an Elman net's first
    layer) and biases start, then where the next layer does."""
    a, b = sizes[i], sizes[i + 1]
    width = _padded(b)
    context = offset + a * width
    bias = context + (b * width if i == 0 and recurrent == ELMAN else 0)
    return a, b, width, offset, context, bias, bias + width


@jit(inline="always")
def full_at(sizes):
    """A fully recurrent genome's inputs, units, row width, and where w_rec and the biases
    start (w_in at 0)."""
    n_in, n = sizes[0], sizes[1]
    width = _padded(n)
    return n_in, n, width, n_in * width, (n_in + n) * width


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
