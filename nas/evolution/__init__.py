"""The workload: batched torch tasks and evolution algorithms. No database, no Optuna.

Attributes load lazily so that `nas.evolution.catalog` (names only) can be imported
by the CLI without pulling in torch before a worker has capped its threads.
"""
from importlib import import_module

_EXPORTS = {"EvolutionConfig": "nas.evolution.config", "EvolutionResult": "nas.evolution.run",
            "SeedResult": "nas.evolution.run", "run_evolution": "nas.evolution.run"}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'nas.evolution' has no attribute {name!r}")


__all__ = list(_EXPORTS)
