"""Ties: a study whose completed trials all scored the same teaches its sampler nothing.

The seed's screening command on CartPole-v1 ended with every trial at the same value (the
first generation already solved it), and nothing said so. `nas search`, `nas status` and
`nas report` now say it in one line, with what to change.
"""
from __future__ import annotations

from nas.numbers import readable

MIN_TRIALS = 3  # two equal values can be chance; three with one value is a flat search

HARDER = {"cartpole": "double-pole", "double-pole": "double-pole-nv",
          "double-pole-nv": "double-pole-nv-gomez"}


def tied(values: list[float]) -> bool:
    """True when at least MIN_TRIALS completed trials share one value."""
    return len(values) >= MIN_TRIALS and len(set(values)) == 1


def tie_line(name: str, n: int, value: float, spec) -> str:
    """One line: the tie, why it matters, and the flags that break it for this spec."""
    head = (f"{name}: all {n} completed trials scored {readable(value)}: no configuration beat "
            "another, so the sampler learns nothing")
    if spec.objective:
        return head + f"; your objective {spec.objective} gives every config the same value"
    harder = HARDER.get(spec.task)
    task = f"a harder task (-t {harder})" if harder else "a harder task"
    smaller = max(2, spec.population // 4)
    other = "auc" if spec.metric != "auc" else "fitness"
    return (head + f"; try {task}, a smaller population (-p {smaller}) or another metric "
            f"(--metric {other})")
