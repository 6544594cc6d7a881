"""run_evolution: determinism per seed, batching independence, stopping rules, counts."""
import math

import pytest
import torch

from nas.errors import NasError
from nas.evolution import EvolutionConfig, run_evolution
from nas.evolution.algorithms import GA, GAParams
from nas.evolution.networks import BatchedNetwork, NetworkSpec

CONFIG = {"population": 30, "hidden": [4], "activation": "tanh",
          "algorithm_params": {"sigma": 0.3, "crossover_rate": 0.2}}


def curves(result):
    return {s.seed: (s.curve_best, s.curve_mean, s.evaluations) for s in result.seeds}


def test_same_config_and_seed_gives_the_same_curves():
    a = run_evolution(CONFIG, generations=4, seeds=[0, 1], stop_when_solved=False)
    b = run_evolution(CONFIG, generations=4, seeds=[0, 1], stop_when_solved=False)
    assert curves(a) == curves(b)


def test_a_seed_alone_equals_the_same_seed_batched_with_others():
    alone = run_evolution(CONFIG, generations=4, seeds=[7], stop_when_solved=False)
    batched = run_evolution(CONFIG, generations=4, seeds=[3, 7, 11], stop_when_solved=False)
    assert curves(alone)[7] == curves(batched)[7]
    assert curves(batched)[3] != curves(batched)[7]


def test_evaluations_are_counted_exactly():
    result = run_evolution(CONFIG, generations=5, seeds=2, stop_when_solved=False)
    for seed in result.seeds:
        assert seed.generations == 5
        assert seed.evaluations == 5 * 30
        assert len(seed.curve_best) == 5


def test_solved_seed_stops_and_records_when():
    result = run_evolution({**CONFIG, "population": 200}, generations=30, seeds=[0])
    seed = result.seeds[0]
    assert seed.best_fitness == 500.0
    assert seed.solved_generation == seed.generations - 1
    assert seed.evaluations == seed.generations * 200
    assert (seed.solved_generation * 200) < seed.solved_evaluations <= seed.evaluations


def test_stagnation_limit_stops_a_seed_without_improvement():
    # sigma tiny and no elites changing: a 1-generation stagnation limit ends the run
    # as soon as one generation fails to beat the best so far.
    cfg = {**CONFIG, "population": 4, "hidden": [], "algorithm_params": {"sigma": 1e-6}}
    result = run_evolution(cfg, generations=50, seeds=[0], stagnation_limit=2,
                           stop_when_solved=False)
    seed = result.seeds[0]
    assert seed.generations < 50
    best = seed.curve_best
    assert max(best[-2:]) <= max(best[:-2])


def test_on_generation_reports_mean_best_so_far_and_can_stop():
    seen = []

    def on_generation(gen, so_far):
        seen.append((gen, so_far.score("fitness")))
        if gen == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_evolution(CONFIG, generations=10, seeds=2, on_generation=on_generation,
                      stop_when_solved=False)
    assert [g for g, _ in seen] == [0, 1, 2]
    assert all(b >= a for (_, a), (_, b) in zip(seen, seen[1:]))


def test_batched_network_equals_per_individual_forward():
    spec = NetworkSpec(4, 1, (5, 3), "tanh")
    params = torch.randn(6, spec.n_params, generator=torch.Generator().manual_seed(0))
    obs = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    out = BatchedNetwork(spec, params)(obs)
    for i in range(6):
        layers = spec.unflatten(params[i:i + 1])
        h = torch.tanh(obs[i] @ layers["w0"][0] + layers["b0"][0])
        h = torch.tanh(h @ layers["w1"][0] + layers["b1"][0])
        ref = h @ layers["w2"][0] + layers["b2"][0]
        torch.testing.assert_close(out[i], ref)


