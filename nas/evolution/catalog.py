"""Names and sizes, importable without torch (the CLI validates flags and sizes a trial
with them before a worker has set its thread caps). The registries and the search space
check themselves against it.

A task is named one of three ways:
    cartpole, double-pole, double-pole-nv, double-pole-nv-gomez
                                            the built-in batched torch tasks (sizes below)
    gym:ENV_ID                              a Gymnasium environment (nas.evolution.tasks.gym_env)
    package.module:Class                    your own `Task` subclass (nas.evolution.tasks.user)
The last two are resolved on demand (`task_sizes`, `has_target`): that imports gymnasium or
your module (and torch), so only commands that need their sizes pay for it.
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


def task_sizes(name: str) -> tuple[int, int]:
    """(observations, actions); a gym: or module:Class task is resolved to read them."""
    if name in TASK_SIZES:
        return TASK_SIZES[name]
    cls = resolve(name)
    return cls.obs_size, cls.act_size


def has_target(name: str) -> bool:
    """Whether the task has a solved criterion (a target fitness) for the metrics."""
    return is_builtin(name) or resolve(name).target_fitness is not None


def resolve(name: str):
    """The task class a name stands for; one-line NasError when it cannot be had."""
    from nas.evolution.tasks import task_class  # torch: only when a task is resolved

    return task_class(check_task_name(name))
