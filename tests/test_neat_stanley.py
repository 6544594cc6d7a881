"""The NEAT options taken from Stanley's NEAT C++ (p2nv.ne's code): delta coding after a
population-wide stall, exclusive mutation, unmutated crossover children, averaging
crossover, uniform weight noise, recur_only_prob, champion representatives, his weight
mutation schedule, the stagnation penalty and obliteration. Each is checked for what it
does to genomes or species."""
import math

import numpy as np
import pytest
import torch

from nas.errors import NasError
from nas.evolution.neat.algorithm import speciate
from nas.evolution.neat import (NEAT, ConnectionGene, Genome, InnovationTracker, NEATParams,
                                compile_population, crossover, genome_to_dict)
from nas.evolution.neat.genome import (GeneKey, creates_cycle, initial_genome, key_distance,
                                      mutate, mutate_add_connection, mutate_add_node,
                                      mutate_weights)

STANLEY = dict(population_stagnation=20, mutation="exclusive", mate_only_prob=0.2,
               crossover_average_prob=0.4, weight_noise="uniform", weight_sigma=1.8,
               weight_limit=8.0, recurrent=True)


def genes(g: Genome) -> dict[int, tuple[int, int]]:
    return {k: (c.src, c.dst) for k, c in g.connections.items()}


def spread_population(algo, gen, generations=6):
    """A few generations on random fitness, so there are several species to rank."""
    state = algo.init(gen)
    for _ in range(generations):
        state = algo.tell(state, torch.rand(algo.size, generator=gen, dtype=torch.float64), gen)
    return state


def test_delta_coding_breeds_the_two_best_champions_after_a_stall():
    # tiny perturbations: a reweighted child stays within 1e-5 of the champion it came from
    params = NEATParams(population_stagnation=3, compatibility_threshold=0.8,
                        add_node_prob=0.3, add_connection_prob=0.5, weight_sigma=1e-7,
                        weight_perturb_prob=1.0)
    algo, gen = NEAT(3, 1, 40, params), torch.Generator().manual_seed(2)
    state = spread_population(algo, gen)
    assert len(state.species) >= 3
    # A record, then flat fitness: no delta coding until 3 generations have passed.
    record = torch.zeros(40, dtype=torch.float64)
    record[7] = 100.0
    state = algo.tell(state, record, gen)
    assert state.best_fitness == 100.0 and state.last_improved == 6
    for _ in (7, 8):
        state = algo.tell(state, torch.ones(40, dtype=torch.float64), gen)
        assert state.last_improved == 6
    fit = torch.arange(40, dtype=torch.float64)  # below the record: still a stall
    before = state
    order = sorted(before.species, key=lambda sp: -max(fit[i].item() for i in sp.members))
    champions = [before.population[max(sp.members, key=lambda i: fit[i].item())]
                 for sp in order[:2]]
    state = algo.tell(before, fit, gen)
    assert state.last_improved == 9  # the stall counter restarts
    children = state.population
    assert len(children) == 40
    exact = [genome_to_dict(c) for c in children]
    for champ in champions:
        assert exact.count(genome_to_dict(champ)) >= 1  # one unchanged copy each
    # every child is one of the two champions, reweighted or with one new connection
    by_champ = [0, 0]
    for child in children:
        matches = [k for k, ch in enumerate(champions)
                   if ch.hidden == child.hidden
                   and set(genes(ch).items()) <= set(genes(child).items())
                   and len(child.connections) - len(ch.connections) <= 1
                   and all(abs(child.connections[i].weight - c.weight) < 1e-5
                           for i, c in ch.connections.items())]
        assert matches, "a child that is not a champion's offspring"
        by_champ[matches[0]] += 1
    assert by_champ == [20, 20]


def test_a_stall_changes_nothing_until_population_stagnation_is_reached():
    def run(**kw):
        algo, gen = NEAT(3, 1, 30, NEATParams(**kw)), torch.Generator().manual_seed(0)
        state = spread_population(algo, gen, 2)
        for _ in range(12):
            state = algo.tell(state, torch.full((30,), 2.0, dtype=torch.float64), gen)
        return [genome_to_dict(g) for g in state.population], state.last_improved
    off, last = run()
    assert last == 2  # the record is kept either way
    assert run(population_stagnation=13) == (off, 2)  # not reached: the same run
    assert run(population_stagnation=5)[0] != off


