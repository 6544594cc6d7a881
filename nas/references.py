"""User code named as `package.module:attribute` (an objective today, a task class later).

Torch-free on purpose: `nas study create` checks that a reference imports before it writes
the study, without loading the worker or the engine. Whoever can write `nas.studies`
chooses which code the workers import; see the trust model in docs/database.md.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from nas.errors import NasError


def import_reference(ref: str, what: str = "objective", noun: str = "function") -> Any:
    """Import `package.module:attribute`, with a one-line error when it cannot."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise NasError(f"--{what} must look like package.module:{noun}, got {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # as `python -m` would: your project dir is importable
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NasError(f"cannot import {what} module {module_name!r}: {exc}") from None
    found = getattr(module, attr, None)
    if found is None:
        raise NasError(f"{what} {ref!r}: {module_name} has no {noun} {attr!r}")
    return found


def load_user_objective(ref: str):
    """The objective function a study names: callable as `objective(trial, spec)`, checked
    here (at study creation and worker start) so that a wrong signature fails once, in one
    line, instead of failing every trial of the budget at once."""
    func = import_reference(ref, "objective")
    if not callable(func):
        raise NasError(f"objective {ref!r} is not a function")
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return func  # a builtin without a signature: its first call will tell
    try:
        signature.bind(None, None)
    except TypeError:
        raise NasError(f"objective {ref!r} must take (trial, spec), but its signature is "
                       f"{func.__name__ if hasattr(func, '__name__') else ref}{signature}") from None
    return func
