"""The search space narrowed by the study spec: `--fix NAME=VALUE` and `--range NAME=...`.

The names are the trial params' own (what `nas best` and the report show: `algorithm`,
`sigma`, `hidden_layers`, `units_0`...). `Narrowed` wraps the trial the space functions
sample from and changes only the distributions they ask for:

    --fix NAME=VALUE      a one-point distribution of the param's own kind
                          (suggest_float(name, v, v), suggest_categorical(name, [v])):
                          Optuna records it as a param of every trial and its samplers
                          leave it alone, so TPE models the rest as before
    --range NAME=LO:HI    the same suggest_float / suggest_int, between LO and HI
    --range NAME=A,B      the same suggest_categorical, over those choices

A value must lie within the param's own range (narrowing, never widening: the sizing of
a study and every algorithm's checks assume the space's bounds). `check` walks every
branch of the space (each categorical choice; numbers at their high end, so every
conditional layer is reached) through `Narrowed` before a study is created, so a name the
mode's space does not have, or never samples given the other --fix values, a value of the
wrong kind or out of range, is one error line with nothing written.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from nas.errors import NasError


class Narrowed:
    """A trial whose suggest_* calls follow the spec's --fix and --range."""

    def __init__(self, trial, fixed: dict[str, str], ranged: dict[str, str]):
        self._trial, self._fixed, self._ranged = trial, fixed, ranged

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._trial, attr)

    def suggest_float(self, name: str, low: float, high: float, *, step=None, log: bool = False):
        return self._number(name, low, high, float, step, log)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False):
        return self._number(name, low, high, int, step, log)

    def _number(self, name, low, high, kind: type, step, log):
        suggest = self._trial.suggest_float if kind is float else self._trial.suggest_int
        extra = {"log": log} if step in (None, 1) else {"step": step}
        if name in self._fixed:
            value = self._parse(name, self._fixed[name], kind, low, high, f"--fix {name}="
                                f"{self._fixed[name]}")
            return suggest(name, value, value)
        if name in self._ranged:
            text = self._ranged[name]
            lo_text, sep, hi_text = text.partition(":")
            if not sep:
                raise NasError(f"--range {name}={text}: {name} is a number: give LOW:HIGH")
            lo = self._parse(name, lo_text, kind, low, high, f"--range {name}={text}")
            hi = self._parse(name, hi_text, kind, low, high, f"--range {name}={text}")
            if lo >= hi:
                raise NasError(f"--range {name}={text}: LOW must be below HIGH "
                               f"(one value: --fix {name}={lo_text})")
            return suggest(name, lo, hi, **extra)
        return suggest(name, low, high, **extra)

    def _parse(self, name: str, text: str, kind: type, low, high, given: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not low <= value <= high:
            what = "an integer" if kind is int else "a number"
            raise NasError(f"{given}: {name} is {what} in [{low}, {high}]"
                           f"{_where(self._trial, name)}")
        return value

    def suggest_categorical(self, name: str, choices: Sequence):
        texts = {_text(c): c for c in choices}
        shown = ", ".join(texts)
        if name in self._fixed:
            text = self._fixed[name]
            if text.lower() not in texts:
                raise NasError(f"--fix {name}={text}: {name} is one of {shown}")
            return self._trial.suggest_categorical(name, [texts[text.lower()]])
        if name in self._ranged:
            picked = self._ranged[name].split(",")
            bad = [p for p in picked if p.lower() not in texts]
            if bad or len(set(p.lower() for p in picked)) != len(picked):
                raise NasError(f"--range {name}={self._ranged[name]}: give distinct choices "
                               f"of {shown}")
            keep = {p.lower() for p in picked}
            return self._trial.suggest_categorical(name, [c for t, c in texts.items() if t in keep])
        return self._trial.suggest_categorical(name, choices)


def _text(choice) -> str:
    """How a choice is spelled on the command line: True/False as true/false."""
    return str(choice).lower()


class _Probe:
    """One branch of the space: categorical choices by `path` (then the first), numbers
    their high end; records every param name and each categorical's width."""

    def __init__(self, path: list[int], bounds: dict[str, set]):
        self.path, self.widths, self.names, self.choices = path, [], set(), []
        self.bounds = bounds  # name -> every (low, high) met in any branch, shared

    def suggest_categorical(self, name, choices):
        i = self.path[len(self.widths)] if len(self.widths) < len(self.path) else 0
        self.widths.append(len(choices))
        self.names.add(name)
        self.choices.append(f"{name}={_text(choices[i])}")
        return choices[i]

    def _number(self, name, low, high, **_):
        self.names.add(name)
        self.bounds.setdefault(name, set()).add((low, high))
        return high

    suggest_float = suggest_int = _number


def _branches(space: Callable[[Any], Any], bounds: dict[str, set]) -> set[str]:
    """Every param name `space(trial)` samples in any branch of its categorical choices
    (an odometer over the choices each run met)."""
    names, path = set(), []
    while True:
        probe = _Probe(path, bounds)
        space(probe)
        names |= probe.names
        path = list(path) + [0] * (len(probe.widths) - len(path))
        while path and path[-1] + 1 >= probe.widths[len(path) - 1]:
            path.pop()
        if not path:
            return names
        path[-1] += 1


def check(spec, space: Callable[[Any, Any], Any]) -> None:
    """One NasError line if the spec's --fix / --range do not fit `space(trial, spec)`."""
    fixed, ranged = spec.fixed, spec.ranged
    if not fixed and not ranged:
        return
    bounds: dict[str, set] = {}
    everything = _branches(lambda trial: space(trial, spec), bounds)

    sampled = _branches(lambda probe: space(Narrowed(probe, fixed, ranged), spec), bounds)
    for flag, given in (("--fix", fixed), ("--range", ranged)):
        for name, value in given.items():
            if name not in everything:
                raise NasError(f"{flag} {name}={value}: the {spec.mode} space for task "
                               f"{spec.task} has no parameter {name} (it has: "
                               f"{', '.join(sorted(everything))})")
            if name not in sampled:
                raise NasError(f"{flag} {name}={value}: {name} is never sampled with the "
                               "other --fix / --range values (it belongs to another choice)")


def _where(trial, name: str) -> str:
    """While checking, for a param whose bounds differ between branches (hidden_layers'
    lowest is 1 where recurrence=elman): the choices of the branch that failed."""
    if not isinstance(trial, _Probe) or len(trial.bounds.get(name, ())) < 2:
        return ""
    return f" (where {', '.join(trial.choices)})"
