"""NEAT genomes as sparse arrays, and one step of one genome's network (neat_step, which
lockstep_neat.py runs lane by lane).

Layout of a batch of G genomes (built by `compile_genomes`; nothing is padded):

    node_ptr [G + 1]     genome g's non-input nodes are node_ptr[g] .. node_ptr[g + 1] - 1,
                         in evaluation order: topological for feed-forward genomes (every
                         source before its destinations), local order for recurrent ones
    node_slot [nodes]    the node's local index, as nas.evolution.neat.network numbers
                         nodes: inputs 0 .. n_in - 1, outputs next, hidden nodes by id
    node_act [nodes]     its activation id (networks.ACTIVATION_IDS)
    edge_ptr [nodes + 1] its incoming enabled connections, sorted by source local index
                         (so inputs come first)
    edge_src, edge_w     the source's local index; the weight in float32 times the
                         destination's slope (4.9 for the steep sigmoid), as torch folds it
    n_slots [G]          the genome's node count

Semantics are exactly nas.evolution.neat.network's: a node is act(drive + rest), drive =
sum over input sources and rest = sum over non-input sources, each accumulated from zero
in source order (the dense product's order: the padded zero terms add nothing); no biases;
a node without connections outputs act(0). Feed-forward nodes use the values computed
this step (the fixed point torch's repeated propagation reaches); recurrent nodes use the
previous step's values of every non-input node (zero before the first), all updated at once.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nas.evolution.kernels._numba import jit
from nas.evolution.kernels.activations import ACTIVATION_IDS, ZERO, activate
from nas.evolution.neat.packed import gather
from nas.evolution.neat.params import SLOPES


class NeatArrays(NamedTuple):
    node_ptr: np.ndarray
    node_slot: np.ndarray
    node_act: np.ndarray
    edge_ptr: np.ndarray
    edge_src: np.ndarray
    edge_w: np.ndarray
    n_slots: np.ndarray


def compile_genomes(genomes, n_inputs: int, n_outputs: int, params) -> NeatArrays:
    """The sparse layout of `genomes` (any seeds'), row g = genomes[g]."""
    if not genomes:
        raise ValueError("compile_genomes needs at least one genome")
    if any(g.n_inputs != n_inputs or g.n_outputs != n_outputs for g in genomes):
        raise ValueError("genome inputs/outputs do not match compile_genomes'")
    pool = gather(genomes)  # the compiled reproduction's arrays as they are: no gene objects
    out_name = params.output_activation or params.activation
    arrays = _build(n_inputs, n_outputs, pool.hidden_ptr, pool.hidden, pool.gene_ptr, pool.src,
                    pool.dst, pool.weight, pool.enabled,
                    np.float32(params.output_slope()), np.float32(SLOPES[params.activation]),
                    ACTIVATION_IDS[out_name], ACTIVATION_IDS[params.activation],
                    not params.recurrent)
    if arrays[-1] >= 0:
        raise ValueError("feed-forward NEAT genome has a cycle; set recurrent=True")
    return NeatArrays(*arrays[:-1])


@jit()
def _build(n_in, n_out, hidden_ptr, hidden, gene_ptr, gene_src, gene_dst, gene_w, gene_on,
           slope_out, slope_hid, act_out, act_hid, feed_forward):
    """compile_genomes' work on flat gene arrays; the last value returned is the index of
    a feed-forward genome with a cycle, or -1."""
    n_genomes = hidden_ptr.shape[0] - 1
    n_fixed = n_in + n_out
    node_total = (hidden_ptr[-1] + n_out * n_genomes)
    node_ptr = np.zeros(n_genomes + 1, np.int64)
    node_slot = np.empty(node_total, np.int32)
    node_act = np.empty(node_total, np.int32)
    edge_ptr = np.zeros(node_total + 1, np.int64)
    n_edges = 0
    for i in range(gene_on.shape[0]):
        if gene_on[i]:
            n_edges += 1
    edge_src = np.empty(n_edges, np.int32)
    edge_w = np.empty(n_edges, np.float32)
    n_slots = np.empty(n_genomes, np.int32)
    bad = -1
    node_at, edge_at = 0, 0
    for g in range(n_genomes):
        ids = hidden[hidden_ptr[g]:hidden_ptr[g + 1]]
        n_nodes = n_fixed + ids.shape[0]
        n_slots[g] = n_nodes
        lo, hi = gene_ptr[g], gene_ptr[g + 1]
        count = 0
        for i in range(lo, hi):
            if gene_on[i]:
                count += 1
        src = np.empty(count, np.int64)
        dst = np.empty(count, np.int64)
        w = np.empty(count, np.float32)
        k = 0
        for i in range(lo, hi):
            if gene_on[i]:
                src[k] = _local(gene_src[i], n_fixed, ids)
                dst[k] = _local(gene_dst[i], n_fixed, ids)
                slope = slope_out if dst[k] < n_fixed else slope_hid
                w[k] = np.float32(gene_w[i]) * slope
                k += 1
        order = np.argsort(dst * n_nodes + src)  # by destination, then source
        first = np.zeros(n_nodes + 1, np.int64)  # edges of local node d: first[d]..first[d+1]
        for k in range(count):
            first[dst[k] + 1] += 1
        for d in range(n_nodes):
            first[d + 1] += first[d]
        nodes = _evaluation_order(n_in, n_nodes, src, dst, feed_forward)
        if nodes.shape[0] < n_nodes - n_in and bad < 0:
            bad = g
        for d in nodes:
            node_slot[node_at] = d
            node_act[node_at] = act_out if d < n_fixed else act_hid
            for k in range(first[d], first[d + 1]):
                e = order[k]
                edge_src[edge_at] = src[e]
                edge_w[edge_at] = w[e]
                edge_at += 1
            edge_ptr[node_at + 1] = edge_at
            node_at += 1
        node_ptr[g + 1] = node_at
    return node_ptr, node_slot, node_act, edge_ptr, edge_src, edge_w, n_slots, bad


@jit(inline="always")
def _local(node_id, n_fixed, hidden):
    if node_id < n_fixed:
        return node_id
    return n_fixed + np.searchsorted(hidden, node_id)


@jit()
def _evaluation_order(n_in, n_nodes, src, dst, feed_forward):
    """Non-input local indices: ascending (recurrent), or a topological order by Kahn's
    algorithm (fewer than all of them if there is a cycle)."""
    if not feed_forward:
        return np.arange(n_in, n_nodes)
    indegree = np.zeros(n_nodes, np.int64)
    for k in range(src.shape[0]):
        if src[k] >= n_in:
            indegree[dst[k]] += 1
    order = np.empty(n_nodes - n_in, np.int64)
    head, tail = 0, 0
    for d in range(n_in, n_nodes):
        if indegree[d] == 0:
            order[tail] = d
            tail += 1
    while head < tail:
        node = order[head]
        head += 1
        for k in range(src.shape[0]):
            if src[k] == node:
                indegree[dst[k]] -= 1
                if indegree[dst[k]] == 0:
                    order[tail] = dst[k]
                    tail += 1
    return order[:tail]


# rows of an episode's scratch buf[s] (buf: float32 [slots, 3, nodes]) neat_step works in
OBS, VALUES, NEW = 0, 1, 2


@jit(inline="always")
def neat_step(first, last, node_slot, node_act, edge_ptr, edge_src, edge_w, n_in, recurrent,
              buf, s, out):
    """NEATPolicy.__call__ for the episode in slot s (unsigned): buf[s, OBS] (float32
    observation) -> out[s] (float32); buf[s, VALUES] holds the node values by local index
    (recurrent: the previous step's, zeros at the start)."""
    u = np.uint64
    for n in range(u(first), u(last)):
        drive, rest = ZERO, ZERO
        e, end = u(edge_ptr[n]), u(edge_ptr[n + u(1)])
        while e < end and edge_src[e] < n_in:
            drive += buf[s, u(OBS), u(edge_src[e])] * edge_w[e]
            e += u(1)
        while e < end:
            rest += buf[s, u(VALUES), u(edge_src[e])] * edge_w[e]
            e += u(1)
        buf[s, u(NEW if recurrent else VALUES), u(node_slot[n])] = activate(node_act[n], drive + rest)
    if recurrent:
        for n in range(u(first), u(last)):
            buf[s, u(VALUES), u(node_slot[n])] = buf[s, u(NEW), u(node_slot[n])]
    for o in range(u(out.shape[1])):
        out[s, o] = buf[s, u(VALUES), u(n_in) + o]
