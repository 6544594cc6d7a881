"""NEAT's genome data: node and connection genes, innovation bookkeeping, the
compatibility distance, and the edits that no variant changes (splitting a link,
toggling one). The variant rules (which weights change and how, which links to add, how
parents combine) are operators in `nas.evolution.neat.operators`.

Node ids: inputs are 0..n_inputs-1, outputs n_inputs..n_inputs+n_outputs-1, hidden nodes
get fresh ids from the run's node counter. There are no per-node biases (as in the
paper): a task that wants a bias supplies a constant input, and `n_inputs` counts it.

Connections are keyed by innovation number. A genome never holds two genes with the
same (src, dst), disabled ones included. In feed-forward mode the graph of ALL genes
(enabled and disabled) stays acyclic, so enabling a gene can never create a cycle, and
crossover children (whose genes are a subset of the fitter parent's) stay acyclic too.

Randomness comes from a `numpy.random.Generator` that the algorithm seeds from the
caller's torch.Generator, so runs are reproducible per seed.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from nas.errors import NasError
from nas.evolution.neat.params import NEATParams


@dataclass(slots=True)
class ConnectionGene:
    innovation: int
    src: int
    dst: int
    weight: float
    enabled: bool = True

    def copy(self) -> "ConnectionGene":
        return ConnectionGene(self.innovation, self.src, self.dst, self.weight, self.enabled)


class Genome:
    """A genome's node and connection genes. Either held as Python objects (`hidden`, and
    `connections` by innovation, in the order they were added: mutations draw by that
    position), or a row of a packed population (`nas.evolution.neat.packed.GenePool`),
    which is how the compiled reproduction hands out its children: the objects are then
    built on first use of `hidden` or `connections`, so a generation that only evaluates
    and breeds its genomes never builds one per gene. A pool is never written to, so a
    packed genome's copy is another handle on the same row."""

    __slots__ = ("n_inputs", "n_outputs", "_hidden", "_connections", "_pool", "_row")

    def __init__(self, n_inputs: int, n_outputs: int, hidden: list[int] | None = None,
                 connections: dict[int, ConnectionGene] | None = None):
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        self._hidden = [] if hidden is None else hidden  # hidden node ids, ascending
        self._connections = {} if connections is None else connections  # by innovation
        self._pool, self._row = None, -1

    @classmethod
    def packed(cls, n_inputs: int, n_outputs: int, pool, row: int) -> "Genome":
        g = cls.__new__(cls)
        g.n_inputs, g.n_outputs, g._hidden, g._connections = n_inputs, n_outputs, None, None
        g._pool, g._row = pool, row
        return g

    @property
    def hidden(self) -> list[int]:
        if self._pool is not None:
            self._unpack()
        return self._hidden

    @hidden.setter
    def hidden(self, value: list[int]) -> None:
        if self._pool is not None:
            self._unpack()
        self._hidden = value

    @property
    def connections(self) -> dict[int, ConnectionGene]:
        if self._pool is not None:
            self._unpack()
        return self._connections

    @connections.setter
    def connections(self, value: dict[int, ConnectionGene]) -> None:
        if self._pool is not None:
            self._unpack()
        self._connections = value

    def packed_row(self):
        """(pool, row) while this genome is still a pool's row, else None."""
        return None if self._pool is None else (self._pool, self._row)

    def _unpack(self) -> None:
        self._hidden, self._connections = self._pool.unpack(self._row)
        self._pool = None

    @property
    def n_nodes(self) -> int:
        if self._pool is not None:
            return self.n_inputs + self.n_outputs + self._pool.n_hidden(self._row)
        return self.n_inputs + self.n_outputs + len(self._hidden)

    def node_ids(self) -> list[int]:
        return list(range(self.n_inputs + self.n_outputs)) + list(self.hidden)

    def copy(self) -> "Genome":
        if self._pool is not None:
            return Genome.packed(self.n_inputs, self.n_outputs, self._pool, self._row)
        return Genome(self.n_inputs, self.n_outputs, list(self._hidden),
                      {k: c.copy() for k, c in self._connections.items()})

    def enabled(self) -> list[ConnectionGene]:
        return [c for _, c in sorted(self.connections.items()) if c.enabled]

    def __eq__(self, other) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return ((self.n_inputs, self.n_outputs, self.hidden, self.connections)
                == (other.n_inputs, other.n_outputs, other.hidden, other.connections))

    __hash__ = None  # mutable, compared by value (as the dataclass it was)

    def __repr__(self) -> str:
        return (f"Genome(n_inputs={self.n_inputs!r}, n_outputs={self.n_outputs!r}, "
                f"hidden={self.hidden!r}, connections={self.connections!r})")


class InnovationTracker:
    """Hands out innovation numbers and node ids for one generation.

    The same structural mutation within one generation (the same new (src, dst) link, or
    a split of the same connection) gets the same numbers; the counters persist across
    generations through `NEATState`.
    """

    def __init__(self, next_innovation: int, next_node: int):
        self.next_innovation, self.next_node = next_innovation, next_node
        self.links: dict[tuple[int, int], int] = {}
        self.splits: dict[int, tuple[int, int, int]] = {}

    def link(self, src: int, dst: int) -> int:
        if (src, dst) not in self.links:
            self.links[(src, dst)] = self.next_innovation
            self.next_innovation += 1
        return self.links[(src, dst)]

    def split(self, conn: ConnectionGene) -> tuple[int, int, int]:
        """(new node id, innovation of src->node, innovation of node->dst)."""
        if conn.innovation not in self.splits:
            node = self.next_node
            self.next_node += 1
            self.splits[conn.innovation] = (node, self.link(conn.src, node),
                                            self.link(node, conn.dst))
        return self.splits[conn.innovation]


