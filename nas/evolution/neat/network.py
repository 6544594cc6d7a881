"""Compile any list of NEAT genomes into one batched `Policy` (one row per genome).

Index layout (per genome g, padded to the population's largest genome):

    node index   0 .. n_in-1                 inputs (no bias node is added: if the task
                                             appends a bias input, n_in counts it)
                 n_in .. n_in+n_out-1        outputs
                 n_in+n_out .. max_nodes-1   hidden nodes in ascending node id, then padding
    src, dst     [G, max_conns] long         enabled connections as node indices
    weight       [G, max_conns]              padding entries have weight 0 at (0, 0)
    W            [G, max_nodes, max_nodes]   W[g, src, dst] = weight (dense, built from above)

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

from nas.evolution.neat.genome import Genome
from nas.evolution.neat.params import ACTIVATIONS, NEATParams


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


def pack(genomes: list[Genome], n_inputs: int, n_outputs: int, feed_forward: bool = True):
    """(src, dst, weight [G, max_conns], max_nodes, depth) for enabled connections."""
    if not genomes:
        raise ValueError("compile_population needs at least one genome")
    max_nodes = max(g.n_nodes for g in genomes)
    max_conns = max(1, max(len(g.enabled()) for g in genomes))
    src = torch.zeros(len(genomes), max_conns, dtype=torch.long)
    dst = torch.zeros(len(genomes), max_conns, dtype=torch.long)
    weight = torch.zeros(len(genomes), max_conns, dtype=torch.float64)
    depth = 0
    for row, g in enumerate(genomes):
        if (g.n_inputs, g.n_outputs) != (n_inputs, n_outputs):
            raise ValueError("genome inputs/outputs do not match compile_population's")
        index = _local_indices(g)
        edges = [(index[c.src], index[c.dst]) for c in g.enabled()]
        if edges:
            src[row, :len(edges)] = torch.tensor([e[0] for e in edges])
            dst[row, :len(edges)] = torch.tensor([e[1] for e in edges])
            weight[row, :len(edges)] = torch.tensor([c.weight for c in g.enabled()],
                                                    dtype=torch.float64)
        if feed_forward and edges:
            depth = max(depth, _longest_path(g.n_nodes, edges))
    return src, dst, weight, max_nodes, depth


class NEATPolicy:
    """A `Policy` over compiled NEAT genomes: `[rows, n_in] -> [rows, n_out]`."""

    def __init__(self, weights: torch.Tensor, n_inputs: int, n_outputs: int,
                 params: NEATParams, depth: int):
        self.weights = weights  # [rows, max_nodes, max_nodes]
        self.n_in, self.n_out = n_inputs, n_outputs
        self.recurrent, self.depth = params.recurrent, depth
        self.act = ACTIVATIONS[params.activation]
        self.out_act = ACTIVATIONS[params.output_activation or params.activation]
        self.values = None  # recurrent node values [rows, max_nodes]

    def _activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Pre-activations of the non-input nodes -> their values."""
        out = self.out_act(pre[:, :self.n_out])
        return torch.cat([out, self.act(pre[:, self.n_out:])], dim=1)

    def _propagate(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.bmm(x.unsqueeze(1), self.weights).squeeze(1)
        return self._activate(pre[:, self.n_in:])

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.to(self.weights.dtype)
        rows, n_nodes = self.weights.shape[0], self.weights.shape[1]
        if self.recurrent:
            if self.values is None:
                self.values = obs.new_zeros(rows, n_nodes)
            x = torch.cat([obs, self.values[:, self.n_in:]], dim=1)
            self.values = torch.cat([obs, self._propagate(x)], dim=1)
            return self.values[:, self.n_in:self.n_in + self.n_out]
        rest = self._activate(obs.new_zeros(rows, n_nodes - self.n_in))
        for _ in range(self.depth):
            rest = self._propagate(torch.cat([obs, rest], dim=1))
        return rest[:, :self.n_out]

    def keep(self, rows: torch.Tensor) -> None:
        rows = rows.to(self.weights.device)
        self.weights = self.weights[rows]
        if self.values is not None:
            self.values = self.values[rows]


def compile_population(genomes: list[Genome], n_inputs: int, n_outputs: int,
                       params: NEATParams, device: str | torch.device = "cpu",
                       dtype: torch.dtype = torch.float32) -> NEATPolicy:
    """All genomes (of any seeds) as one batch: row i of the policy is genomes[i]."""
    src, dst, weight, max_nodes, depth = pack(genomes, n_inputs, n_outputs, not params.recurrent)
    rows = torch.arange(len(genomes)).unsqueeze(1).expand_as(src)
    dense = torch.zeros(len(genomes), max_nodes, max_nodes, dtype=torch.float64)
    dense.index_put_((rows, src, dst), weight, accumulate=True)
    return NEATPolicy(dense.to(device=device, dtype=dtype), n_inputs, n_outputs, params, depth)
