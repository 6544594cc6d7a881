"""Names and sizes, importable without torch (the CLI validates flags and sizes a trial
with them before a worker has set its thread caps). The registries and the search space
check themselves against it."""

MODES = ("pure", "neat")
TASKS = ("cartpole", "double-pole", "double-pole-nv")

# (observations, actions) per task, as the task classes declare them.
TASK_SIZES = {"cartpole": (4, 1), "double-pole": (7, 1), "double-pole-nv": (4, 1)}

# The pure search space's largest networks (nas.worker.space draws within these).
MAX_HIDDEN_LAYERS = 3
MAX_UNITS = 32
MAX_NEURONS = 16  # fully recurrent nets: one layer of at most this many