def minimal_genome(n_inputs: int, n_outputs: int, weights: np.ndarray) -> Genome:
    """Minimal structure: every input connected to every output (innovations 0..)."""
    g = Genome(n_inputs, n_outputs)
    for k in range(n_inputs * n_outputs):
        i, o = divmod(k, n_outputs)
        g.connections[k] = ConnectionGene(k, i, n_inputs + o, float(weights[k]))
    return g


def creates_cycle(genome: Genome, src: int, dst: int) -> bool:
    """Would src->dst close a cycle over all genes (enabled or not)?"""
    if src == dst:
        return True
    succ: dict[int, list[int]] = {}
    for c in genome.connections.values():
        succ.setdefault(c.src, []).append(c.dst)
    stack, seen = [dst], {dst}
    while stack:
        node = stack.pop()
        if node == src:
            return True
        for nxt in succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def mutate_add_node(genome: Genome, tracker: InnovationTracker,
                    rng: np.random.Generator) -> bool:
    """Split a random enabled connection a->b: it is disabled, and a->new gets weight 1.0,
    new->b the old weight (the paper's rule)."""
    enabled = genome.enabled()
    if not enabled:
        return False
    old = enabled[int(rng.integers(len(enabled)))]
    node, in_innov, out_innov = tracker.split(old)
    if node in genome.hidden:  # cannot happen with one split per child; be safe
        return False
    old.enabled = False
    genome.hidden.append(node)
    genome.hidden.sort()
    genome.connections[in_innov] = ConnectionGene(in_innov, old.src, node, 1.0)
    genome.connections[out_innov] = ConnectionGene(out_innov, node, old.dst, old.weight)
    return True


def toggle(genome: Genome, rng: np.random.Generator, to: bool) -> None:
    """Set one random gene (in innovation order) that is not yet `to` to `to`."""
    pool = [c for _, c in sorted(genome.connections.items()) if c.enabled != to]
    if pool:
        pool[int(rng.integers(len(pool)))].enabled = to


class GeneKey:
    """A genome's genes as the distance needs them, built once per speciation: weights by
    innovation and the sorted innovations. Speciation compares every child with up to
    every representative; runs do that compiled (`neat._compiled_speciation`, the same
    arithmetic), and this is the reference it is tested against."""

    __slots__ = ("weights", "innovations", "last")

    def __init__(self, genome: Genome):
        self.weights = {i: c.weight for i, c in genome.connections.items()}
        self.innovations = sorted(self.weights)
        self.last = self.innovations[-1] if self.innovations else -1


def key_distance(a: GeneKey, b: GeneKey, params: NEATParams, bound: float = math.inf) -> float:
    """delta = c1*E/N + c2*D/N + c3*W (N = genes of the larger genome, 1 if both small).
    Excess genes lie beyond the other genome's last innovation, so they are counted by
    bisection; all other unmatched genes are disjoint. When the gene counts alone reach
    `bound`, that part is returned without the weight term (speciation only asks whether
    delta < threshold, and the weight term can only add)."""
    wa, wb = a.weights, b.weights
    if not wa and not wb:
        return 0.0
    matching = wa.keys() & wb.keys()
    if a.last > b.last:
        excess = len(a.innovations) - bisect_right(a.innovations, b.last)
    else:
        excess = len(b.innovations) - bisect_right(b.innovations, a.last)
    disjoint = len(wa) + len(wb) - 2 * len(matching) - excess
    n = max(len(wa), len(wb))
    if n < params.normalize_min_genes:
        n = 1
    structural = params.c1 * excess / n + params.c2 * disjoint / n
    if structural >= bound or not matching:
        return structural
    # in innovation order, as the compiled speciation sums (the same bits either way)
    weights = sum([abs(wa[i] - wb[i]) for i in sorted(matching)])
    return structural + params.c3 * weights / len(matching)


def distance(a: Genome, b: Genome, params: NEATParams) -> float:
    return key_distance(GeneKey(a), GeneKey(b), params)


def genome_to_dict(genome: Genome) -> dict:
    n_in, n_out = genome.n_inputs, genome.n_outputs
    kinds = ["input"] * n_in + ["output"] * n_out + ["hidden"] * len(genome.hidden)
    return {
        "n_inputs": n_in, "n_outputs": n_out,
        "nodes": [{"id": i, "type": t} for i, t in zip(genome.node_ids(), kinds)],
        "connections": [{"innovation": c.innovation, "in": c.src, "out": c.dst,
                         "weight": c.weight, "enabled": c.enabled}
                        for _, c in sorted(genome.connections.items())],
    }


def genome_from_dict(d: dict) -> Genome:
    try:
        hidden = sorted(int(n["id"]) for n in d["nodes"] if n["type"] == "hidden")
        g = Genome(int(d["n_inputs"]), int(d["n_outputs"]), hidden, {})
        for c in d["connections"]:
            gene = ConnectionGene(int(c["innovation"]), int(c["in"]), int(c["out"]),
                                  float(c["weight"]), bool(c["enabled"]))
            g.connections[gene.innovation] = gene
    except (KeyError, TypeError, ValueError) as exc:
        raise NasError(f"not a NEAT genome: {exc}") from None
    known = set(g.node_ids())
    if any(c.src not in known or c.dst not in known for c in g.connections.values()):
        raise NasError("not a NEAT genome: a connection refers to an unknown node")
    return g
