"""Mutation operators: the weight noise, the weight schedule (which genes change), the
add-link rule (which open links qualify) and the mutation scheme (how the per-genome
mutations combine). Each base class is the interface; each subclass is one published
rule, so a new variant is a new class that `operators()` can pick.

Every operator draws from the caller's numpy Generator in a fixed order; that order is
part of the rule (the same seed must give the same run).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.evolution.neat.genes import (ConnectionGene, Genome, InnovationTracker,
                                      creates_cycle, mutate_add_node, toggle)


class WeightNoise:
    """Where new weights and perturbations come from."""

    def fresh(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n new weights (initial genomes, new links)."""
        raise NotImplementedError

    def unit(self, rng: np.random.Generator, n: int) -> list[float]:
        """n draws of unit scale, which the schedule scales by sigma or init_std."""
        raise NotImplementedError

    def compiled(self) -> dict | None:
        """This rule's options for the compiled reproduction (`neat._compiled`), or None
        where it has no compiled form (then the operators run in Python). Every operator
        has this method; a subclass that changes a rule must say its own."""
        return None


@dataclass(frozen=True)
class GaussianNoise(WeightNoise):
    """N(0, init_std) weights, N(0, 1) steps: nas's default (not from the paper)."""
    init_std: float

    def fresh(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.normal(0.0, self.init_std, n)

    def unit(self, rng: np.random.Generator, n: int) -> list[float]:
        return rng.normal(0.0, 1.0, n).tolist()

    def compiled(self):
        return {"uniform_noise": 0} if type(self) is GaussianNoise else None


@dataclass(frozen=True)
class UniformNoise(WeightNoise):
    """Weights uniform in +-init_std, steps in +-1: Stanley's code."""
    init_std: float

    def fresh(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(-self.init_std, self.init_std, n)

    def unit(self, rng: np.random.Generator, n: int) -> list[float]:
        return rng.uniform(-1.0, 1.0, n).tolist()

    def compiled(self):
        return {"uniform_noise": 1} if type(self) is UniformNoise else None


class WeightSchedule:
    """Which genes of a reweighted genome are perturbed and which replaced."""

    def choose(self, conns: list[ConnectionGene],
               rng: np.random.Generator) -> tuple[list[bool], list[bool]]:
        raise NotImplementedError

    def compiled(self) -> dict | None:
        return None


@dataclass(frozen=True)
class PerConnection(WeightSchedule):
    """The paper's: each gene perturbed with `perturb_prob`, else replaced."""
    perturb_prob: float

    def choose(self, conns, rng):
        perturb = (rng.random(len(conns)) < self.perturb_prob).tolist()
        return perturb, [not p for p in perturb]

    def compiled(self):
        return {"perturb_prob": self.perturb_prob} if type(self) is PerConnection else None


class StanleySchedule(WeightSchedule):
    """Stanley's mutate_link_weights at rate 1.0: a coin makes the genome "severe" (each
    gene perturbed 70%, replaced 20%, kept 10%); otherwise every gene is perturbed, except
    that in a genome of 10 or more genes the newest fifth (by innovation) is perturbed 50%,
    replaced 20%, kept 30%, on the theory that old genes have stood the test of time."""

    def choose(self, conns, rng):
        n = len(conns)
        severe = rng.random() < 0.5
        choice = rng.random(n)
        rank = np.argsort(np.argsort([c.innovation for c in conns], kind="stable"),
                          kind="stable")
        tail = (rank > 0.8 * n) if n >= 10 else np.zeros(n, dtype=bool)
        perturb_above = np.where(tail, 0.5, 0.0)
        replace_above = np.where(tail, 0.3, -1.0)
        if severe:
            perturb_above[:], replace_above[:] = 0.3, 0.1
        perturb = choice > perturb_above
        replace = ~perturb & (choice > replace_above)
        return perturb.tolist(), replace.tolist()


@dataclass(frozen=True)
class Reweight:
    """One weight mutation: perturbed genes move by sigma * noise, replaced ones become
    init_std * noise, all clamped to +-limit. Genes are visited in insertion order
    (deterministic, and no sort per child)."""
    schedule: WeightSchedule
    noise: WeightNoise
    sigma: float
    init_std: float
    limit: float

    def __call__(self, genome: Genome, rng: np.random.Generator) -> None:
        conns = list(genome.connections.values())
        perturb, replace = self.schedule.choose(conns, rng)
        noise = self.noise.unit(rng, len(conns))
        lim, sigma, init_std = self.limit, self.sigma, self.init_std
        for c, p, r, z in zip(conns, perturb, replace, noise):
            if p or r:
                w = c.weight + sigma * z if p else init_std * z
                c.weight = min(lim, max(-lim, w))

    def compiled(self) -> dict | None:
        parts = (self.schedule.compiled(), self.noise.compiled())
        if type(self) is not Reweight or None in parts:
            return None
        return {**parts[0], **parts[1], "sigma": self.sigma, "init_std": self.init_std,
                "limit": self.limit}


class LinkChoice:
    """Which of a genome's open links an add-link mutation may pick."""

    def candidates(self, genome: Genome, open_links: list[tuple[int, int]],
                   rng: np.random.Generator) -> list[tuple[int, int]]:
        raise NotImplementedError

    def compiled(self) -> dict | None:
        return None


class FeedForwardLinks(LinkChoice):
    """Feed-forward genomes: only links that close no cycle."""

    def candidates(self, genome, open_links, rng):
        return [(s, d) for s, d in open_links if not creates_cycle(genome, s, d)]

    def compiled(self):
        return {"link_choice": 0} if type(self) is FeedForwardLinks else None


class AnyOpenLink(LinkChoice):
    """Recurrent genomes: every open link, uniformly."""

    def candidates(self, genome, open_links, rng):
        return open_links

    def compiled(self):
        return {"link_choice": 1} if type(self) is AnyOpenLink else None


@dataclass(frozen=True)
class RecurrentFirst(LinkChoice):
    """Stanley's recur_only_prob: one draw decides whether this mutation looks only for a
    recurrent link (one closing a cycle, self-loops included) or only for a feed-forward
    one, so a small genome is not flooded with self-loops (its only open links at first)."""
    prob: float

    def candidates(self, genome, open_links, rng):
        recur = bool(rng.random() < self.prob)
        return [(s, d) for s, d in open_links if creates_cycle(genome, s, d) == recur]

    def compiled(self):
        return ({"link_choice": 2, "recurrent_link_prob": self.prob}
                if type(self) is RecurrentFirst else None)


@dataclass(frozen=True)
class AddConnection:
    """Link two unconnected nodes (never into an input) with a fresh weight; False if no
    link qualifies."""
    links: LinkChoice
    noise: WeightNoise

    def __call__(self, genome: Genome, tracker: InnovationTracker,
                 rng: np.random.Generator) -> bool:
        existing = {(c.src, c.dst) for c in genome.connections.values()}
        nodes = genome.node_ids()
        targets = nodes[genome.n_inputs:]
        open_links = [(s, d) for s in nodes for d in targets if (s, d) not in existing]
        candidates = self.links.candidates(genome, open_links, rng)
        if not candidates:
            return False
        src, dst = candidates[int(rng.integers(len(candidates)))]
        innov = tracker.link(src, dst)
        weight = float(self.noise.fresh(rng, 1)[0])
        genome.connections[innov] = ConnectionGene(innov, src, dst, weight)
        return True

    def compiled(self) -> dict | None:
        parts = (self.links.compiled(), self.noise.compiled())
        if type(self) is not AddConnection or None in parts:
            return None
        return {"recurrent_link_prob": 0.0, **parts[0], **parts[1]}


@dataclass(frozen=True)
class Mutation:
    """How one child's mutations combine; every rate is per genome."""
    reweight: Reweight
    add_connection: AddConnection
    weight_prob: float
    add_node_prob: float
    add_connection_prob: float
    enable_prob: float
    disable_prob: float

    def __call__(self, genome: Genome, tracker: InnovationTracker,
                 rng: np.random.Generator) -> None:
        raise NotImplementedError

    def compiled(self) -> dict | None:
        return None

    def _options(self, exclusive: int) -> dict | None:
        """The compiled options of this scheme with its parts (None where a part has no
        compiled form, or the two draw their new weights differently)."""
        reweight, add = self.reweight.compiled(), self.add_connection.compiled()
        if reweight is None or add is None or reweight["uniform_noise"] != add["uniform_noise"]:
            return None
        return {**reweight, **add, "exclusive": exclusive, "weight_prob": self.weight_prob,
                "add_node_prob": self.add_node_prob,
                "add_connection_prob": self.add_connection_prob,
                "enable_prob": self.enable_prob, "disable_prob": self.disable_prob}

    def _maybe_reweight(self, genome: Genome, rng: np.random.Generator) -> None:
        if rng.random() < self.weight_prob:
            self.reweight(genome, rng)

    def _maybe_toggle(self, genome: Genome, rng: np.random.Generator) -> None:
        if rng.random() < self.enable_prob:
            toggle(genome, rng, True)
        if rng.random() < self.disable_prob:
            toggle(genome, rng, False)


class IndependentMutation(Mutation):
    """The paper's: reweight, add-node, add-link and the toggles each drawn on its own."""

    def __call__(self, genome, tracker, rng):
        self._maybe_reweight(genome, rng)
        if rng.random() < self.add_node_prob:
            mutate_add_node(genome, tracker, rng)
        if rng.random() < self.add_connection_prob:
            self.add_connection(genome, tracker, rng)
        self._maybe_toggle(genome, rng)

    def compiled(self):
        return self._options(0) if type(self) is IndependentMutation else None


class ExclusiveMutation(Mutation):
    """Stanley's code: add-node, else add-link, else the weight and toggle mutations, so a
    structural child keeps its parent's weights and is judged on its structure."""

    def __call__(self, genome, tracker, rng):
        if rng.random() < self.add_node_prob:
            mutate_add_node(genome, tracker, rng)
        elif rng.random() < self.add_connection_prob:
            self.add_connection(genome, tracker, rng)
        else:
            self._maybe_reweight(genome, rng)
            self._maybe_toggle(genome, rng)

    def compiled(self):
        return self._options(1) if type(self) is ExclusiveMutation else None
