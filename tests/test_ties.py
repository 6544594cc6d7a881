"""No silent ties (issue 34): a study whose completed trials all score the same says so,
in `nas search`, `nas status` and the report, with what to change; the default task is
one where configurations differ at the seed's sizes."""
import json

from nas.coordinator.ties import tie_line, tied
from nas.spec import StudySpec
from nas.testing import nas

FLAT = ["--objective", "tests.fixtures.objectives:flat", "--sampler", "random", "--pruner", "none"]


def test_tied_needs_three_equal_values():
    assert tied([39.0, 39.0, 39.0]) and not tied([39.0, 39.0]) and not tied([1.0, 1.0, 2.0])


def test_the_tie_line_names_what_to_change_for_the_spec():
    line = tie_line("seq", 10, 39.0, StudySpec(mode="neat", task="cartpole", population=200))
    assert line == ("seq: all 10 completed trials scored 39: no configuration beat another, so "
                    "the sampler learns nothing; try a harder task (-t double-pole), a smaller "
                    "population (-p 50) or another metric (--metric auc)")
    own = tie_line("mine", 3, 1.0, StudySpec(objective="pkg.mod:fn"))
    assert own.endswith("your objective pkg.mod:fn gives every config the same value")


def test_the_default_task_is_the_double_pole():
    assert StudySpec().task == "double-pole"


def test_search_status_and_report_say_when_every_trial_tied(nas_env, tmp_path):
    out = nas("search", "flat", *FLAT, "-n", "3", "-j", "1", "--threads", "1", env=nas_env, check=True)
    said = "flat: all 3 completed trials scored 1: no configuration beat another"
    assert said in out.stdout, out.stdout
    assert said in nas("status", "flat", env=nas_env, check=True).stdout
    snap = json.loads(nas("status", "--json", env=nas_env, check=True).stdout)
    assert [s["tie"].startswith(said) for s in snap["studies"]] == [True]
    nas("report", "flat", "--out", str(tmp_path), env=nas_env, check=True)
    assert said in (tmp_path / "flat.html").read_text()


def test_no_tie_line_when_values_differ_and_the_seed_command_now_differs(nas_env, tmp_path):
    # the seed's screening command, smaller: NEAT on the default task (the double pole)
    out = nas("search", "seq", "-m", "neat", "-n", "4", "-g", "4", "-s", "1", "-p", "40", "-j", "1",
              "--sampler", "random", "--threads", "1", env=nas_env, check=True).stdout
    spread = [line for line in out.splitlines() if line.startswith("spread over")]
    assert spread and not spread[0].endswith(" 1 distinct values"), out
    assert "no configuration beat another" not in out
    assert "no configuration beat another" not in nas("status", env=nas_env, check=True).stdout
    nas("report", "seq", "--out", str(tmp_path), env=nas_env, check=True)
    assert "no configuration beat another" not in (tmp_path / "seq.html").read_text()