def test_exclusive_mutation_changes_structure_or_weights_never_both():
    base = Genome(2, 1, [], {0: ConnectionGene(0, 0, 2, 0.5), 1: ConnectionGene(1, 1, 2, -0.5)})
    for probs, kind in (((1.0, 0.0), "node"), ((0.0, 1.0), "link"), ((0.0, 0.0), "weights")):
        params = NEATParams(mutation="exclusive", add_node_prob=probs[0],
                            add_connection_prob=probs[1], weight_mutation_prob=1.0,
                            recurrent=True)
        for seed in range(10):
            child = base.copy()
            mutate(child, InnovationTracker(2, 3), np.random.default_rng(seed), params)
            kept = [k for k in (0, 1) if child.connections[k].weight == base.connections[k].weight]
            if kind == "node":
                assert len(child.hidden) == 1 and len(child.connections) == 4
                assert sum(not c.enabled for c in child.connections.values()) == 1
            elif kind == "link":
                assert len(child.connections) == 3 and kept == [0, 1]
            else:
                assert len(child.connections) == 2 and kept == []
        # the independent scheme with the same probabilities does both at once
    both = NEATParams(add_node_prob=1.0, weight_mutation_prob=1.0)
    child = base.copy()
    mutate(child, InnovationTracker(2, 3), np.random.default_rng(0), both)
    assert len(child.hidden) == 1 and child.connections[1].weight != -0.5


def test_mate_only_children_are_plain_crossovers():
    params = NEATParams(crossover_rate=1.0, mate_only_prob=1.0, add_node_prob=1.0,
                        weight_mutation_prob=1.0, elitism=0)
    algo, gen = NEAT(3, 1, 20, params), torch.Generator().manual_seed(1)
    state = algo.init(gen)
    parents = state.population
    weights = {}
    for p in parents:
        for k, c in p.connections.items():
            weights.setdefault(k, set()).add(c.weight)
    state = algo.tell(state, torch.rand(20, generator=gen, dtype=torch.float64), gen)
    unmutated = [c for c in state.population if not c.hidden]
    assert len(unmutated) >= 15  # a child mated with itself is mutated, as in the code
    for child in unmutated:
        assert all(c.weight in weights[k] for k, c in child.connections.items())


def test_averaging_crossover_takes_the_mean_of_matching_weights():
    a = Genome(2, 1, [], {0: ConnectionGene(0, 0, 2, 1.0), 1: ConnectionGene(1, 1, 2, 3.0)})
    b = Genome(2, 1, [], {0: ConnectionGene(0, 0, 2, -1.0), 1: ConnectionGene(1, 1, 2, 1.0)})
    child = crossover(a, 1.0, b, 0.5, np.random.default_rng(0),
                      NEATParams(crossover_average_prob=1.0))
    assert [child.connections[k].weight for k in (0, 1)] == [0.0, 2.0]
    picked = crossover(a, 1.0, b, 0.5, np.random.default_rng(0), NEATParams())
    assert {picked.connections[0].weight} <= {1.0, -1.0}


def test_uniform_weight_noise_stays_in_its_bounds():
    params = NEATParams(weight_noise="uniform", weight_init_std=1.0, weight_sigma=0.25,
                        weight_perturb_prob=1.0, weight_limit=8.0)
    rng = np.random.default_rng(0)
    init = [c.weight for _ in range(50)
            for c in initial_genome(5, 1, rng, params).connections.values()]
    assert max(map(abs, init)) <= 1.0 and min(init) < -0.8 and max(init) > 0.8
    g = initial_genome(5, 1, rng, params)
    before = [c.weight for c in g.connections.values()]
    mutate_weights(g, rng, params)
    steps = [c.weight - w for c, w in zip(g.connections.values(), before)]
    assert all(0 < abs(s) <= 0.25 for s in steps)
    g.connections[0].weight = 7.9
    for _ in range(40):
        mutate_weights(g, rng, params)
    assert all(abs(c.weight) <= 8.0 for c in g.connections.values())


