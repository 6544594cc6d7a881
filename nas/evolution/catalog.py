"""Names and sizes, importable without torch (the CLI validates flags and sizes a trial
with them before a worker has set its thread caps). The registries and the search space
check themselves against it.

A task is named one of three ways:
    cartpole, double-pole, double-pole-nv, double-pole-nv-gomez
                                            the built-in batched torch tasks (sizes below)
    gym:ENV_ID                              a Gymnasium environment (nas.evolution.tasks.gym_env)
    package.module:Class                    your own `Task` subclass (nas.evolution.tasks.user)
The last two are resolved by nas.evolution.tasks (`task_class`, `task_sizes`, `has_target`),
on demand: that imports gymnasium or your module (and torch), so only commands that need
their sizes pay for it. This module never imports the tasks.
"""
from __future__ import annotations

import re

from nas.errors import NasError

MODES = ("pure", "neat")
TASKS = ("cartpole", "double-pole", "double-pole-nv", "double-pole-nv-gomez")

# (observations, actions) per task, as the task classes declare them.
TASK_SIZES = {"cartpole": (4, 1), "double-pole": (7, 1), "double-pole-nv": (4, 1),
              "double-pole-nv-gomez": (4, 1)}

# The pure search space's largest networks (nas.worker.space draws within these).
MAX_HIDDEN_LAYERS = 3
MAX_UNITS = 32
MAX_NEURONS = 16  # fully recurrent nets: one layer of at most this many

GYM_PREFIX = "gym:"
TASK_FORMS = f"a built-in task ({', '.join(TASKS)}), gym:ENV_ID or package.module:Class"
_DOTTED = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"
_USER = re.compile(rf"{_DOTTED}:[A-Za-z_]\w*")
_GYM_ID = re.compile(r"gym:[A-Za-z0-9_][\w./:-]*")


def check_task_name(name: str) -> str:
    """The name's form only (no import): one line naming the three forms when it has none."""
    if name in TASKS or _GYM_ID.fullmatch(name) or _USER.fullmatch(name):
        return name
    shown = name if len(name) <= 60 else name[:57] + "..."
    raise NasError(f"task {shown!r} is not {TASK_FORMS}")


def is_builtin(name: str) -> bool:
    return name in TASKS
