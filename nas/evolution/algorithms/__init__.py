"""Name -> algorithm registry for pure mode."""
from nas.evolution.algorithms.base import Algorithm
from nas.evolution.algorithms.ga import GA, GAParams, GAState

ALGORITHMS = {"ga": (GA, GAParams)}

__all__ = ["Algorithm", "ALGORITHMS", "GA", "GAParams", "GAState"]
