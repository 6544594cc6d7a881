"""The kernels: whole episodes, network and physics.

Both modes run in lockstep (lockstep.py, lockstep_neat.py): each thread runs LANES
episodes at a time across SIMD lanes, refilling a lane from a queue of rows shared by the
threads (an atomic counter, taken lockstep.CLAIM rows at a time) as soon as its episode
ends: a `prange` of one iteration per thread (`threads`, the launch's; more would be empty
calls). Every row has its own state and scratch and no value is ever combined across
rows, so a row's result is bit-identical whatever else is in the batch, whatever the
thread count and whichever thread or lane runs it.

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
from nas.evolution.kernels.lockstep_neat import run_neat_block


U = np.uint64


@jit(inline="always")
def _start(w, s, starts, r):
    for i in range(starts.shape[1]):
        w[ph.STATE, i, s] = starts[r, i]


@jit(parallel=True)
def pure_episodes(physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
                  params, layout, genome_of, sizes, recurrent, act, starts, max_steps,
                  wobble_kind, lanes, threads, survived, failed, wobble):
    """Row r: the pure network params[genome_of[r]] (NetworkSpec's layout; `layout`:
    networks.padded_layout) from starts[r] (see module doc); the threads take rows from
    one shared queue, LANES episodes in flight each."""
    rows = starts.shape[0]
    counter = np.zeros(1, np.int64)  # the next row of the shared queue
    for _ in prange(min(rows, threads)):  # a block per thread, each draining the queue
        run_block(counter, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias,
                  has_bias, params, layout, genome_of, sizes, recurrent, act, starts, max_steps,
                  wobble_kind, lanes, survived, failed, wobble)


@jit(parallel=True)
def neat_episodes(physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias, has_bias,
                  node_ptr, node_slot, node_act, edge_ptr, edge_src, edge_w, n_slots,
                  n_out, recurrent, genome_of, starts, max_steps, wobble_kind, lanes, threads,
                  survived, failed, wobble):
    """Row r: NEAT genome genome_of[r] of the sparse batch from starts[r]; the threads take
    rows from one shared queue, LANES episodes in flight each (lockstep_neat.py)."""
    rows = starts.shape[0]
    counter = np.zeros(1, np.int64)  # the next row of the shared queue
    for _ in prange(min(rows, threads)):  # a block per thread, each draining the queue
        run_neat_block(counter, physics, fric1, fric2, muc, floor, obs_index, obs_scale, bias,
                       has_bias, node_ptr, node_slot, node_act, edge_ptr, edge_src, edge_w,
                       n_slots, n_out, recurrent, genome_of, starts, max_steps, wobble_kind,
                       lanes, survived, failed, wobble)


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
