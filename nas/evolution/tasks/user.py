"""Your own simulator as `-t package.module:Class`: a subclass of nas's public `Task`.

Imported the way `--objective` is (nas.references: the working directory is importable),
when a study is created and when a worker starts, so a module that does not import or a
class that breaks the contract's declarations is one line at once, never a failed trial
per worker. `nas task check` runs the whole contract (nas.evolution.tasks.contract).
"""
from __future__ import annotations

from nas.errors import NasError
from nas.evolution.tasks.base import Task
from nas.evolution.tasks.declaration import check_declaration, instantiate, one_line
from nas.references import import_reference


def load_task_class(ref: str) -> type[Task]:
    """Import `package.module:Class` and check what can be checked without an episode."""
    try:
        cls = import_reference(ref, "task", "class")
    except NasError:
        raise
    except Exception as exc:  # a module that raises while importing: its error, in one line
        module = ref.partition(":")[0]
        raise NasError(f"cannot import task module {module!r}: {one_line(exc)}") from None
    check_declaration(cls, ref)
    instantiate(cls, ref)
    return cls
