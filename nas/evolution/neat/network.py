"""Compile any list of NEAT genomes into one batched `Policy` (one row per genome).

Index layout (per genome g, padded to the population's largest genome):

    node index   0 .. n_in-1                 inputs (no bias node is added: if the task
                                             appends a bias input, n_in counts it)
                 n_in .. n_in+n_out-1        outputs
                 n_in+n_out .. max_nodes-1   hidden nodes in ascending node id, then padding
    W            [G, max_nodes, max_nodes]   W[g, src, dst] = weight of an enabled connection

Every non-input node computes act(sum_in w * x_src); a node without incoming enabled
connections outputs act(0) (no node biases, as in the paper). Hidden nodes use
`params.activation`, output nodes `params.output_activation` (default: the same).

Feed-forward genomes (params.recurrent False): repeated dense propagation to a fixed
depth. Non-input nodes start at act(0); each step recomputes every non-input node from
the current values, x <- [obs, act(x @ W)]; after D steps, with D the longest path
(in enabled edges) of any genome in the batch, every node has its exact feed-forward
value (a node at depth d is exact after d steps and then stays fixed). No state
persists between calls.

Recurrent genomes: one synchronous propagation per call, as NEAT's recurrent network
activation: inputs are set to obs, then every non-input node takes act(x_prev @ W) from
the previous call's values (all zero before the first call). Signals therefore need as
many calls as edges to cross the network; node values persist until `keep` drops rows.
"""
from __future__ import annotations

import torch

from nas.evolution.neat.genes import Genome
from nas.evolution.neat.params import SLOPES, UNIT, NEATParams


def _local_indices(genome: Genome) -> dict[int, int]:
    return {node: i for i, node in enumerate(genome.node_ids())}


def _longest_path(n_nodes: int, edges: list[tuple[int, int]]) -> int:
    """Longest path in edges of a DAG over local indices (Kahn order)."""
    indeg, succ = [0] * n_nodes, [[] for _ in range(n_nodes)]
    for s, d in edges:
        succ[s].append(d)
        indeg[d] += 1
    depth = [0] * n_nodes
    ready = [i for i in range(n_nodes) if indeg[i] == 0]
    while ready:
        node = ready.pop()
        for nxt in succ[node]:
            depth[nxt] = max(depth[nxt], depth[node] + 1)
            indeg[nxt] -= 1
            if indeg[nxt] == 0:
                ready.append(nxt)
    if any(indeg):
        raise ValueError("feed-forward NEAT genome has a cycle; set recurrent=True")
    return max(depth, default=0)


def dense_weights(genomes: list[Genome], n_inputs: int, n_outputs: int,
                  feed_forward: bool = True) -> tuple[torch.Tensor, int]:
    """(W [G, max_nodes, max_nodes] float64 with W[g, src, dst] = weight, depth) from the
    enabled connections; genes are gathered in Python lists and scattered in one call."""
    if not genomes:
        raise ValueError("compile_population needs at least one genome")
    max_nodes = max(g.n_nodes for g in genomes)
    rows: list[int] = []
    src: list[int] = []
    dst: list[int] = []
    weight: list[float] = []
    depth = 0
    for row, g in enumerate(genomes):
        if g.n_inputs != n_inputs or g.n_outputs != n_outputs:
            raise ValueError("genome inputs/outputs do not match compile_population's")
        index = _local_indices(g)
        enabled = g.enabled()
        edges = [(index[c.src], index[c.dst]) for c in enabled]
        rows += [row] * len(edges)
        src += [e[0] for e in edges]
        dst += [e[1] for e in edges]
        weight += [c.weight for c in enabled]
        if feed_forward and edges:
            direct = all(e[0] < n_inputs for e in edges)  # inputs -> outputs only: depth 1
            depth = max(depth, 1 if direct else _longest_path(g.n_nodes, edges))
    dense = torch.zeros(len(genomes), max_nodes, max_nodes, dtype=torch.float64)
    dense.index_put_((torch.tensor(rows, dtype=torch.long), torch.tensor(src, dtype=torch.long),
                      torch.tensor(dst, dtype=torch.long)),
                     torch.tensor(weight, dtype=torch.float64), accumulate=True)
    return dense, depth


