"""NEAT genomes: node and connection genes, innovation bookkeeping, mutation, crossover
and the compatibility distance.

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
from dataclasses import dataclass, field

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


@dataclass
class Genome:
    n_inputs: int
    n_outputs: int
    hidden: list[int] = field(default_factory=list)  # hidden node ids, ascending
    connections: dict[int, ConnectionGene] = field(default_factory=dict)  # by innovation

    @property
    def n_nodes(self) -> int:
        return self.n_inputs + self.n_outputs + len(self.hidden)

    def node_ids(self) -> list[int]:
        return list(range(self.n_inputs + self.n_outputs)) + list(self.hidden)

    def copy(self) -> "Genome":
        return Genome(self.n_inputs, self.n_outputs, list(self.hidden),
                      {k: c.copy() for k, c in self.connections.items()})

    def enabled(self) -> list[ConnectionGene]:
        return [c for _, c in sorted(self.connections.items()) if c.enabled]


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


def new_weights(rng: np.random.Generator, params: NEATParams, n: int) -> np.ndarray:
    """Fresh weights: N(0, init_std), or uniform in +-init_std as Stanley's code starts."""
    if params.weight_noise == "uniform":
        return rng.uniform(-params.weight_init_std, params.weight_init_std, n)
    return rng.normal(0.0, params.weight_init_std, n)


def initial_genome(n_inputs: int, n_outputs: int, rng: np.random.Generator,
                   params: NEATParams) -> Genome:
    """Minimal structure: every input connected to every output (innovations 0..)."""
    g = Genome(n_inputs, n_outputs)
    weights = new_weights(rng, params, n_inputs * n_outputs)
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


def mutate_add_connection(genome: Genome, tracker: InnovationTracker,
                          rng: np.random.Generator, params: NEATParams) -> bool:
    """Link two unconnected nodes with a random weight; False if no link is possible.

    Recurrent genomes pick among every open link, unless `recurrent_link_prob` is set:
    then, as Stanley's code (recur_only_prob), one draw decides whether this mutation looks
    only for a recurrent link (one closing a cycle, self-loops included) or only for a
    feed-forward one, so a small genome is not flooded with self-loops (its only open
    links at the start)."""
    existing = {(c.src, c.dst) for c in genome.connections.values()}
    n_in = genome.n_inputs
    nodes = genome.node_ids()
    targets = nodes[n_in:]  # never into an input
    open_links = [(s, d) for s in nodes for d in targets if (s, d) not in existing]
    if not params.recurrent:
        candidates = [(s, d) for s, d in open_links if not creates_cycle(genome, s, d)]
    elif params.recurrent_link_prob is None:
        candidates = open_links
    else:
        recur = bool(rng.random() < params.recurrent_link_prob)
        candidates = [(s, d) for s, d in open_links if creates_cycle(genome, s, d) == recur]
    if not candidates:
        return False
    src, dst = candidates[int(rng.integers(len(candidates)))]
    innov = tracker.link(src, dst)
    weight = float(new_weights(rng, params, 1)[0])
    genome.connections[innov] = ConnectionGene(innov, src, dst, weight)
    return True


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


def mutate_weights(genome: Genome, rng: np.random.Generator, params: NEATParams) -> None:
    """Each weight: perturbed by sigma * noise with prob weight_perturb_prob, else replaced
    by init_std * noise (noise N(0, 1), or U(-1, 1) with weight_noise="uniform"); with
    weight_schedule="stanley", per `stanley_schedule`. Genes are visited in insertion
    order (deterministic, and no sort per child)."""
    conns = list(genome.connections.values())
    if params.weight_schedule == "stanley":
        perturb, replace = stanley_schedule(conns, rng)
    else:
        perturb = (rng.random(len(conns)) < params.weight_perturb_prob).tolist()
        replace = [not p for p in perturb]
    if params.weight_noise == "uniform":
        noise = rng.uniform(-1.0, 1.0, len(conns)).tolist()
    else:
        noise = rng.normal(0.0, 1.0, len(conns)).tolist()
    lim, sigma, init_std = params.weight_limit, params.weight_sigma, params.weight_init_std
    for c, p, r, z in zip(conns, perturb, replace, noise):
        if p or r:
            w = c.weight + sigma * z if p else init_std * z
            c.weight = min(lim, max(-lim, w))


