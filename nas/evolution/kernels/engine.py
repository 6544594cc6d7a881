"""`KernelEngine`: the kernels' `Evaluator` (nas.evolution.evaluators): one generation's
evaluation, and the champion test, as kernel calls.

It stands in for `task.evaluate(mode.policy(genomes), starts)` and
`task.champion_solved(...)` (the torch evaluator's calls), returning the same fitness
tensor (float64, one value per row, seeds in order) from the kernels' per-row survived /
failed / wobble. Which networks it runs comes from the mode (`mode.kernel_networks`:
`PureNetworks` or `NeatNetworks` below), which task from `task.kernel()`.
"""
from __future__ import annotations

import numpy as np
import torch

from nas.evolution.kernels import episodes
from nas.evolution.kernels._numba import use_torch_threads
from nas.evolution.kernels.neat import compile_genomes
from nas.evolution.kernels.activations import ACTIVATION_IDS
from nas.evolution.kernels.networks import RECURRENCE_IDS, padded_layout
from nas.evolution.kernels.registry import TaskKernel
from nas.evolution.tasks.double_pole import generalization_starts

WOBBLE_KINDS = {None: episodes.NO_WOBBLE, "state": episodes.STATE_WOBBLE,
                "inputs": episodes.INPUT_WOBBLE}

# torch sums a row of 100 float64 in vectors of this many lanes (physics.window_sum)
LANES = 8 if torch.backends.cpu.get_cpu_capability() == "AVX512" else 4


class _Episodes:
    """What every kernel call shares: the task's view, and the per-row outputs."""

    def __init__(self, spec: TaskKernel):
        self.spec = spec

    def task_args(self) -> tuple:
        s = self.spec
        return (s.physics, float(s.fric[0]), float(s.fric[1]), float(s.mu_c),
                float(s.force_floor), np.ascontiguousarray(s.obs_index, np.int64),
                np.ascontiguousarray(s.obs_scale, np.float64),
                float(s.bias if s.bias is not None else 0.0), s.bias is not None)

    @staticmethod
    def outputs(rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.empty(rows, np.int64), np.empty(rows, np.bool_), np.empty(rows, np.float64)


class PureNetworks(_Episodes):
    """Pure mode: genomes are `[population, n_params]` float32 tensors."""

    def __init__(self, spec: TaskKernel, network):
        super().__init__(spec)
        self.sizes = np.array(network.sizes, np.int64)
        self.recurrent = RECURRENCE_IDS[network.recurrent]
        self.act = ACTIVATION_IDS[network.activation]
        self.layout = padded_layout(network)

    def batch(self, genomes: list[torch.Tensor]):
        """The genomes as one float32 array in NetworkSpec's layout: the kernel pads each
        one as it loads it into a lane (padding the whole batch in numpy first took about
        a sixth of a call on a batch of short double-pole episodes)."""
        whole = genomes[0] if len(genomes) == 1 else torch.cat(genomes)
        return np.ascontiguousarray(whole.numpy(), np.float32)

    def one(self, genomes: torch.Tensor, index: int):
        return np.ascontiguousarray(genomes[index:index + 1].numpy(), np.float32)

    def run(self, net, genome_of, starts, max_steps: int, wobble: int, threads: int):
        out = self.outputs(len(starts))
        episodes.pure_episodes(*self.task_args(), net, self.layout, genome_of, self.sizes,
                               self.recurrent, self.act, starts, int(max_steps), int(wobble),
                               LANES, threads, *out)
        return out


class NeatNetworks(_Episodes):
    """NEAT mode: genomes are lists of `Genome`, compiled to the sparse layout."""

    def __init__(self, spec: TaskKernel, n_in: int, n_out: int, params):
        super().__init__(spec)
        self.n_in, self.n_out, self.params = n_in, n_out, params

    def batch(self, genomes: list[list]):
        return compile_genomes([g for batch in genomes for g in batch], self.n_in, self.n_out,
                               self.params)

    def one(self, genomes: list, index: int):
        return compile_genomes([genomes[index]], self.n_in, self.n_out, self.params)

    def run(self, net, genome_of, starts, max_steps: int, wobble: int, threads: int):
        out = self.outputs(len(starts))
        episodes.neat_episodes(*self.task_args(), *net, self.n_out, bool(self.params.recurrent),
                               genome_of, starts, int(max_steps), int(wobble), LANES, threads,
                               *out)
        return out


class KernelEngine:
    """Evaluation for one run_evolution call (one task instance, one mode)."""

    def __init__(self, task, networks: PureNetworks | NeatNetworks):
        self.task, self.networks, self.spec = task, networks, networks.spec

    def _run(self, net, starts: torch.Tensor, max_steps: int, wobble: int, genome_of=None):
        starts = np.ascontiguousarray(starts.to(torch.float64).numpy())
        if genome_of is None:
            genome_of = np.arange(len(starts), dtype=np.int64)
        threads = use_torch_threads()  # one block of lanes per thread (episodes.py)
        return self.networks.run(net, genome_of, starts, max_steps, wobble, threads)

    def evaluate(self, genomes: list, starts: torch.Tensor) -> torch.Tensor:
        """Fitness of row i = genome i of the concatenated genomes from starts[i]."""
        damping = self.spec.fitness == "damping"
        survived, failed, wobble = self._run(self.networks.batch(genomes), starts,
                                             self.spec.max_steps, WOBBLE_KINDS[self.spec.wobble])
        if damping:  # (the task's own formula: fitness_of is one the registry checks)
            return self.task.fitness_of(torch.from_numpy(survived.astype(np.float64)),
                                        torch.from_numpy(wobble))
        return torch.from_numpy((survived + failed).astype(np.float64))

    def episode(self, genomes, starts: torch.Tensor, progress=None) -> tuple[int, float]:
        """(steps taken, failing step included; fitness) of genome 0 from starts[0]: what
        `nas replay` prints, at kernel speed rather than the torch path's step loop (so no
        `progress` to report)."""
        survived, failed, _ = self._run(self.networks.batch([genomes]), starts[:1],
                                        self.spec.max_steps, WOBBLE_KINDS[self.spec.wobble])
        return int(survived[0] + failed[0]), float(self.evaluate([genomes], starts[:1])[0])

    def survival(self, genomes, index: int, starts: torch.Tensor, max_steps: int) -> np.ndarray:
        """Steps survived (failing step not counted) by genome `index` from each start."""
        one = np.zeros(len(starts), np.int64)
        return self._run(self.networks.one(genomes, index), starts, max_steps,
                         episodes.NO_WOBBLE, one)[0]

    def champion_solved(self, genomes, index: int) -> bool:
        """DoublePoleNV.champion_solved for genome `index`: the 625 generalization starts
        first (cheap, one batch; none where generalization_needed is 0), then the long run
        from the standard start."""
        task = self.task
        if task.generalization_needed:
            general = self.survival(genomes, index, generalization_starts(task.dtype),
                                    task.generalization_steps)
            if int((general >= task.generalization_steps).sum()) < task.generalization_needed:
                return False
        start = task.initial_states(torch.Generator(), 1)
        return bool(self.survival(genomes, index, start, task.long_steps)[0] >= task.long_steps)

