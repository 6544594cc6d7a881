"""One claimed trial: load the study, optimize once, decide what the claim becomes."""
from __future__ import annotations

import logging

from nas.store import claims, workers
from nas.worker.objective import StopRequested, build_objective

log = logging.getLogger("nas.worker")


def _sampler(name: str):
    import optuna

    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    return samplers[name]()


def _pruner(name: str):
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)


def run_one_trial(worker, claim: claims.Claim) -> str:
    """Returns the claim's end state: 'done' (trial finished) or 'released' (retry queued)."""
    import optuna
    from optuna.trial import TrialState

    row = worker.studies[claim.study_id]
    study = optuna.load_study(study_name=row.name, storage=worker.storage,
                              sampler=_sampler(row.spec.sampler), pruner=_pruner(row.spec.pruner))
    started: list[optuna.Trial] = []

    def on_start(trial: optuna.Trial) -> None:
        started.append(trial)
        claims.bind_trial(worker.url, claim.id, trial._trial_id)
        workers.seen(worker.url, worker.worker_id, claim.study_id, trial._trial_id)

    objective = build_objective(row.spec, on_start)
    try:
        study.optimize(objective, n_trials=1, gc_after_trial=False)
    except StopRequested:
        frozen = worker.storage.get_trial(started[0]._trial_id)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)(study, frozen)
        log.info("trial %d of %s stopped and queued for retry", frozen.number, row.name)
        return "released"
    except Exception as exc:  # the objective's own bug: Optuna already marked it FAIL
        log.error("trial of %s failed: %s: %s", row.name, type(exc).__name__, exc)
    if not started:
        return "released"
    frozen = worker.storage.get_trial(started[0]._trial_id)
    log.info("trial %d of %s finished: %s value=%s", frozen.number, row.name,
             frozen.state.name, frozen.value)
    return "done" if frozen.state.is_finished() else "released"
