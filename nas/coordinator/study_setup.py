"""Create or resume a study: schema first, then the spec, checked before anything is written."""
from __future__ import annotations

from nas.references import load_user_objective
from nas.sizing import check_fits
from nas.spec import StudySpec, check_study_name
from nas.store import Store
from nas.store.studies import StudyRow


def ensure_study(store: Store, name: str, spec: StudySpec,
                 priority: int = 0) -> tuple[StudyRow, bool]:
    check_study_name(name)
    spec.check_task()  # a gym: or module:Class task that cannot be had fails here, in one line
    check_fits(spec)
    if spec.objective:
        load_user_objective(spec.objective)  # a missing module fails here, not in every worker
    store.upgrade()
    return store.create_or_resume_study(name, spec, priority)
