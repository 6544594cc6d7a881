"""A generation's breeding and speciation over the packed population (`packed`), run by
the compiled code in `_compiled` whenever the run's operators have a compiled form
(`Breeding.compiled()`); the result is the generation the Python operators breed, bit for
bit, and so is the state of the numpy Generator after it.
"""
from __future__ import annotations

import math

import numpy as np

from nas.evolution.neat.genes import Genome, InnovationTracker
from nas.evolution.neat.operators.speciation import Species
from nas.evolution.neat.packed import GenePool, pack, rows_of
from nas.evolution.neat.params import NEATParams


def _kernels():
    from nas.evolution.neat import _compiled  # numba, loaded on the first generation

    return _compiled


def _speciation_kernels():
    from nas.evolution.neat import _compiled_speciation

    return _compiled_speciation


def _arrays(pool: GenePool) -> tuple:
    return (pool.gene_ptr, pool.innovation, pool.src, pool.dst, pool.weight, pool.enabled,
            pool.hidden_ptr, pool.hidden)


def breed(options: dict, pop: list[Genome], fit: np.ndarray, pools: list[list[int]],
          counts: list[int], rng: np.random.Generator,
          tracker: InnovationTracker) -> list[Genome]:
    """Every species' children, in species order, as rows of one new pool; `tracker`'s
    counters end where the Python operators would leave them (its tables of this
    generation's new links and splits are the compiled code's own: a tracker lives for
    one generation)."""
    k = _kernels()
    parents, rows = pack(pop)
    flat = np.array([i for top in pools for i in top], np.int64)
    ptr = np.cumsum([0] + [len(top) for top in pools], dtype=np.int64)
    ip = np.array([options[name] for name in k.INT_OPTIONS], np.int64)
    fp = np.array([options[name] for name in k.FLOAT_OPTIONS], np.float64)
    out, next_innovation, next_node = k.breed(
        rng, _arrays(parents), rows, pop[0].n_inputs, pop[0].n_outputs, fit, flat, ptr,
        np.array(counts, np.int64), ip, fp, tracker.next_innovation, tracker.next_node)
    tracker.next_innovation, tracker.next_node = int(next_innovation), int(next_node)
    n_genes, n_hidden = int(out[0][-1]), int(out[6][-1])
    children = GenePool(out[0], *(a[:n_genes] for a in out[1:6]), out[6], out[7][:n_hidden])
    return rows_of(children, pop[0].n_inputs, pop[0].n_outputs)


def speciate(genomes: list[Genome], representatives: list[tuple[Species, Genome]],
             threshold: float, next_species: int, generation: int,
             params: NEATParams) -> tuple[list[Species], int]:
    """`operators.speciation.speciate`, compiled (same groups, same order)."""
    children, rows = pack(genomes)
    # (no representatives: any pool, with no rows of it, keeps the arrays typed)
    reps, rep_rows = pack([g for _, g in representatives] or genomes[:1])
    rep_rows = rep_rows[:len(representatives)]
    group, n_groups = _speciation_kernels().speciate(
        children.gene_ptr, children.innovation, children.weight, rows, reps.gene_ptr,
        reps.innovation, reps.weight, rep_rows, float(threshold), float(params.c1),
        float(params.c2), float(params.c3), int(params.normalize_min_genes))
    species = [Species(sp.id, [], sp.created, sp.best_fitness, sp.last_improved, sp.obliterated)
               for sp, _ in representatives]
    for _ in range(int(n_groups) - len(species)):
        species.append(Species(next_species, [], generation, -math.inf, generation))
        next_species += 1
    for i, g in enumerate(group.tolist()):
        species[g].members.append(i)
    return [sp for sp in species if sp.members], next_species


def enabled_count(genomes: list[Genome]) -> int:
    """The enabled genes of all `genomes`, read off their pool when they are one's rows
    (so the per-generation stats build no gene objects)."""
    if not all(g.packed_row() for g in genomes):
        return sum(len(g.enabled()) for g in genomes)
    pool, rows = pack(genomes)
    running = np.concatenate([[0], np.cumsum(pool.enabled, dtype=np.int64)])
    return int((running[pool.gene_ptr[rows + 1]] - running[pool.gene_ptr[rows]]).sum())
