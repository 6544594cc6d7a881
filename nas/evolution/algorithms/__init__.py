"""Name -> algorithm registry for pure mode: GA, CoSyNE, CMA-ES (NEAT, with graph genomes, is
`nas.evolution.neat`)."""
from nas.evolution.algorithms.base import Algorithm, TensorAlgorithm
from nas.evolution.algorithms.cmaes import CMAES, CMAESParams, CMAESState
from nas.evolution.algorithms.cosyne import CoSyNE, CoSyNEParams, CoSyNEState
from nas.evolution.algorithms.ga import GA, GAParams, GAState

ALGORITHMS = {"ga": (GA, GAParams), "cosyne": (CoSyNE, CoSyNEParams), "cmaes": (CMAES, CMAESParams)}

__all__ = ["Algorithm", "ALGORITHMS", "CMAES", "CMAESParams", "CMAESState", "CoSyNE", "CoSyNEParams", "CoSyNEState", "GA", "GAParams",
           "GAState", "TensorAlgorithm"]
