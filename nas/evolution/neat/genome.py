"""NEAT's variant rules over genomes (mutation, crossover) chosen by `NEATParams`; the
genome data and the edits no variant changes live in `genes` and are re-exported here.
"""
from __future__ import annotations

import numpy as np

from nas.evolution.neat.genes import (ConnectionGene, GeneKey, Genome, InnovationTracker,
                                      creates_cycle, distance, genome_from_dict,
                                      genome_to_dict, key_distance, minimal_genome,
                                      mutate_add_node, toggle)
from nas.evolution.neat.params import NEATParams

__all__ = ["ConnectionGene", "GeneKey", "Genome", "InnovationTracker", "creates_cycle",
           "crossover", "distance", "genome_from_dict", "genome_to_dict", "initial_genome",
           "key_distance", "mutate", "mutate_add_connection", "mutate_add_node",
           "mutate_weights", "new_weights"]


def new_weights(rng: np.random.Generator, params: NEATParams, n: int) -> np.ndarray:
    """Fresh weights: N(0, init_std), or uniform in +-init_std as Stanley's code starts."""
    if params.weight_noise == "uniform":
        return rng.uniform(-params.weight_init_std, params.weight_init_std, n)
    return rng.normal(0.0, params.weight_init_std, n)


def initial_genome(n_inputs: int, n_outputs: int, rng: np.random.Generator,
                   params: NEATParams) -> Genome:
    return minimal_genome(n_inputs, n_outputs, new_weights(rng, params, n_inputs * n_outputs))


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
        toggle(genome, rng, True)
    if rng.random() < params.disable_prob:
        toggle(genome, rng, False)


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