def test_stanley_options_are_deterministic_per_seed():
    def run(seed):
        algo, gen = NEAT(4, 1, 30, NEATParams(**{**STANLEY, "population_stagnation": 2})), \
            torch.Generator().manual_seed(seed)
        state = algo.init(gen)
        for i in range(8):
            fit = torch.rand(30, generator=gen, dtype=torch.float64) if i < 3 else \
                torch.zeros(30, dtype=torch.float64)
            state = algo.tell(state, fit, gen)
        return [genome_to_dict(g) for g in state.population]
    assert run(3) == run(3) and run(3) != run(4)


def test_output_gain_is_the_output_nodes_slope():
    g = Genome(3, 1, [], {k: ConnectionGene(k, k, 3, w) for k, w in enumerate((0.3, -0.2, 0.05))})
    obs = torch.tensor([[0.5, 1.0, -2.0]])
    out = {}
    for gain in (None, 4.9):
        params = NEATParams(output_activation="identity", output_gain=gain)
        out[gain] = compile_population([g], 3, 1, params)(obs)[0, 0].item()
    assert out[None] == pytest.approx(-0.15) and out[4.9] == pytest.approx(4.9 * -0.15)
    assert NEATParams().output_slope() == 4.9 and NEATParams(activation="tanh").output_slope() == 1.0


@pytest.mark.parametrize("bad", [dict(output_gain=0.0), dict(mutation="sometimes"), dict(weight_noise="cauchy"),
                                 dict(population_stagnation=0), dict(mate_only_prob=1.5),
                                 dict(crossover_average_prob=-0.1), dict(recurrent_link_prob=1.2),
                                 dict(representative="oldest"), dict(weight_schedule="severe"),
                                 dict(stagnation_penalty=1.0), dict(obliterate_every=0),
                                 dict(obliterate_age=-1)])
def test_stanley_options_are_validated(bad):
    with pytest.raises(NasError):
        NEATParams(**bad)


def test_population_record_ignores_nan():
    algo, gen = NEAT(2, 1, 10, NEATParams(population_stagnation=5)), torch.Generator().manual_seed(0)
    state = algo.init(gen)
    fit = torch.full((10,), math.nan, dtype=torch.float64)
    fit[3] = 2.5
    state = algo.tell(state, fit, gen)
    assert state.best_fitness == 2.5


def _split_once(seed: int) -> tuple[Genome, InnovationTracker]:
    """A 3-input genome with one hidden node: it has open links of both kinds."""
    rng, tracker = np.random.default_rng(seed), InnovationTracker(3, 4)
    g = initial_genome(3, 1, rng, NEATParams())
    assert mutate_add_node(g, tracker, rng)
    return g, tracker


def _adds_a_recurrent_link(seed: int, rng: np.random.Generator, params: NEATParams) -> bool:
    """Whether the one link add-link gives `_split_once(seed)` closes a cycle."""
    g, tracker = _split_once(seed)
    before = g.copy()
    assert mutate_add_connection(g, tracker, rng, params)
    (new,) = set(genes(g).values()) - set(genes(before).values())
    return creates_cycle(before, *new)


def test_recurrent_link_prob_picks_the_kind_of_link_first():
    rng = np.random.default_rng(0)
    fresh = initial_genome(3, 1, rng, NEATParams())  # fully connected: only a self-loop is open
    only_ff = NEATParams(recurrent=True, recurrent_link_prob=0.0)
    assert not mutate_add_connection(fresh.copy(), InnovationTracker(3, 4), rng, only_ff)
    kinds = {}
    for p in (0.0, 1.0):
        params = NEATParams(recurrent=True, recurrent_link_prob=p)
        kinds[p] = {_adds_a_recurrent_link(seed, rng, params) for seed in range(30)}
    assert kinds == {0.0: {False}, 1.0: {True}}


def test_recurrent_link_prob_sets_the_share_of_recurrent_links():
    rng = np.random.default_rng(1)
    params = NEATParams(recurrent=True, recurrent_link_prob=0.2)
    recurrent = sum(_adds_a_recurrent_link(seed, rng, params) for seed in range(400))
    assert 50 <= recurrent <= 110  # 80 expected (binomial sd 8); uniform picking: 3 of 5 open links, ~240