class NEATPolicy:
    """A `Policy` over compiled NEAT genomes: `[rows, n_in] -> [rows, n_out]`.

    Built for few tensor ops per control step, since small batches are bound by per-op
    overhead, not arithmetic: the dense matrix is split into the input block `w_in`
    [rows, n_in, K] and the non-input block `w_rest` [rows, K, K] (K = non-input nodes);
    the steep sigmoid's slope is folded into the columns, so each node's activation is a
    plain function; the inputs' contribution `obs @ w_in` is computed once per step and
    reused by every propagation; the first feed-forward propagation, from the constant
    act(0) start, adds a precomputed `start` term; when no connection leaves an output
    node, outputs are read out once after the last propagation.
    """

    def __init__(self, weights: torch.Tensor, n_inputs: int, n_outputs: int,
                 params: NEATParams, depth: int):
        self.n_in, self.n_out = n_inputs, n_outputs
        self.recurrent, self.depth = params.recurrent, depth
        out_name, hid_name = params.output_activation or params.activation, params.activation
        k = weights.shape[1] - n_inputs
        slope = torch.ones(k, dtype=weights.dtype, device=weights.device)
        slope[:n_outputs] = params.output_slope()
        slope[n_outputs:] = SLOPES[hid_name]
        self.w_in = weights[:, :n_inputs, n_inputs:] * slope
        self.w_rest = (weights[:, n_inputs:, n_inputs:] * slope).contiguous()
        self.out_fn, self.hid_fn = UNIT[out_name], UNIT[hid_name]
        self.is_output = torch.arange(k, device=weights.device) < n_outputs
        if not self.recurrent:
            act0 = self._act(weights.new_zeros(1, 1, k))
            self.start = torch.matmul(act0, self.w_rest)  # [rows, 1, K]
            # Usually no connection leaves an output: outputs are then read-outs, and the
            # propagation can apply the hidden function to every column.
            self.outputs_feed = bool(self.w_rest[:, :n_outputs, :].any())
        self.values = None  # recurrent node values [rows, 1, K]

    def _act(self, pre: torch.Tensor) -> torch.Tensor:
        if self.out_fn is self.hid_fn or pre.shape[-1] == self.n_out:  # one function for all
            return self.out_fn(pre)
        return torch.where(self.is_output, self.out_fn(pre), self.hid_fn(pre))

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        drive = torch.bmm(obs.to(self.w_in.dtype).unsqueeze(1), self.w_in)  # [rows, 1, K]
        if self.recurrent:
            if self.values is None:
                self.values = torch.zeros_like(drive)
            self.values = self._act(torch.baddbmm(drive, self.values, self.w_rest))
            return self.values[:, 0, :self.n_out]
        pre = drive + self.start
        if not self.outputs_feed:
            for _ in range(self.depth - 1):
                pre = torch.baddbmm(drive, self.hid_fn(pre), self.w_rest)
            return self.out_fn(pre[:, 0, :self.n_out])
        for _ in range(self.depth - 1):
            pre = torch.baddbmm(drive, self._act(pre), self.w_rest)
        return self._act(pre)[:, 0, :self.n_out]

    def keep(self, rows: torch.Tensor) -> None:
        rows = rows.to(self.w_in.device)
        self.w_in, self.w_rest = self.w_in[rows], self.w_rest[rows]
        if not self.recurrent:
            self.start = self.start[rows]
        if self.values is not None:
            self.values = self.values[rows]


def compile_population(genomes: list[Genome], n_inputs: int, n_outputs: int,
                       params: NEATParams, device: str | torch.device = "cpu",
                       dtype: torch.dtype = torch.float32) -> NEATPolicy:
    """All genomes (of any seeds) as one batch: row i of the policy is genomes[i]."""
    dense, depth = dense_weights(genomes, n_inputs, n_outputs, not params.recurrent)
    return NEATPolicy(dense.to(device=device, dtype=dtype), n_inputs, n_outputs, params, depth)
