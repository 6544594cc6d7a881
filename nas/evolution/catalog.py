"""Names of modes and tasks, importable without torch (the CLI validates flags with it
before a worker has set its thread caps). The registries check themselves against it."""

MODES = ("pure", "neat")
TASKS = ("cartpole", "double-pole", "double-pole-nv")
