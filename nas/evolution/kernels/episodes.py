"""The kernels: whole episodes, network and physics.

Pure networks run in lockstep (lockstep.py): each thread runs LANES episodes at a time
across SIMD lanes, refilling a lane from a queue of rows shared by the threads (an atomic
counter) as soon as its episode ends. NEAT networks run one episode at a time per
row, one `prange` over rows (numba's static schedule: its chunked dynamic one costs ~35 us
per chunk, more than a short episode). Either way every row has its own state and scratch
and no value is ever combined across rows, so a row's result is bit-identical whatever
else is in the batch, whatever the thread count and whichever thread or lane runs it.

Every kernel writes, per row: survived (control steps survived, the failing one not
counted), failed, and the damping wobble when asked (`wobble_kind`, as double_pole._episodes'
`wobble`: STATE_WOBBLE the state's after each of the last <= 100 survived steps, INPUT_WOBBLE
the inputs' before each of the last <= 100 steps taken): enough for every task's fitness
(engine.py).
"""
from __future__ import annotations

import numpy as np

from nas.evolution.kernels import physics as ph
from nas.evolution.kernels._numba import jit, prange
from nas.evolution.kernels.lockstep import (INPUT_WOBBLE, NO_WOBBLE, STATE_WOBBLE,  # noqa: F401
                                            WINDOW, run_block)
from nas.evolution.kernels.neat import neat_step


U = np.uint64


@jit(inline="always")
def _observe(w, s, obs_index, obs_scale, bias, has_bias, buf, row):
    """Task.observe then `.to(float32)`, into buf[s, row]: the scaled state entries, then
    the bias input."""
    m = obs_index.shape[0]
    for i in range(m):
        buf[s, U(row), i] = np.float32(w[ph.STATE, obs_index[i], s] * obs_scale[i])
    if has_bias:
        buf[s, U(row), m] = np.float32(bias)


@jit(inline="always")
def _start(w, s, starts, r):
    for i in range(starts.shape[1]):
        w[ph.STATE, i, s] = starts[r, i]


@jit(parallel=True)
def pure_episodes(physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
                  params, genome_of, sizes, recurrent, act, starts, max_steps,
                  wobble_kind, lanes, survived, failed, wobble):
    """Row r: the pure network params[genome_of[r]] from starts[r] (see module doc); the
    threads take rows from one shared queue, LANES episodes in flight each."""
    rows = starts.shape[0]
    counter = np.zeros(1, np.int64)  # the next row of the shared queue
    for _ in prange(rows):  # each thread's first iteration drains the queue, the rest return
        run_block(counter, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias,
                  has_bias, params, genome_of, sizes, recurrent, act, starts, max_steps,
                  wobble_kind, lanes, survived, failed, wobble)


@jit(parallel=True)
def neat_episodes(physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
                  node_ptr, node_slot, node_act, edge_ptr, edge_src, edge_w, n_slots,
                  n_out, recurrent, genome_of, starts, max_steps, wobble_kind, lanes,
                  survived, failed, wobble):
    """Row r: NEAT genome genome_of[r] of the sparse batch from starts[r]."""
    rows = starts.shape[0]
    n_in = obs_index.shape[0] + (1 if has_bias else 0)
    width = max(n_slots.max(), n_in)
    w = np.empty((ph.STAGES, 6, rows), np.float64)
    buf = np.zeros((rows, 3, width), np.float32)  # observation, values, new
    out = np.empty((rows, n_out), np.float32)
    u = np.empty(rows, np.float32)
    fell_ = np.empty(rows, np.bool_)
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
            u[s] = out[s, 0]
            ph.control(physics, w, s, s + U(1), u, fric1, fric2, muc, floor, fell_)
            if fell_[s]:
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
    w = np.zeros((ph.STAGES, 6, 1), np.float64)
    u = np.empty(1, np.float32)
    fell = np.empty(1, np.bool_)
    s = U(0)
    for r in range(states.shape[0]):
        _start(w, s, states, r)
        u[0] = outputs[r]
        ph.control(physics, w, s, s + U(1), u, fric1, fric2, muc, floor, fell)
        failed[r] = fell[0]
        for i in range(states.shape[1]):
            states[r, i] = w[ph.STATE, i, s]
