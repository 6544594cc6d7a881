"""What a trial's value means under each metric, and that pruning follows the direction."""
import math

import optuna
import pytest

from nas.evolution import EvolutionResult, SeedResult, run_evolution
from nas.evolution.metrics import METRICS, score, success_rate
from nas.spec import StudySpec
from nas.worker.objective import PrunedWithResults, generation_reporter

BUDGET, TARGET, GENERATIONS = 1000, 500.0, 10


def seed(best, solved_at=None, curve=None):
    return SeedResult(seed=0, best_fitness=best, solved_evaluations=solved_at,
                      curve_best=curve if curve is not None else [best])


def test_evaluations_ranks_every_unsolved_seed_after_every_solved_one():
    solved_late = seed(500.0, solved_at=BUDGET)  # solved with the last evaluation
    near_miss = seed(499.0)
    far_miss = seed(10.0)
    values = [score("evaluations", [s], BUDGET, TARGET, GENERATIONS)
              for s in (seed(500.0, solved_at=120), solved_late, near_miss, far_miss)]
    assert values == sorted(values) and len(set(values)) == 4
    assert values[0] == 120 and values[1] == BUDGET < values[2]
    assert values[2] == pytest.approx((BUDGET + 1) * (2 - 499 / 500))
    assert values[3] == pytest.approx((BUDGET + 1) * (2 - 10 / 500))
    assert score("evaluations", [seed(-math.inf)], BUDGET, TARGET, GENERATIONS) == 2 * (BUDGET + 1)


def test_evaluations_is_the_mean_over_seeds_and_success_rate_is_counted():
    seeds = [seed(500.0, solved_at=100), seed(500.0, solved_at=300), seed(250.0)]
    assert score("evaluations", seeds, BUDGET, TARGET, GENERATIONS) == pytest.approx(
        (100 + 300 + (BUDGET + 1) * 1.5) / 3)
    assert success_rate(seeds) == pytest.approx(2 / 3)


def test_auc_rewards_early_progress_and_a_stopped_seed_keeps_its_best():
    early = seed(500.0, curve=[400.0, 500.0])  # solved at generation 1, then stopped
    late = seed(500.0, curve=[10.0] * 9 + [500.0])
    a, b = (score("auc", [s], BUDGET, TARGET, GENERATIONS) for s in (early, late))
    assert a == pytest.approx((0.8 + 9 * 1.0) / 10) and b == pytest.approx((9 * 0.02 + 1.0) / 10)
    assert a > b
    assert score("fitness", [early, late], BUDGET, TARGET, GENERATIONS) == 500.0


def test_directions_follow_the_metric_and_the_default_is_evaluations():
    assert {m: METRICS[m].direction for m in METRICS} == {
        "evaluations": "minimize", "fitness": "maximize", "auc": "maximize"}
    assert StudySpec().metric == "evaluations" and StudySpec().direction == "minimize"
    assert StudySpec(objective="pkg.mod:fn").metric == "fitness"
    assert StudySpec(metric="auc") != StudySpec()  # a different metric is a different spec


def test_real_runs_give_distinct_evaluation_values():
    config = {"task": "cartpole", "population": 20, "hidden": [4], "algorithm": "ga",
              "algorithm_params": {"sigma": 0.3}}
    values = {run_evolution(config, generations=6, seeds=[s]).score("evaluations") for s in range(4)}
    assert len(values) > 1


def result_at(value_seed):
    return EvolutionResult([value_seed], BUDGET, TARGET, GENERATIONS)


def test_a_pruned_trial_under_evaluations_is_one_that_is_behind():
    spec = StudySpec(metric="evaluations", pruner="median")
    study = optuna.create_study(direction=spec.direction,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for solved_at in (400, 600):  # two finished trials that solved by generation 0
        trial = study.ask()
        generation_reporter(trial, spec)(0, result_at(seed(500.0, solved_at=solved_at)))
        study.tell(trial, float(solved_at))
    behind, ahead = study.ask(), study.ask()
    with pytest.raises(PrunedWithResults):
        generation_reporter(behind, spec)(0, result_at(seed(100.0)))  # unsolved: 1,601.6
    generation_reporter(ahead, spec)(0, result_at(seed(500.0, solved_at=200)))  # not pruned
    assert behind.should_prune() and not ahead.should_prune()


def test_the_summary_states_the_budget_rule():
    from nas.coordinator.search import budget_line, spread_line
    from nas.store.status import Progress

    prog = Progress(finished=8, complete=8, failed=2, retried=2)
    assert budget_line(prog, 8) == ("finished 8 of 8 trials (8 complete, 0 pruned, 0 failed); "
                                    "2 more failed attempts were retried and do not count "
                                    "toward the budget")
    assert budget_line(Progress(finished=3, complete=2, failed=1), 3) == \
        "finished 3 of 3 trials (2 complete, 0 pruned, 1 failed)"
    assert spread_line([3.0, 1.0, 2.0, 2.0]) == \
        "spread over 4 completed trials: min 1, median 2, max 3, 3 distinct values"