def _joined_old_species(params: NEATParams, seed: int) -> tuple[int, int]:
    """(children in a species that existed before, how many of them lie within the
    threshold of that species' previous champion)."""
    algo, gen = NEAT(4, 1, 60, params), torch.Generator().manual_seed(seed)
    state = spread_population(algo, gen)
    fit = torch.rand(60, generator=gen, dtype=torch.float64)
    champions = {sp.id: state.population[max(sp.members, key=lambda i: float(fit[i]))]
                 for sp in state.species}
    after = algo.tell(state, fit, gen)
    pairs = [(after.population[i], champions[sp.id]) for sp in after.species
             if sp.id in champions for i in sp.members]
    t = state.threshold
    near = sum(key_distance(GeneKey(c), GeneKey(r), params, t) < t for c, r in pairs)
    return len(pairs), near


def test_champion_representatives_keep_each_species_around_its_best():
    params = NEATParams(**{**STANLEY, "compatibility_threshold": 1.0, "representative": "champion"})
    for seed in range(3):
        joined, near = _joined_old_species(params, seed)
        assert joined > 0 and near == joined
    # a random member as representative lets some children stray from the champion
    loose = NEATParams(**{**STANLEY, "compatibility_threshold": 1.0})
    assert any(near < joined for joined, near in (_joined_old_species(loose, s) for s in range(3)))


