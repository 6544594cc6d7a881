"""Name -> algorithm registry for pure mode."""
from nas.evolution.algorithms.base import Algorithm
from nas.evolution.algorithms.cosyne import CoSyNE, CoSyNEParams, CoSyNEState
from nas.evolution.algorithms.ga import GA, GAParams, GAState

ALGORITHMS = {"ga": (GA, GAParams), "cosyne": (CoSyNE, CoSyNEParams)}

__all__ = ["Algorithm", "ALGORITHMS", "CoSyNE", "CoSyNEParams", "CoSyNEState", "GA", "GAParams",
           "GAState"]
