"""What the kernels read of a task: its `TaskKernel` and the physics ids.

A task declares its kernel itself (nas.evolution.tasks.base: `has_kernel`, `kernel_view`,
`Task.kernel()`, which also keeps the rule that a subclass or a patched task gets the
torch path); this module only names those parts for the kernels' side.
"""
from __future__ import annotations

from nas.evolution.tasks.base import CARTPOLE_PHYSICS as CARTPOLE
from nas.evolution.tasks.base import DOUBLE_POLE_PHYSICS as DOUBLE_POLE
from nas.evolution.tasks.base import TaskKernel

__all__ = ["CARTPOLE", "DOUBLE_POLE", "TaskKernel"]
