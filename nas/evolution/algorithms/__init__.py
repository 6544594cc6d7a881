"""Name -> algorithm registry for pure mode (NEAT, with graph genomes, is `nas.evolution.neat`)."""
from nas.evolution.algorithms.base import Algorithm, TensorAlgorithm
from nas.evolution.algorithms.cosyne import CoSyNE, CoSyNEParams, CoSyNEState
from nas.evolution.algorithms.ga import GA, GAParams, GAState

ALGORITHMS = {"ga": (GA, GAParams), "cosyne": (CoSyNE, CoSyNEParams)}

__all__ = ["Algorithm", "ALGORITHMS", "CoSyNE", "CoSyNEParams", "CoSyNEState", "GA", "GAParams",
           "GAState", "TensorAlgorithm"]
