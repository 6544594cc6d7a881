"""`-t package.module:Class`: your own batched torch task, its contract check, and the
documented example run by real workers."""
import re

import pytest
import torch
from PIL import Image

from nas.testing import nas, query
from examples.mountain_car import MountainCar
from nas.errors import NasError
from nas.evolution.tasks import TASKS, get_task, task_class
from nas.evolution.tasks.contract import ContractError, check_task
from tests.fixtures import broken_tasks

EXAMPLE = "examples.mountain_car:MountainCar"


def assert_one_line_error(out, needle):
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], out.stderr


@pytest.mark.parametrize("cls", [*TASKS.values(), MountainCar], ids=[*TASKS, "example"])
def test_builtin_tasks_and_the_example_pass_the_contract(cls):
    passed = check_task(cls)
    assert not any("untested" in line for line in passed), passed  # rows did drop out
    assert any(line.startswith("failed episodes stay failed") for line in passed)


@pytest.mark.parametrize("name, rule", [
    ("KeepsCounting", "step() fails it at step"),
    ("IgnoresGenerator", "initial_states differs for two generators with the same seed"),
    ("WrongObservation", "observe must return [8, obs_size=4], got (8, 5)"),
    ("BatchNormalized", "rows leaving the batch disturb the others"),
    ("KeepsByMask", "keep() needs a 1-D tensor of row indices"),
    ("NoSizes", "obs_size must be a positive int class attribute"),
])
def test_the_contract_check_catches_each_broken_rule(name, rule):
    with pytest.raises(ContractError, match=re.escape(rule)) as caught:
        check_task(getattr(broken_tasks, name))
    assert "\n" not in str(caught.value)
    assert f"task 'tests.fixtures.broken_tasks:{name}' breaks the Task contract" in str(caught.value)


def test_nas_task_check_passes_the_example_and_builtins_and_fails_a_broken_class(nas_env):
    for ref in (EXAMPLE, "cartpole", "double-pole-nv"):
        out = nas("task", "check", ref, env=nas_env, check=True)
        assert out.stdout.strip().splitlines()[-1] == f"{ref}: follows the Task contract"
        assert out.stdout.count("ok  ") >= 6
    assert_one_line_error(nas("task", "check", "tests.fixtures.broken_tasks:KeepsCounting", env=nas_env),
                          "a failed episode must stop")
    assert_one_line_error(nas("task", "check", "tests.fixtures.broken_tasks:RaisesInInit", env=nas_env),
                          "RaisesInInit() failed: RuntimeError: no licence server reachable")


BAD_TASKS = [
    ("no_such_module:Task", "cannot import task module 'no_such_module'"),
    ("examples.mountain_car:Nope", "examples.mountain_car has no class 'Nope'"),
    ("collections:OrderedDict", "is not a nas Task class"),
    ("tests.fixtures.broken_tasks:not_a_class", "is not a nas Task class"),
    ("tests.fixtures.broken_tasks:NoSizes", "obs_size must be a positive int"),
    ("tests.fixtures.broken_tasks:RaisesInInit", "RaisesInInit() failed"),
    ("acrobot", "'acrobot' is not a built-in task"),
    ("a b:C", "is not a built-in task"),
]


@pytest.mark.parametrize("command, task, needle", [
    *(("search", task, needle) for task, needle in BAD_TASKS),
    *(("study create", task, needle) for task, needle in BAD_TASKS[::4]),
])
def test_bad_task_values_are_one_line_errors_with_nothing_written(nas_env, db_url, command, task, needle):
    out = nas(*command.split(), "bad", "-t", task, *(["-j", "0"] if command == "search" else []),
              env=nas_env)
    assert_one_line_error(out, needle)
    assert query(db_url, "SELECT to_regclass('nas.studies')") == [(None,)]


