"""The kernels: whole episodes, network and physics, one `prange` over rows.

Each row is one episode, run start to finish by one thread with its own state and
scratch; no value is ever combined across rows, so a row's result is bit-identical
whatever else is in the batch, whatever the thread count and whichever thread runs it.
Rows go to threads in equal contiguous blocks (numba's static schedule: its chunked
dynamic one costs ~35 us per chunk, more than a short episode).

Every kernel writes, per row: survived (control steps survived, the failing one not
counted), failed, and the damping wobble when asked (`wobble_kind`, as double_pole._episodes'
`wobble`: STATE_WOBBLE the state's after each of the last <= 100 survived steps, INPUT_WOBBLE
the inputs' before each of the last <= 100 steps taken): enough for every task's fitness
(engine.py).
"""
from __future__ import annotations

import numpy as np

from nas.evolution.kernels import networks as nets
from nas.evolution.kernels import physics as ph
from nas.evolution.kernels._numba import jit, prange
from nas.evolution.kernels.neat import neat_step

WINDOW = 100  # wobble window (double_pole._episodes)
NO_WOBBLE, STATE_WOBBLE, INPUT_WOBBLE = 0, 1, 2


U = np.uint64


@jit(inline="always")
def _observe(w, s, obs_index, obs_scale, bias, has_bias, buf, row):
    """Task.observe then `.to(float32)`, into buf[s, row]: the scaled state entries, then
    the bias input."""
    m = obs_index.shape[0]
    for i in range(m):
        buf[s, U(row), i] = np.float32(w[s, ph.STATE, obs_index[i]] * obs_scale[i])
    if has_bias:
        buf[s, U(row), m] = np.float32(bias)


@jit(inline="always")
def _control(physics, w, s, output, fric1, fric2, muc, floor):
    """Task.step for the state in w[s, STATE], in place: True if the episode failed."""
    if physics == ph.CARTPOLE:
        return ph.cartpole_step(w, s, output > nets.ZERO)
    return ph.double_pole_step(w, s, ph.double_pole_force(output, floor), fric1, fric2, muc)


@jit(inline="always")
def _start(w, s, starts, r):
    for i in range(starts.shape[1]):
        w[s, ph.STATE, i] = starts[r, i]


@jit(parallel=True)
def pure_episodes(physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
                  params, genome_of, sizes, recurrent, act, starts, max_steps,
                  wobble_kind, lanes, survived, failed, wobble):
    """Row r: the pure network params[genome_of[r]] from starts[r] (see module doc).
    Every row's scratch is its own slot of arrays allocated once per call."""
    rows = starts.shape[0]
    width = nets._padded(sizes.max())
    n_out = sizes[-1]
    w = np.empty((rows, 6, 6), np.float64)
    buf = np.zeros((rows, 4, width), np.float32)  # observation, context, two layers
    out = np.empty((rows, n_out), np.float32)
    window = np.zeros((rows, WINDOW), np.float64)
    for r in prange(rows):
        s = U(r)
        p = params[genome_of[r]]
        _start(w, s, starts, r)
        steps, fell = max_steps, False
        for t in range(max_steps):
            _observe(w, s, obs_index, obs_scale, bias, has_bias, buf, nets.OBS)
            if wobble_kind == INPUT_WOBBLE:
                window[s, t % WINDOW] = ph.input_wobble(w, s, obs_index, obs_scale, bias, has_bias)
            nets.pure_step(p, sizes, recurrent, act, buf, s, out)
            if _control(physics, w, s, out[s, 0], fric1, fric2, muc, floor):
                steps, fell = t, True
                break
            if wobble_kind == STATE_WOBBLE:
                window[s, t % WINDOW] = ph.wobble(w, s)
        survived[r], failed[r] = steps, fell
        wobble[r] = ph.window_sum(window, s, lanes) if wobble_kind != NO_WOBBLE else 0.0


@jit(parallel=True)
def neat_episodes(physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
                  node_ptr, node_slot, node_act, edge_ptr, edge_src, edge_w, n_slots,
                  n_out, recurrent, genome_of, starts, max_steps, wobble_kind, lanes,
                  survived, failed, wobble):
    """Row r: NEAT genome genome_of[r] of the sparse batch from starts[r]."""
    rows = starts.shape[0]
    n_in = obs_index.shape[0] + (1 if has_bias else 0)
    width = max(n_slots.max(), n_in)
    w = np.empty((rows, 6, 6), np.float64)
    buf = np.zeros((rows, 3, width), np.float32)  # observation, values, new
    out = np.empty((rows, n_out), np.float32)
    window = np.zeros((rows, WINDOW), np.float64)
    for r in prange(rows):
        s = U(r)
        g = genome_of[r]
        _start(w, s, starts, r)
        steps, fell = max_steps, False
        for t in range(max_steps):
            _observe(w, s, obs_index, obs_scale, bias, has_bias, buf, 0)
            if wobble_kind == INPUT_WOBBLE:
                window[s, t % WINDOW] = ph.input_wobble(w, s, obs_index, obs_scale, bias, has_bias)
            neat_step(node_ptr[g], node_ptr[g + 1], node_slot, node_act, edge_ptr, edge_src,
                      edge_w, n_in, recurrent, buf, s, out)
            if _control(physics, w, s, out[s, 0], fric1, fric2, muc, floor):
                steps, fell = t, True
                break
            if wobble_kind == STATE_WOBBLE:
                window[s, t % WINDOW] = ph.wobble(w, s)
        survived[r], failed[r] = steps, fell
        wobble[r] = ph.window_sum(window, s, lanes) if wobble_kind != NO_WOBBLE else 0.0


@jit()
def physics_steps(physics, fric1, fric2, muc, floor, states, outputs, failed):
    """One control step of each row's state (in place) for a raw network output each:
    the physics alone, for step-for-step tests against gymnasium and the references."""
    w = np.empty((1, 6, 6), np.float64)
    s = U(0)
    for r in range(states.shape[0]):
        _start(w, s, states, r)
        failed[r] = _control(physics, w, s, outputs[r], fric1, fric2, muc, floor)
        for i in range(states.shape[1]):
            states[r, i] = w[s, ph.STATE, i]