def stanley_schedule(conns: list[ConnectionGene],
                     rng: np.random.Generator) -> tuple[list[bool], list[bool]]:
    """Which genes are perturbed and which replaced, as Stanley's mutate_link_weights does
    at rate 1.0: a coin makes the genome "severe" (each gene perturbed 70%, replaced 20%,
    kept 10%); otherwise every gene is perturbed, except that in a genome of 10 or more
    genes the newest fifth (by innovation) is perturbed 50%, replaced 20%, kept 30%, on the
    theory that old genes have stood the test of time."""
    n = len(conns)
    severe = rng.random() < 0.5
    choice = rng.random(n)
    rank = np.argsort(np.argsort([c.innovation for c in conns], kind="stable"), kind="stable")
    tail = (rank > 0.8 * n) if n >= 10 else np.zeros(n, dtype=bool)
    perturb_above = np.where(tail, 0.5, 0.0)
    replace_above = np.where(tail, 0.3, -1.0)
    if severe:
        perturb_above[:], replace_above[:] = 0.3, 0.1
    perturb = choice > perturb_above
    replace = ~perturb & (choice > replace_above)
    return perturb.tolist(), replace.tolist()


def _toggle(genome: Genome, rng: np.random.Generator, to: bool) -> None:
    pool = [c for _, c in sorted(genome.connections.items()) if c.enabled != to]
    if pool:
        pool[int(rng.integers(len(pool)))].enabled = to


def mutate(genome: Genome, tracker: InnovationTracker, rng: np.random.Generator,
           params: NEATParams) -> None:
    """All mutations in place: each drawn independently, or with mutation="exclusive" as
    Stanley's code does: add-node, else add-link, else the weight and toggle mutations
    (so a structural child keeps its parent's weights, and is judged on its structure)."""
    if params.mutation == "exclusive":
        if rng.random() < params.add_node_prob:
            mutate_add_node(genome, tracker, rng)
        elif rng.random() < params.add_connection_prob:
            mutate_add_connection(genome, tracker, rng, params)
        else:
            _maybe_reweight(genome, rng, params)
            _maybe_toggle(genome, rng, params)
        return
    _maybe_reweight(genome, rng, params)
    if rng.random() < params.add_node_prob:
        mutate_add_node(genome, tracker, rng)
    if rng.random() < params.add_connection_prob:
        mutate_add_connection(genome, tracker, rng, params)
    _maybe_toggle(genome, rng, params)


def _maybe_reweight(genome: Genome, rng: np.random.Generator, params: NEATParams) -> None:
    if rng.random() < params.weight_mutation_prob:
        mutate_weights(genome, rng, params)


def _maybe_toggle(genome: Genome, rng: np.random.Generator, params: NEATParams) -> None:
    if rng.random() < params.enable_prob:
        _toggle(genome, rng, True)
    if rng.random() < params.disable_prob:
        _toggle(genome, rng, False)


def crossover(a: Genome, fitness_a: float, b: Genome, fitness_b: float,
              rng: np.random.Generator, params: NEATParams) -> Genome:
    """Align by innovation: matching genes from a random parent, disjoint and excess genes
    from the fitter parent (equal fitness: the one with fewer genes, then `a`). A gene
    disabled in either parent stays disabled with prob inherit_disabled_prob. With prob
    crossover_average_prob, matching genes take the mean of both weights instead."""
    if fitness_b > fitness_a or (fitness_b == fitness_a
                                 and len(b.connections) < len(a.connections)):
        a, b = b, a
    average = params.crossover_average_prob > 0 and rng.random() < params.crossover_average_prob
    child = Genome(a.n_inputs, a.n_outputs, list(a.hidden), {})
    for innov in sorted(a.connections):
        mine, other = a.connections[innov], b.connections.get(innov)
        if other is None:
            child.connections[innov] = mine.copy()
            continue
        gene = (mine if rng.random() < 0.5 else other).copy()
        if average:
            gene.weight = 0.5 * (mine.weight + other.weight)
        if not (mine.enabled and other.enabled):
            gene.enabled = not rng.random() < params.inherit_disabled_prob
        child.connections[innov] = gene
    return child


class GeneKey:
    """A genome's genes as the distance needs them, built once per speciation: weights by
    innovation and the sorted innovations. Speciation compares every child with up to
    every representative, so this is the hot loop of reproduction."""

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
    return structural + params.c3 * sum([abs(wa[i] - wb[i]) for i in matching]) / len(matching)


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