def test_example_task_runs_a_tiny_study_through_a_real_worker(nas_env, db_url, tmp_path):
    nas("search", "car", "-t", EXAMPLE, "-m", "neat", "-n", "2", "-g", "3", "-s", "2", "-p", "20",
        "-j", "1", "--sampler", "random", "--pruner", "none", env=nas_env, check=True)
    assert [r[0] for r in query(db_url, "SELECT state FROM nas.trials")] == ["COMPLETE"] * 2
    fitness = [r[0] for r in query(db_url, "SELECT best_fitness FROM nas.seed_runs")]
    assert len(fitness) == 4 and all(0 <= f <= 200 for f in fitness)
    line = next(l for l in nas("study", "list", env=nas_env, check=True).stdout.splitlines()
                if l.startswith("car"))
    assert f"neat/{EXAMPLE}" in line and "evaluations" in line  # it has a target fitness
    png = tmp_path / "car.png"
    said = nas("replay", "car", "--out", str(png), env=nas_env, check=True).stdout
    assert re.search(r"an episode of [\d,]+ steps.*, return [\d.]+, the first [\d,]+ drawn", said), said
    with Image.open(png) as img:
        assert img.size[0] > 4 * img.size[1]  # a filmstrip of the car on its track


def test_a_task_without_drawing_hints_has_no_pictures_but_replay_prints_its_return(
        nas_env, db_url, tmp_path):
    module = tmp_path / "plain_car.py"
    module.write_text("from examples.mountain_car import MountainCar\n\n\n"
                      "class PlainCar(MountainCar):\n    force = MountainCar.__mro__[1].force\n")
    env = {**nas_env, "PYTHONPATH": str(tmp_path)}
    nas("search", "plain", "-t", "plain_car:PlainCar", "-m", "pure", "-n", "1", "-g", "2", "-s", "1",
        "-p", "10", "-j", "1", "--sampler", "random", "--pruner", "none", env=env, check=True)
    gif = tmp_path / "plain.gif"
    out = nas("replay", "plain", "--out", str(gif), env=env, check=True).stdout.splitlines()
    assert out[0] == f"task 'plain_car:PlainCar' has no pictures (it defines no force(); see the " \
                     f"Task drawing hints); nothing written to {gif}"
    assert re.fullmatch(r"trial 0, seed 0: an episode of [\d,]+ steps.*, return [\d.]+", out[1]), out
    assert not gif.exists()


def test_worker_refuses_a_study_whose_task_no_longer_imports(nas_env, db_url, tmp_path):
    module = tmp_path / "vanishing_task.py"
    module.write_text("from examples.mountain_car import MountainCar as Car\n")
    env = {**nas_env, "PYTHONPATH": str(tmp_path)}
    nas("study", "create", "gone", "-t", "vanishing_task:Car", env=env, check=True)
    module.unlink()
    out = nas("worker", "--study", "gone", env=env)
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1] == \
        "error: cannot import task module 'vanishing_task': No module named 'vanishing_task'"
    assert query(db_url, "SELECT count(*) FROM trials") == [(0,)]


def test_sizes_and_flags_come_from_the_class():
    cls = task_class(EXAMPLE)
    assert cls is MountainCar and get_task(EXAMPLE).obs_size == 2
    from nas.evolution.tasks import task_sizes

    assert task_sizes(EXAMPLE) == (2, 3)
    with pytest.raises(NasError, match="cannot import task module 'nope'"):
        task_class("nope:Task")
    starts = MountainCar().initial_states(torch.Generator().manual_seed(0), 5)
    assert starts.shape == (5, 3) and bool((starts[:, 1] == 0).all())


def test_fully_recurrent_nets_get_at_least_one_neuron_per_output():
    """A fully recurrent net reads its outputs from its first act_size neurons, so for a
    3-action task the space must never draw fewer than 3 (it drew 1 and the trial failed)."""
    import optuna

    from nas.spec import StudySpec
    from nas.worker.space import suggest_pure

    spec = StudySpec(mode="pure", task="examples.mountain_car:MountainCar", generations=1,
                     seeds=1, population=10)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(200):
        trial = study.ask()
        config = suggest_pure(trial, spec)
        if config["recurrent"] == "full":
            drawn.append(config["hidden"][0])
        study.tell(trial, 0.0)
    assert drawn and min(drawn) == 3
