"""How each mode turns an algorithm's genomes into one batched policy, and back into data.

`run_evolution` is the same loop for every mode; a mode supplies the per-seed algorithm,
compiles the genomes of all active seeds into one `Policy` (one batch per time step) or,
for the compiled CPU kernels, into their own form (`kernel_networks`), turns a genome into
plain JSON data (for `nas.genomes` and `nas replay`) and back (`stored_mode`), and reports
per-generation structure statistics where it has any.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from nas.evolution.algorithms import ALGORITHMS
from nas.evolution.config import EvolutionConfig
from nas.evolution.networks import BatchedNetwork, NetworkSpec
from nas.evolution.tasks.base import Policy, Task


class PureMode:
    """Fixed topology: a genome is one row of a `[population, n_params]` tensor."""

    def __init__(self, cfg: EvolutionConfig, task: Task):
        self.spec = NetworkSpec(task.obs_size, task.act_size, cfg.hidden, cfg.activation, cfg.recurrent)
        algo_cls, _ = ALGORITHMS[cfg.algorithm]
        self.algorithm = algo_cls.for_network(self.spec, cfg.population, cfg.algorithm_hyperparams())

    @classmethod
    def stored(cls, data: dict[str, Any]) -> tuple["PureMode", torch.Tensor]:
        """The mode of one stored genome (`genome()`'s data; no algorithm) and the genome
        as a one-row batch."""
        net, mode = data["network"], cls.__new__(cls)
        mode.spec = NetworkSpec(net["n_in"], net["n_out"], tuple(net["hidden"]), net["activation"],
                                net["recurrent"])
        mode.algorithm = None
        return mode, torch.tensor([data["params"]], dtype=torch.float32)

    def kernel_networks(self, kernel):
        """These networks in the compiled kernels' form, for a task's `TaskKernel`; None
        where the kernels do not run them (genomes other than float32)."""
        stored = self.algorithm is None  # (stored genomes are float32)
        if not stored and getattr(self.algorithm, "dtype", None) is not torch.float32:
            return None
        from nas.evolution.kernels.engine import PureNetworks

        return PureNetworks(kernel, self.spec)

    def policy(self, batches: list[torch.Tensor], device: str) -> Policy:
        return BatchedNetwork(self.spec, torch.cat(batches).to(device))

    def copies(self, batch: torch.Tensor, index: int, n: int, device: str) -> Policy:
        """A fresh policy of n copies of one genome (a champion's generalization test)."""
        return BatchedNetwork(self.spec, batch[index:index + 1].expand(n, -1).to(device))

    def genome(self, batch: torch.Tensor, index: int) -> dict[str, Any]:
        s = self.spec
        return {"kind": "pure", "network": {"n_in": s.n_in, "n_out": s.n_out, "hidden": list(s.hidden),
                                            "activation": s.activation, "recurrent": s.recurrent},
                "params": batch[index].tolist()}

    def stats(self, state) -> dict[str, float] | None:
        return None

    def champion(self, state, fitness: torch.Tensor, candidates: torch.Tensor,
                 checked: set) -> int | None:
        """The genome to give the champion test: the best candidate (the CoSyNE paper's
        "best network of each generation")."""
        return _best_of(fitness, candidates)


class NeatMode:
    """NEAT: a genome is a graph; the whole population compiles to padded tensors.

    The output node is linear unless the config says otherwise: every task maps raw
    outputs to actions itself (CartPole thresholds at 0, double pole applies a sigmoid).
    """

    def __init__(self, cfg: EvolutionConfig, task: Task):
        from nas.evolution.neat import NEAT

        self.params = cfg.algorithm_hyperparams()
        self.n_in, self.n_out = task.obs_size, task.act_size
        self.algorithm = NEAT(self.n_in, self.n_out, cfg.population, self.params)

    @classmethod
    def stored(cls, data: dict[str, Any]) -> tuple["NeatMode", list]:
        """The mode of one stored genome (`genome()`'s data; no algorithm) and the genome
        as a one-genome batch."""
        from nas.evolution.neat import NEATParams, genome_from_dict

        genome, mode = genome_from_dict(data["genome"]), cls.__new__(cls)
        mode.params, mode.algorithm = NEATParams(**data["params"]), None
        mode.n_in, mode.n_out = genome.n_inputs, genome.n_outputs
        return mode, [genome]

    def kernel_networks(self, kernel):
        """These networks in the compiled kernels' form (their sparse genes), for a task's
        `TaskKernel`."""
        from nas.evolution.kernels.engine import NeatNetworks

        return NeatNetworks(kernel, self.n_in, self.n_out, self.params)

    def policy(self, batches: list[list], device: str) -> Policy:
        from nas.evolution.neat import compile_population

        return compile_population([g for batch in batches for g in batch], self.n_in, self.n_out,
                                  self.params, device=device)

    def copies(self, batch: list, index: int, n: int, device: str) -> Policy:
        return self.policy([[batch[index]] * n], device)

    def genome(self, batch: list, index: int) -> dict[str, Any]:
        from nas.evolution.neat import genome_to_dict

        return {"kind": "neat", "genome": genome_to_dict(batch[index]), "params": asdict(self.params)}

    def stats(self, state) -> dict[str, float]:
        return self.algorithm.stats(state)

    def champion(self, state, fitness: torch.Tensor, candidates: torch.Tensor,
                 checked: set) -> int | None:
        """Stanley's rule (experiments.cpp, pole2_epoch): species ranked by their best
        fitness this generation; a species that beat its best ever is unchecked again; the
        champion of the first unchecked species is tested (else the top species') and its
        species marked checked. So a failing champion does not block every other species'
        from the test, generation after generation. `checked` (species ids) persists per
        seed. Only champions that are candidates qualify (the rest cannot pass)."""
        fit = fitness.tolist()
        ranked = []
        for sp in state.species:
            top = max(sp.members, key=lambda i: (fit[i], -i))
            if fit[top] > sp.best_fitness:
                checked.discard(sp.id)
            ranked.append((fit[top], sp.id, top))
        ranked.sort(key=lambda r: -r[0])  # stable: ties keep the species' order
        eligible = [(sid, top) for _, sid, top in ranked if bool(candidates[top])]
        if not eligible:
            return None
        sid, top = next(((s, t) for s, t in eligible if s not in checked), eligible[0])
        checked.add(sid)
        return top


def _best_of(fitness: torch.Tensor, candidates: torch.Tensor) -> int | None:
    if not bool(candidates.any()):
        return None
    masked = torch.where(candidates, fitness, torch.tensor(-torch.inf, dtype=fitness.dtype))
    return int(torch.argmax(masked))


MODES = {"pure": PureMode, "neat": NeatMode}


def stored_mode(data: dict[str, Any]) -> tuple[PureMode | NeatMode, Any]:
    """(the mode, a one-genome batch) of one stored genome (`mode.genome()`'s data)."""
    return (NeatMode if data.get("kind", "pure") == "neat" else PureMode).stored(data)


def policy_from_genome(data: dict[str, Any], device: str = "cpu") -> Policy:
    """Rebuild one stored genome as a one-row policy (for `nas replay`)."""
    mode, genomes = stored_mode(data)
    return mode.policy([genomes], device)
