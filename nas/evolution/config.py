"""One trial's evolution config, built from plain data (a dict of sampled params).

Unknown keys are an error, not silently ignored: a typo in a search space should fail
the first trial loudly rather than run a different experiment.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from nas.errors import NasError
from nas.evolution.algorithms import ALGORITHMS
from nas.evolution.catalog import MODES



@dataclass(frozen=True)
class EvolutionConfig:
    task: str = "cartpole"
    mode: str = "pure"
    population: int = 100
    hidden: tuple[int, ...] = ()
    activation: str = "tanh"
    recurrent: bool | str = "none"  # none | elman | full (bools: the old spelling)
    algorithm: str = "ga"
    algorithm_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.mode not in MODES:
            raise NasError(f"unknown mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.population < 2:
            raise NasError("population must be at least 2")
        if self.mode == "pure" and self.algorithm not in ALGORITHMS:
            raise NasError(f"unknown algorithm {self.algorithm!r}; "
                           f"choose from {', '.join(sorted(ALGORITHMS))}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvolutionConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise NasError(f"unknown evolution config keys: {', '.join(unknown)}")
        values = dict(data)
        if "hidden" in values:
            values["hidden"] = tuple(int(h) for h in values["hidden"])
        return cls(**values)

    def algorithm_hyperparams(self):
        values = dict(self.algorithm_params)
        if self.mode == "neat":
            from nas.evolution.neat import NEATParams

            name, params_cls = "neat", NEATParams
            values.setdefault("output_activation", "identity")  # tasks map raw outputs
        else:
            name, (_, params_cls) = self.algorithm, ALGORITHMS[self.algorithm]
        known = {f.name for f in fields(params_cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise NasError(f"unknown {name} parameters: {', '.join(unknown)}")
        return params_cls(**values)
