"""The best trial of a study in words: one line for `nas best` and the end of `nas search`."""
from __future__ import annotations

from nas.numbers import readable, share
from nas.spec import StudySpec


def best_line(trial, spec: StudySpec) -> str:
    """Trial number, value, what the value measures and which way is better, and the share
    of seeds solved where the trial stored one."""
    rate = share(trial.user_attrs.get("success_rate"))
    better = "lower" if spec.direction == "minimize" else "higher"
    solved = "" if rate is None else f", {rate} of seeds solved"
    return (f"best trial {trial.number}, value {readable(trial.value)} ({spec.metric}, "
            f"{better} is better{solved})")


def param_lines(params: dict) -> list[str]:
    """'  name = value' per param, sorted, floats rounded as the report rounds them."""
    return [f"  {k} = {readable(v) if isinstance(v, float) else v}" for k, v in sorted(params.items())]