def reference_recurrent(kind, layers, xs):
    """Per-individual, per-step loops over the equations in networks.py's docstring."""
    n = len((layers["w_in"] if kind == "full" else layers["w0"])[0])
    state, outs = [0.0] * n, []
    for x in xs:
        if kind == "full":
            pre = [layers["b"][j] + sum(x[i] * layers["w_in"][i][j] for i in range(len(x)))
                   + sum(state[k] * layers["w_rec"][k][j] for k in range(n)) for j in range(n)]
            state = [1 / (1 + math.exp(-p)) for p in pre]
            outs.append(pre[0])
        else:
            pre = [layers["b0"][j] + sum(x[i] * layers["w0"][i][j] for i in range(len(x)))
                   + sum(state[k] * layers["context"][k][j] for k in range(n)) for j in range(n)]
            state = [1 / (1 + math.exp(-p)) for p in pre]
            outs.append(layers["b1"][0] + sum(state[k] * layers["w1"][k][0] for k in range(n)))
    return outs


@pytest.mark.parametrize("kind", ["elman", "full"])
def test_recurrent_network_equals_per_step_reference_and_keeps_state_of_kept_rows(kind):
    spec = NetworkSpec(3, 1, (4,), "sigmoid", kind)
    params = torch.randn(5, spec.n_params, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xs = torch.randn(6, 5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    net, rows, outs = BatchedNetwork(spec, params), torch.arange(5), []
    for t in range(6):
        if t == 3:  # episodes 1 and 3 end: the others keep their own state
            rows = torch.tensor([0, 2, 4])
            net.keep(torch.tensor([0, 2, 4]))
        outs.append(dict(zip(rows.tolist(), net(xs[t, rows])[:, 0].tolist())))
    for i in range(5):
        layers = {k: v[0].tolist() for k, v in spec.unflatten(params[i:i + 1]).items()}
        steps = 6 if i in (0, 2, 4) else 3
        ref = reference_recurrent(kind, layers, xs[:steps, i].tolist())
        assert [outs[t][i] for t in range(steps)] == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_ga_keeps_elites():
    # "Draws only from its generator" (told again alike): test_contracts.py, every algorithm.
    ga = GA(3, 10, GAParams(elite_fraction=0.2, sigma=0.5))
    state = ga.init(torch.Generator().manual_seed(0))
    fitness = torch.arange(10, dtype=torch.float64)
    nxt = ga.tell(state, fitness, torch.Generator().manual_seed(1))
    torch.testing.assert_close(nxt.population[:2], state.population[[9, 8]])


@pytest.mark.parametrize("bad, message", [
    ({"mode": "neato"}, "unknown mode"),
    ({"population": 1}, "population"),
    ({"colour": "red"}, "unknown evolution config keys"),
    ({"activation": "swish"}, "unknown activation"),
    ({"recurrent": "lstm", "hidden": [4]}, "unknown recurrence"),
    ({"recurrent": "full", "hidden": [4, 2]}, "fully recurrent network is one layer"),
    ({"recurrent": "elman", "hidden": []}, "needs at least one hidden layer"),
])
def test_bad_config_is_a_clear_error(bad, message):
    with pytest.raises(NasError, match=message):
        run_evolution({**CONFIG, **bad}, generations=1, seeds=1)


NEAT = {"mode": "neat", "population": 40, "algorithm_params": {"add_node_prob": 0.2,
                                                               "add_connection_prob": 0.3}}


def test_neat_seed_alone_equals_batched_and_counts_are_exact():
    alone = run_evolution(NEAT, generations=4, seeds=[5], stop_when_solved=False)
    batched = run_evolution(NEAT, generations=4, seeds=[2, 5], stop_when_solved=False)
    assert curves(alone)[5] == curves(batched)[5]
    seed = batched.seeds[1]
    assert seed.evaluations == 4 * 40 and len(seed.curve_extra) == 4
    assert all(e["species"] >= 1 and e["nodes"] >= 5 for e in seed.curve_extra)
    assert seed.best_genome["kind"] == "neat" and seed.best_genome["genome"]["connections"]


def test_stored_genome_rebuilds_the_same_network():
    """What nas.genomes stores is enough to rebuild the evolved network exactly."""
    from nas.evolution.config import EvolutionConfig
    from nas.evolution.modes import MODES, policy_from_genome
    from nas.evolution.tasks import get_task

    task = get_task("cartpole")
    obs = torch.randn(7, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    full = {**CONFIG, "hidden": [3], "recurrent": "full"}
    for config in (CONFIG, full, NEAT):
        cfg = EvolutionConfig.from_dict(config)
        mode = MODES[cfg.mode](cfg, task)
        state = mode.algorithm.init(torch.Generator().manual_seed(0))
        for _ in range(3):  # grow some structure first
            fitness = torch.rand(cfg.population, generator=torch.Generator().manual_seed(1))
            state = mode.algorithm.tell(state, fitness.double(), torch.Generator().manual_seed(2))
        genomes = mode.algorithm.ask(state)
        for i in (0, cfg.population - 1):
            original = mode.policy([genomes[i:i + 1]], "cpu")
            rebuilt = policy_from_genome(mode.genome(genomes, i))
            for row in obs:  # consecutive steps: recurrent state must evolve alike too
                torch.testing.assert_close(rebuilt(row[None]), original(row[None]))


def test_nv_champion_test_decides_solving(monkeypatch):
    """For double-pole-nv, fitness only nominates candidates; the champion test decides,
    for each generation's best candidate, skipping a champion identical to the last tested."""
    from nas.evolution.tasks import double_pole

    tested = []

    def verdict(self, make_policy):
        policy = make_policy(3)
        assert policy.context.abs().sum() == 0  # a fresh network
        tested.append(torch.cat([v[0].flatten() for v in policy.layers.values()]))
        return len(tested) >= 3  # the third champion tested passes

    monkeypatch.setattr(double_pole.DoublePoleNV, "solved", lambda self, f: f > -1)
    monkeypatch.setattr(double_pole.DoublePoleNV, "champion_solved", verdict)
    result = run_evolution({"task": "double-pole-nv", "population": 10, "hidden": [3],
                            "recurrent": True}, generations=30, seeds=[0])
    seed = result.seeds[0]
    assert len(tested) == 3 and seed.solved_generation is not None
    assert all(not torch.equal(a, b) for a, b in zip(tested, tested[1:]))
    assert seed.generations == seed.solved_generation + 1
    best_index = seed.solved_evaluations - seed.solved_generation * 10 - 1
    assert 0 <= best_index < 10


def test_neat_champion_rotates_over_species_as_stanleys_code():
    """pole2_epoch's rule: species ranked by this generation's best; one that beat its best
    ever is unchecked again; the first unchecked species' champion is tested, else the top
    species'; non-candidates never qualify."""
    from types import SimpleNamespace

    from nas.evolution.modes import MODES
    from nas.evolution.neat.algorithm import Species
    from nas.evolution.tasks import get_task

    mode = MODES["neat"](EvolutionConfig.from_dict(NEAT), get_task("double-pole-nv"))
    fitness = torch.tensor([6.0, 1.0, 9.0, 2.0, 3.0], dtype=torch.float64)
    everyone = torch.ones(5, dtype=torch.bool)

    def state(a_ever, c_ever):
        return SimpleNamespace(species=[Species(10, [0, 1], 0, a_ever), Species(11, [2, 3], 0, 9.0),
                                        Species(12, [4], 0, c_ever)])

    checked = {10, 11, 12}  # each tested once; none improved since, but A
    assert mode.champion(state(5.0, 3.0), fitness, everyone, checked) == 0  # A improved: its turn
    assert checked == {10, 11, 12}
    assert mode.champion(state(6.0, 3.0), fitness, everyone, checked) == 2  # all checked: the top
    assert mode.champion(state(6.0, 2.0), fitness, everyone, checked) == 4  # C beat its best
    no_top = everyone.clone()
    no_top[2] = False
    assert mode.champion(state(6.0, 3.0), fitness, no_top, {10, 12}) == 0  # B's champ cannot pass
    assert mode.champion(state(6.0, 3.0), fitness, torch.zeros(5, dtype=torch.bool), set()) is None
