"""A trial lineage's checkpoint, as the worker keeps it: load on start, save at generation
boundaries (on a stop request, and every `interval` seconds of trial time), delete when
the lineage finishes.

A lineage is a trial and its retries (Optuna's `retry_history` names its first trial);
they share params, so a retry continues where the last attempt's checkpoint left off.
The checkpoint row also holds the intermediate values reported so far: a retry is a new
Optuna trial, and reports them again before it continues, so the pruner compares the
same curve it would have seen without the interruption.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Callable, TypeVar

from nas.store import Store
from nas.store.checkpoints import CheckpointRow

log = logging.getLogger("nas.worker")
T = TypeVar("T")


def lineage_of(system_attrs: dict, number: int) -> int:
    """The number of the lineage's first trial."""
    history = system_attrs.get("retry_history") or []
    return int(history[0]) if history else number


def progressed_attempts(store: Store, study, frozen) -> int:
    """How many attempts of `frozen`'s lineage advanced its checkpoint (the retry rule
    does not count those; nas.worker.retries)."""
    row = store.study(study.study_name)
    lineage = lineage_of(frozen.system_attrs, frozen.number)
    return 0 if row is None else store.progressed_attempts(row.id, lineage)


def digest(config: dict) -> str:
    """What a checkpoint may only be resumed by: the same evolution config."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


class LineageCheckpoint:
    """One attempt's view of its lineage's checkpoint row."""

    def __init__(self, store: Store, study_id: int, interval: float,
                 retrying: Callable[[Callable[[], T], str], T]):
        self.store, self.study_id, self.interval = store, study_id, interval
        self._retrying = retrying
        self.lineage: int | None = None
        self.trial_id: int | None = None
        self.config_digest = ""
        self._last = time.monotonic()

    def start(self, trial, config: dict) -> CheckpointRow | None:
        """Bind to `trial` and return its lineage's checkpoint if this config may resume it
        (a row made for other params is left alone and ignored, with a warning)."""
        attrs = self._retrying(lambda: trial.storage.get_trial_system_attrs(trial._trial_id),
                               "reading the trial's lineage")
        self.lineage, self.trial_id = lineage_of(attrs, trial.number), trial._trial_id
        self.config_digest, self._last = digest(config), time.monotonic()
        row = self._retrying(lambda: self.store.load_checkpoint(self.study_id, self.lineage),
                             "loading a checkpoint")
        if row is not None and row.params_digest != self.config_digest:
            log.warning("checkpoint of trial %d's lineage was made for other params: "
                        "starting from generation 0", trial.number)
            return None
        return row

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.interval

    def save(self, generation: int, reported: list, payload: bytes) -> None:
        self._retrying(lambda: self.store.save_checkpoint(
            self.study_id, self.lineage, self.trial_id, generation, self.config_digest,
            reported, payload), "writing a checkpoint")
        self._last = time.monotonic()

    def discard(self) -> None:
        """The lineage finished (or its checkpoint proved unusable): the row goes."""
        if self.lineage is not None:
            self._retrying(lambda: self.store.delete_checkpoint(self.study_id, self.lineage),
                           "deleting a checkpoint")
