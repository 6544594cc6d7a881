"""One seam for evaluation: the `Evaluator` protocol, and the one place that picks one.

run_evolution (and `nas replay`) call only the protocol; which engine stands behind it is
decided once per run by `evaluator_for(task, mode, device, engine)`:

    KernelEngine (nas.evolution.kernels)  engine "kernel" (the default, `$NAS_ENGINE`), a
        CPU device, a task that declares a kernel (`task.kernel()`: the built-in tasks, as
        long as neither subclassed nor patched) and a mode whose networks the kernels run
        (`mode.kernel_networks()`: pure float32 genomes, NEAT);
    TorchEvaluator                       everything else: `--device cuda`, `NAS_ENGINE=torch`,
        your own tasks and `gym:` tasks.

Both give the same episodes (tests/test_kernels.py). A new built-in task with a kernel
declares it in its own class (nas.evolution.tasks.base: `has_kernel`, `kernel_view`); a
new engine is one class with these methods and one line in `evaluator_for`.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import torch

from nas import defaults
from nas.errors import NasError


@runtime_checkable
class Evaluator(Protocol):
    def evaluate(self, genomes: list, starts: torch.Tensor) -> torch.Tensor:
        """Fitness (float64 `[rows]`) of row i = genome i of the concatenated batches
        `genomes` (one per active seed, in order), from starts[i]."""

    def champion_solved(self, genomes: Any, index: int) -> bool:
        """The task's champion test (`Task.champion_solved`) on genome `index` of one batch."""

    def episode(self, genomes: Any, starts: torch.Tensor,
                progress: Callable[[int], None] | None = None) -> tuple[int, float]:
        """(control steps taken, the failing one included; fitness) of genome 0 of one batch
        from starts[0] (`nas replay`); `progress(steps)` may be told how far it got."""


class TorchEvaluator:
    """The batched torch path: the mode's `Policy` driven by the task's own methods."""

    def __init__(self, task, mode, device: str = "cpu"):
        self.task, self.mode, self.device = task, mode, device

    def evaluate(self, genomes: list, starts: torch.Tensor) -> torch.Tensor:
        policy = self.mode.policy(genomes, self.device)
        with torch.inference_mode():  # no autograd bookkeeping per op: ~9% per episode step
            return self.task.evaluate(policy, starts.to(self.device))

    def champion_solved(self, genomes: Any, index: int) -> bool:
        copies = lambda n: self.mode.copies(genomes, index, n, self.device)  # noqa: E731
        with torch.inference_mode():
            return bool(self.task.champion_solved(copies))

    def episode(self, genomes: Any, starts: torch.Tensor,
                progress: Callable[[int], None] | None = None) -> tuple[int, float]:
        counting = _Counting(self.mode.policy([genomes], self.device), progress)
        with torch.inference_mode():
            fitness = float(self.task.evaluate(counting, starts[:1].to(self.device))[0])
        return counting.calls, fitness


class _Counting:
    """A policy that counts its calls (one per control step), telling `progress` every
    1,000."""

    def __init__(self, policy, progress: Callable[[int], None] | None):
        self.policy, self.progress, self.calls = policy, progress, 0

    def __call__(self, obs):
        self.calls += 1
        if self.progress is not None and self.calls % 1000 == 0:
            self.progress(self.calls)
        return self.policy(obs)

    def keep(self, rows):
        self.policy.keep(rows)


def evaluator_for(task, mode, device: str = "cpu", engine: str | None = None) -> Evaluator:
    """The evaluator of one run (task instance and mode), chosen once (module docstring)."""
    return kernel_evaluator(task, mode, device, engine) or TorchEvaluator(task, mode, device)


def kernel_evaluator(task, mode, device: str = "cpu", engine: str | None = None):
    """The compiled kernels' evaluator for (task, mode) on `device`, or None where they do
    not serve it. Loads (or, once per machine, compiles) the kernels when they do."""
    engine = engine or defaults.engine()
    if engine not in defaults.ENGINES:
        raise NasError(f"unknown engine {engine!r}; choose from {', '.join(defaults.ENGINES)}")
    if engine != "kernel" or torch.device(device).type != "cpu":
        return None
    view = task.kernel()
    if view is None:  # (decided before numba loads: most user tasks stop here)
        return None
    networks = mode.kernel_networks(view)
    if networks is None:
        return None
    from nas.evolution.kernels.engine import KernelEngine
    from nas.evolution.kernels.warm import ensure_compiled

    ensure_compiled()  # first use in this process: load (or compile) every kernel
    return KernelEngine(task, networks)


__all__ = ["Evaluator", "TorchEvaluator", "evaluator_for", "kernel_evaluator"]
