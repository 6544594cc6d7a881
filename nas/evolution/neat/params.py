"""NEAT hyperparameters, with the published defaults of Stanley & Miikkulainen (2002).

Defaults follow the paper's small-population (150) XOR / pole-balancing settings:
c1 = c2 = 1.0, c3 = 0.4, delta_t = 3.0, 80% weight mutation (90% perturb, 10% replace),
add-node 0.03, add-link 0.05 (the paper used 0.3 for its population of 1000), 75%
chance an inherited gene stays disabled when disabled in either parent, 0.001
interspecies mating, 75% of non-elite offspring by crossover, champion of every species
with more than five members copied unchanged, species stagnation 15 generations, and a
steepened sigmoid 1 / (1 + exp(-4.9 x)).

Not from the paper (documented choices): the Gaussian perturbation sigma and the
initial / replacement weight std (the paper's C++ uses a uniform perturbation), the
weight clamp, the enable/disable toggle mutations (off / tiny by default), and the
optional threshold adaptation towards a target species count.

Off by default, and taken from Stanley's NEAT C++ release (the code behind p2nv.ne) rather
than the paper's text: `mutation="exclusive"` (a child gets add-node, else add-link, else
the weight and toggle mutations), `mate_only_prob` (crossover children left unmutated),
`crossover_average_prob` (matching genes averaged: mate_multipoint_avg), uniform weight
noise (`weight_noise="uniform"`: perturbations in +-weight_sigma, new weights in
+-weight_init_std), `population_stagnation` (the code's "delta coding": when the
population's best fitness has not improved for that many generations, the next
generation is bred only from the champions of the two best species, half each),
`recurrent_link_prob` (recur_only_prob: an add-link mutation seeks a recurrent link with
this chance, else a feed-forward one), `representative="champion"` (children are
speciated against each previous species' champion, not a random member),
`weight_schedule="stanley"` (mutate_link_weights: half the reweighted genomes are
"severe", 70% of genes perturbed, 20% replaced; otherwise every gene is perturbed except
the newest 20%, perturbed 50% and replaced 20%), `stagnation_penalty` (adjust_fitness: a
stagnant species keeps its members at this fraction of their fitness instead of being
removed) and `obliterate_every` (every that many generations the worst species older
than `obliterate_age` is treated as stagnant from then on).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nas.errors import NasError


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


# Node activations as a slope on the input sum and a unit function, act(x) = UNIT(SLOPE * x):
# "sigmoid" is the paper's steepened 1 / (1 + exp(-4.9 x)). Networks fold the slope into
# the weights, so a node costs one function call.
SLOPES = {"sigmoid": 4.9, "tanh": 1.0, "identity": 1.0}
UNIT = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "identity": identity}


def _prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise NasError(f"{name} must be a probability in [0, 1], got {value!r}")


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        listed = ", ".join(options[:-1]) + " or " + options[-1]
        raise NasError(f"unknown NEAT {name} {value!r}; choose {listed}")


@dataclass(frozen=True)
class NEATParams:
    # compatibility distance  delta = c1*E/N + c2*D/N + c3*W
    c1: float = 1.0  # excess genes
    c2: float = 1.0  # disjoint genes
    c3: float = 0.4  # mean |weight difference| of matching genes
    compatibility_threshold: float = 3.0
    normalize_min_genes: int = 20  # N = 1 when both genomes have fewer genes than this
    target_species: int | None = None  # if set, the threshold adapts towards this count
    threshold_step: float = 0.3
    threshold_min: float = 0.3
    # weight mutation
    weight_mutation_prob: float = 0.8  # per genome
    weight_perturb_prob: float = 0.9  # per connection; otherwise replaced
    weight_sigma: float = 0.5  # Gaussian perturbation std
    weight_init_std: float = 1.0  # initial and replacement weights ~ N(0, std)
    weight_limit: float = 30.0  # weights are clamped to [-limit, limit]
    weight_noise: str = "gaussian"  # or "uniform" (Stanley's code: +-sigma, +-init_std)
    weight_schedule: str = "per_connection"  # or "stanley" (severe genomes, newest genes)
    # structural mutation (per genome)
    add_node_prob: float = 0.03
    add_connection_prob: float = 0.05
    enable_prob: float = 0.0  # re-enable one random disabled connection
    disable_prob: float = 0.0  # disable one random enabled connection
    mutation: str = "independent"  # each mutation drawn on its own; or "exclusive"
    # reproduction
    crossover_rate: float = 0.75
    interspecies_rate: float = 0.001
    inherit_disabled_prob: float = 0.75
    mate_only_prob: float = 0.0  # crossover children kept unmutated
    crossover_average_prob: float = 0.0  # a crossover averages matching weights
    survival_threshold: float = 0.2
    elitism: int = 1  # champions copied unchanged per species ...
    elitism_min_size: int = 5  # ... when the species has more than this many members
    stagnation: int = 15  # generations without improvement before a species is removed
    protected_species: int = 1  # the best species (by best fitness) are never removed
    # Stanley's code: stagnant species stay, their fitness times this (0.01), none protected
    stagnation_penalty: float | None = None
    obliterate_every: int | None = None  # generations; the worst old species turns stagnant
    obliterate_age: int = 20  # ... among species at least this many generations old
    population_stagnation: int | None = None  # delta coding after this many flat generations
    representative: str = "random"  # children speciate against a random member, or "champion"
    # network
    recurrent: bool = False
    # recurrent genomes: the chance an add-link mutation seeks a recurrent link (else a
    # feed-forward one); None: any open link, uniformly (Stanley's p2nv.ne: 0.2)
    recurrent_link_prob: float | None = None
    activation: str = "sigmoid"  # "sigmoid" (slope 4.9, as in the paper) or "tanh"
    output_activation: str | None = None  # None: same as `activation`; or "identity"
    # The slope on an output node's input sum; None: its activation's (4.9 for sigmoid).
    # 4.9 with an identity output gives a task that applies a plain sigmoid (double pole)
    # the force of Stanley's steep-sigmoid output node.
    output_gain: float | None = None

    def output_slope(self) -> float:
        if self.output_gain is not None:
            return self.output_gain
        return SLOPES[self.output_activation or self.activation]

    def __post_init__(self):
        for name in ("c1", "c2", "c3", "weight_sigma", "weight_init_std"):
            if getattr(self, name) < 0:
                raise NasError(f"{name} must be >= 0")
        if self.compatibility_threshold <= 0 or self.threshold_min <= 0:
            raise NasError("compatibility_threshold and threshold_min must be > 0")
        if self.threshold_step < 0 or self.weight_limit <= 0:
            raise NasError("threshold_step must be >= 0 and weight_limit > 0")
        if self.target_species is not None and self.target_species < 1:
            raise NasError("target_species must be at least 1 (or None)")
        for name in ("weight_mutation_prob", "weight_perturb_prob", "add_node_prob",
                     "add_connection_prob", "enable_prob", "disable_prob", "crossover_rate",
                     "interspecies_rate", "inherit_disabled_prob", "mate_only_prob",
                     "crossover_average_prob"):
            _prob(name, getattr(self, name))
        if not 0.0 < self.survival_threshold <= 1.0:
            raise NasError("survival_threshold must be in (0, 1]")
        if self.elitism < 0 or self.elitism_min_size < 0 or self.normalize_min_genes < 0:
            raise NasError("elitism, elitism_min_size and normalize_min_genes must be >= 0")
        if self.stagnation < 1 or self.protected_species < 1:
            raise NasError("stagnation and protected_species must be at least 1")
        if self.output_gain is not None and not self.output_gain > 0:
            raise NasError("output_gain must be > 0 (or None)")
        if self.recurrent_link_prob is not None:
            _prob("recurrent_link_prob", self.recurrent_link_prob)
        if self.population_stagnation is not None and self.population_stagnation < 1:
            raise NasError("population_stagnation must be at least 1 (or None)")
        if self.stagnation_penalty is not None and not 0.0 <= self.stagnation_penalty < 1.0:
            raise NasError("stagnation_penalty must be in [0, 1) (or None)")
        if self.obliterate_every is not None and self.obliterate_every < 1:
            raise NasError("obliterate_every must be at least 1 (or None)")
        if self.obliterate_age < 0:
            raise NasError("obliterate_age must be >= 0")
        _choice("mutation", self.mutation, ("independent", "exclusive"))
        _choice("representative", self.representative, ("random", "champion"))
        _choice("weight_schedule", self.weight_schedule, ("per_connection", "stanley"))
        _choice("weight_noise", self.weight_noise, ("gaussian", "uniform"))
        _choice("activation", self.activation, ("sigmoid", "tanh"))
        if self.output_activation is not None:
            _choice("output_activation", self.output_activation, ("sigmoid", "tanh", "identity"))
