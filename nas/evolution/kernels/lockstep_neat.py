"""NEAT networks, a block of LANES episodes per thread in lockstep (lockstep.py's scheme).

Each lane holds a different genome, so the networks cannot share vector instructions:
each lane's network runs as neat.neat_step, lane after lane. What lockstep buys here is
the rest of the step. The physics (sin, cos and the integration) runs across the lanes in
vector instructions, as it does for pure networks. And the lanes' networks are independent
chains the core can overlap, where one episode at a time waits on each result in turn.
Lanes are refilled from the threads' shared queue of rows as episodes end, so short
episodes still end early.

Determinism: a lane's network is the scalar code a single episode runs, and the physics is
lockstep.py's, with no value combined across lanes. So a row's result is bit-identical
alone or in any batch, at any thread count, and equal to the one-episode kernel's.
"""
from __future__ import annotations

import numpy as np

from nas.evolution.kernels import physics as ph
from nas.evolution.kernels._numba import jit
from nas.evolution.kernels.lockstep import (INPUT_WOBBLE, LANES, NO_WOBBLE, WINDOW, _claim,
                                            advance_lanes, borrow, borrow_log, flush,
                                            input_wobble_lanes, keep_alive, lane_ended,
                                            new_log)
from nas.evolution.kernels.neat import OBS, VALUES, neat_step

U = np.uint64
L = U(LANES)


@jit(inline="always")
def _observe(w, obs_index, obs_scale, buf):
    """Task.observe then `.to(float32)` for every lane, into buf[lane, OBS] (the bias input
    is set once)."""
    for i in range(U(obs_index.shape[0])):
        k, scale = U(obs_index[i]), obs_scale[i]
        for l in range(L):
            buf[l, U(OBS), i] = np.float32(w[ph.STATE, k, l] * scale)


@jit(inline="always")
def _fill(l, r, genome_of, starts, w, buf, t, row, genome, window, wobble_kind):
    """Lane l starts row r (r < 0: a dummy episode with the zero state, genome -1 skipped)."""
    for i in range(6):
        w[ph.STATE, i, l] = 0.0
    if r >= 0:
        for i in range(starts.shape[1]):
            w[ph.STATE, i, l] = starts[r, i]
    for j in range(buf.shape[2]):
        buf[l, U(VALUES), j] = np.float32(0.0)
    if wobble_kind != NO_WOBBLE:
        for k in range(WINDOW):
            window[l, k] = 0.0
    t[l], row[l] = 0, r
    genome[l] = genome_of[r] if r >= 0 else -1


@jit()
def run_neat_block(counter, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias,
                   has_bias, node_ptr, node_slot, node_act, edge_ptr, edge_src, edge_w, n_slots,
                   n_out, recurrent, genome_of, starts, max_steps, wobble_kind, lanes,
                   survived, failed, wobble):
    """Rows claimed from the shared queue `counter` (an int64[1], the next row to run),
    LANES at a time in lockstep, until it is empty (episodes.neat_episodes' contract)."""
    rows = starts.shape[0]
    claims = np.zeros(2, np.int64)  # this thread's rows in hand (_claim)
    first = _claim(counter, rows, claims)
    if first < 0:
        return
    if max_steps <= 0:
        while first >= 0:
            survived[first], failed[first], wobble[first] = max_steps, False, 0.0
            first = _claim(counter, rows, claims)
        return
    n_in = obs_index.shape[0] + (1 if has_bias else 0)
    owners = (np.zeros((LANES, 3, max(n_slots.max(), n_in)), np.float32),  # obs, values, new
              np.zeros((LANES, n_out), np.float32), np.zeros((ph.STAGES, 6, LANES), np.float64),
              np.zeros(LANES, np.float32), np.zeros(LANES, np.bool_), np.zeros(LANES, np.int64),
              np.zeros(LANES, np.int64), np.zeros(LANES, np.int64),
              np.zeros((LANES, WINDOW), np.float64),
              obs_index.copy(), obs_scale.copy(), new_log(rows))  # (as lockstep.run_block)
    # borrowed views (lockstep.borrow: no reference counting in the step loop), the owners
    # held to the end; the arguments are held by the caller
    buf, out, w, u = borrow(owners[0]), borrow(owners[1]), borrow(owners[2]), borrow(owners[3])
    fell, t, row, genome = borrow(owners[4]), borrow(owners[5]), borrow(owners[6]), borrow(owners[7])
    window = borrow(owners[8])
    obs_index, obs_scale = borrow(owners[9]), borrow(owners[10])
    log = borrow_log(owners[11])
    counter = borrow(counter)
    node_ptr, node_slot, node_act = borrow(node_ptr), borrow(node_slot), borrow(node_act)
    edge_ptr, edge_src, edge_w = borrow(edge_ptr), borrow(edge_src), borrow(edge_w)
    genome_of, starts = borrow(genome_of), borrow(starts)
    if has_bias:
        for l in range(L):
            buf[l, U(OBS), obs_index.shape[0]] = np.float32(bias)
    active, more = 0, True
    for l in range(LANES):
        r = first if l == 0 else (_claim(counter, rows, claims) if more else -1)
        more = r >= 0
        _fill(l, r, genome_of, starts, w, buf, t, row, genome, window, wobble_kind)
        active += 1 if r >= 0 else 0
    while active > 0:
        _observe(w, obs_index, obs_scale, buf)
        if wobble_kind == INPUT_WOBBLE:
            input_wobble_lanes(w, t, window, obs_index, obs_scale, bias, has_bias)
        for l in range(L):
            g = genome[l]
            if g >= 0:
                neat_step(node_ptr[g], node_ptr[g + 1], node_slot, node_act, edge_ptr,
                          edge_src, edge_w, n_in, recurrent, buf, l, out)
                u[l] = out[l, 0]
            else:
                u[l] = np.float32(0.0)
        ph.control(physics, w, U(0), L, u, fric1, fric2, muc, floor, fell)
        if advance_lanes(w, t, fell, row, window, wobble_kind, max_steps):
            for l in range(LANES):
                if not lane_ended(l, t, fell, row, max_steps, window, lanes, wobble_kind, log):
                    continue
                active -= 1
                r = _claim(counter, rows, claims) if more else -1
                more = r >= 0
                _fill(l, r, genome_of, starts, w, buf, t, row, genome, window, wobble_kind)
                active += 1 if r >= 0 else 0
    flush(log, survived, failed, wobble)
    keep_alive(owners)