def _reweigh(params: NEATParams, n_genes: int, trials: int, seed: int = 0):
    """Mutate the weights of a fresh genome `trials` times; per trial, each gene's fate by
    innovation: "p" perturbed (weight 5 moved a little), "r" replaced (near 0), "k" kept."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_genes)  # insertion order differs from innovation order
    fates = []
    for _ in range(trials):
        g = Genome(n_genes, 1, [], {int(k): ConnectionGene(int(k), int(k), n_genes, 5.0)
                                    for k in order})
        mutate_weights(g, rng, params)
        fates.append({k: "k" if c.weight == 5.0 else "r" if abs(c.weight) < 1.0 else "p"
                      for k, c in g.connections.items()})
    return fates


def test_stanley_weight_schedule_is_severe_for_half_the_genomes():
    params = NEATParams(weight_schedule="stanley", weight_sigma=1e-3, weight_init_std=1e-3)
    fates = _reweigh(params, 5, 600)  # under 10 genes: no tail rule
    mild = [f for f in fates if set(f.values()) == {"p"}]
    assert 240 <= len(mild) <= 360  # 300 expected, plus 0.7**5 of the severe ones (~50)
    severe = [v for f in fates if f not in mild for v in f.values()]
    share = {x: severe.count(x) / len(severe) for x in "prk"}
    assert 0.62 < share["p"] < 0.72 and 0.17 < share["r"] < 0.26 and 0.08 < share["k"] < 0.15


def test_stanley_weight_schedule_spares_old_genes_in_mild_genomes():
    params = NEATParams(weight_schedule="stanley", weight_sigma=1e-3, weight_init_std=1e-3)
    fates = _reweigh(params, 20, 600, seed=1)
    old = range(17)  # ranks above 0.8 * 20 = 16 are the newest fifth: innovations 17, 18, 19
    mild = [f for f in fates if all(f[k] == "p" for k in old)]  # severe: 0.7**17 of them
    assert 250 <= len(mild) <= 350
    tail = [f[k] for f in mild for k in (17, 18, 19)]
    share = {x: tail.count(x) / len(tail) for x in "prk"}
    assert 0.44 < share["p"] < 0.56 and 0.15 < share["r"] < 0.25 and 0.24 < share["k"] < 0.36
    # the default schedule touches every gene, perturbing weight_perturb_prob of them
    plain = _reweigh(NEATParams(weight_sigma=1e-3, weight_init_std=1e-3), 20, 100)
    genes_seen = [v for f in plain for v in f.values()]
    assert "k" not in genes_seen and 0.86 < genes_seen.count("p") / len(genes_seen) < 0.94


def _stalled(params: NEATParams, seed: int = 0):
    """A population after random generations, then a generation where nobody improves:
    (algo, state, zero fitness, the species stagnant by then)."""
    algo, gen = NEAT(4, 1, 60, params), torch.Generator().manual_seed(seed)
    state = spread_population(algo, gen, generations=8)
    zero = np.zeros(60)
    g = state.generation
    stale = {sp.id for sp in state.species if g - sp.last_improved >= params.stagnation}
    assert stale and len(stale) < len(state.species)
    return algo, state, zero, stale


def test_stagnation_penalty_keeps_stagnant_species_at_a_fraction_of_their_share():
    base = dict(compatibility_threshold=1.0, stagnation=3, add_node_prob=0.2,
                add_connection_prob=0.3)
    algo, state, zero, stale = _stalled(NEATParams(**base, stagnation_penalty=0.01))
    g = state.generation
    kept = algo._survivors(state.species, zero, g)
    assert [sp.id for sp in kept] == [sp.id for sp in state.species]
    shares = algo._shares(kept, zero + 2.0, g)
    assert {sp.id: s for sp, s in zip(kept, shares)} == \
        {sp.id: 0.02 if sp.id in stale else 2.0 for sp in kept}
    # without the penalty the same species are removed (bar the protected best)
    plain, state, zero, stale = _stalled(NEATParams(**base))
    left = {sp.id for sp in plain._survivors(state.species, zero, state.generation)}
    assert stale - left and not (left & stale) - {max(state.species,
                                                      key=lambda sp: sp.best_fitness).id}


def test_obliterate_flags_the_worst_old_species_on_schedule():
    params = NEATParams(compatibility_threshold=1.0, add_node_prob=0.2, add_connection_prob=0.3,
                        stagnation=50, stagnation_penalty=0.01, obliterate_every=10,
                        obliterate_age=3, representative="champion")
    algo, gen = NEAT(4, 1, 60, params), torch.Generator().manual_seed(0)
    state = spread_population(algo, gen, generations=9)
    assert state.generation == 9 and not any(sp.obliterated for sp in state.species)
    fit = torch.rand(60, generator=gen, dtype=torch.float64).numpy()
    assert not any(sp.obliterated for sp in algo._survivors(state.species, fit, 8))
    kept = algo._survivors(state.species, fit, 9)  # the 10th generation, counted from 1
    old = [sp for sp in kept if 9 - sp.created >= 3]
    assert len(old) >= 2
    worst = min(old, key=lambda sp: fit[sp.members].max())
    assert [sp.id for sp in kept if sp.obliterated] == [worst.id]
    shares = algo._shares(kept, fit, 9)
    assert shares[kept.index(worst)] == pytest.approx(0.01 * fit[worst.members].mean())
    # the flag outlives the generation: a child that joins the species joins it flagged
    champion = state.population[max(worst.members, key=lambda i: fit[i])]
    rejoined, _ = speciate([champion.copy()], [(worst, champion)], 1.0, 999, 10, params)
    assert [(sp.id, sp.obliterated) for sp in rejoined] == [(worst.id, True)]


@pytest.mark.parametrize("option, part, rule", [
    ({"mutation": "exclusive"}, lambda o: o.mutation, "ExclusiveMutation"),
    ({"weight_schedule": "stanley"}, lambda o: o.mutation.reweight.schedule, "StanleySchedule"),
    ({"weight_noise": "uniform"}, lambda o: o.noise, "UniformNoise"),
    ({"recurrent": True, "recurrent_link_prob": 0.2},
     lambda o: o.mutation.add_connection.links, "RecurrentFirst"),
    ({"crossover_average_prob": 0.4}, lambda o: o.crossover, "AveragingCrossover"),
    ({"mate_only_prob": 0.2}, lambda o: o.reproduction.breeding.mate_only, "MateOnlyChance"),
    ({"representative": "champion"}, lambda o: o.representatives, "Champion"),
    ({"target_species": 8}, lambda o: o.threshold, "TargetSpecies"),
    ({"stagnation_penalty": 0.01}, lambda o: o.reproduction.stagnation, "StagnationPenalty"),
    ({"obliterate_every": 10}, lambda o: o.reproduction.obliteration, "PeriodicObliteration"),
    ({"population_stagnation": 20}, lambda o: o.reproduction.stall, "DeltaCoding"),
])
def test_each_stanley_option_swaps_one_operator_for_his_rule(option, part, rule):
    from nas.evolution.neat import operators
    paper, stanley = operators(NEATParams()), operators(NEATParams(**option))
    assert type(part(stanley)).__name__ == rule != type(part(paper)).__name__
