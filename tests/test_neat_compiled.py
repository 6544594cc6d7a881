"""NEAT's compiled reproduction (nas.evolution.neat._compiled over packed genomes) breeds
and speciates exactly what the Python operators do: the same genomes (genes in the same
dict order, the same weight bits), species, counters and Generator state, for the
paper's operators and every variant that has a compiled form; packed genomes behave as
genomes (copy, equality, edits, storage)."""
import numpy as np
import pytest
import torch

from nas.evolution.neat import NEAT, NEATParams, genome_from_dict, genome_to_dict
from nas.evolution.neat import batched
from nas.evolution.neat.operators.speciation import speciate
from nas.evolution.neat.packed import pack

WILD = dict(add_node_prob=0.4, add_connection_prob=0.5, enable_prob=0.2, disable_prob=0.2,
            weight_limit=2.0, normalize_min_genes=5)
VARIANTS = {
    "paper": {},
    "wild": WILD,
    "stanley": dict(WILD, mutation="exclusive", weight_noise="uniform", mate_only_prob=0.3,
                    crossover_average_prob=0.4, representative="champion",
                    interspecies_rate=0.2, target_species=4),
    "recurrent-any": dict(WILD, recurrent=True),
    "recurrent-first": dict(WILD, recurrent=True, recurrent_link_prob=0.3),
    "delta-coding": dict(WILD, population_stagnation=2, stagnation=3),
}


def python_tell(alg: NEAT, state, fitness, generator):
    """NEAT.tell as the Python operators alone run it (the reference)."""
    compiled, alg._compiled = alg._compiled, None
    speciate_now, batched.speciate = batched.speciate, speciate
    try:
        return alg.tell(state, fitness, generator)
    finally:
        alg._compiled, batched.speciate = compiled, speciate_now


def genes(genome):
    return genome.hidden, [(k, c.innovation, c.src, c.dst, c.weight.hex(), c.enabled)
                           for k, c in genome.connections.items()]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_compiled_generations_equal_python_operators(variant):
    params = NEATParams(**VARIANTS[variant])
    alg = NEAT(3, 2, 60, params)
    assert alg._compiled is not None
    fast_gen, ref_gen = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    fast = ref = alg.init(torch.Generator().manual_seed(1))
    for generation in range(12):
        fitness = torch.rand(60, generator=torch.Generator().manual_seed(generation)) * 10
        fitness[generation % 7] = float("nan")
        fast = alg.tell(fast, fitness, fast_gen)
        ref = python_tell(alg, ref, fitness, ref_gen)
        assert [genes(g) for g in fast.population] == [genes(g) for g in ref.population]
        assert fast.species == ref.species
        assert (fast.threshold, fast.next_innovation, fast.next_node, fast.next_species) == \
            (ref.threshold, ref.next_innovation, ref.next_node, ref.next_species)
        assert torch.equal(fast_gen.get_state(), ref_gen.get_state())
    assert fast.next_node > 5 and fast.next_innovation > 6  # structure did grow


def test_stanley_schedule_has_no_compiled_form_and_still_runs():
    alg = NEAT(3, 1, 20, NEATParams(weight_schedule="stanley"))
    assert alg._compiled is None
    state = alg.init(torch.Generator().manual_seed(0))
    state = alg.tell(state, torch.arange(20.0), torch.Generator().manual_seed(0))
    assert len(state.population) == 20


def test_packed_genomes_behave_as_genomes():
    alg = NEAT(2, 1, 30, NEATParams(**WILD))
    gen = torch.Generator().manual_seed(3)
    state = alg.init(gen)
    for _ in range(4):
        state = alg.tell(state, torch.rand(30, generator=gen), gen)
    pop = state.population
    assert all(g.packed_row() is not None for g in pop)
    stats = alg.stats(state)  # read off the pool, no genes built
    assert all(g.packed_row() is not None for g in pop)
    copy = pop[0].copy()
    assert copy.packed_row() == pop[0].packed_row()
    first = next(iter(copy.connections.values()))
    first.weight += 1.0  # an edit of a copy leaves the pool (and pop[0]) alone
    assert pop[0].packed_row() is not None and copy != pop[0]
    assert pop[2].copy() == pop[2]
    assert genome_from_dict(genome_to_dict(pop[1])) == pop[1]
    assert pop[1].packed_row() is None  # built its genes to store them
    assert stats == alg.stats(state)
    pool, rows = pack([pop[0], copy])
    assert rows.tolist() == [0, 1] and pool.weight[pool.gene_ptr[1]] == first.weight


def test_compiled_speciation_equals_python():
    params = NEATParams(compatibility_threshold=1.0, normalize_min_genes=3)
    alg = NEAT(3, 2, 80, NEATParams(**WILD))
    gen = torch.Generator().manual_seed(11)
    state = alg.init(gen)
    for _ in range(6):
        state = alg.tell(state, torch.rand(80, generator=gen), gen)
    reps = [(sp, state.population[sp.members[-1]]) for sp in state.species]
    for threshold in (0.3, 1.0, 3.0):
        want = speciate(state.population, reps, threshold, 100, 7, params)
        assert batched.speciate(state.population, reps, threshold, 100, 7, params) == want


def test_gather_reads_packed_rows_and_objects_alike():
    from nas.evolution.neat.packed import gather

    alg = NEAT(2, 1, 12, NEATParams(**WILD))
    gen = torch.Generator().manual_seed(4)
    states = [alg.init(gen)]
    for _ in range(3):
        states.append(alg.tell(states[-1], torch.rand(12, generator=gen), gen))
    mixed = states[-1].population[::2] + states[-2].population[3:8] + [states[0].population[1]]
    want = [genome_from_dict(genome_to_dict(g.copy())) for g in mixed]  # objects only
    pool, reference = gather(mixed), gather(want)
    assert any(g.packed_row() for g in mixed) and not any(g.packed_row() for g in want)
    for name in ("gene_ptr", "innovation", "src", "dst", "weight", "enabled", "hidden_ptr",
                 "hidden"):
        assert np.array_equal(getattr(pool, name), getattr(reference, name)), name
    assert gather(states[-1].population) is states[-1].population[0].packed_row()[0]


def test_ranked_all_and_species_best_agree_with_one_species_at_a_time():
    from nas.evolution.neat.operators.reproduction import ranked, ranked_all, species_best
    from nas.evolution.neat.operators.speciation import Species

    rng = np.random.default_rng(0)
    fit = rng.integers(0, 4, 40).astype(float)  # many ties
    fit[[3, 17]] = -np.inf
    order = rng.permutation(40).tolist()
    species = [Species(k, order[a:b], 0) for k, (a, b) in enumerate([(0, 1), (1, 15), (15, 40)])]
    assert ranked_all(species, fit) == [ranked(sp, fit) for sp in species]
    assert species_best(species, fit) == [float(fit[sp.members].max()) for sp in species]
