"""Create or resume a study: schema first, then the spec, checked before anything is written."""
from __future__ import annotations

from nas.store import schema, studies
from nas.store.studies import StudyRow, StudySpec


def ensure_study(url: str, name: str, spec: StudySpec, priority: int = 0) -> tuple[StudyRow, bool]:
    if spec.objective:
        from nas.worker.objective import load_user_objective

        load_user_objective(spec.objective)  # a missing module fails here, not in every worker
    schema.upgrade(url)
    return studies.create_or_resume(url, name, spec, priority)
