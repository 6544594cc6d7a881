"""Create or resume a study: schema first, then the spec, checked before anything is written."""
from __future__ import annotations

from dataclasses import replace

from nas.references import load_user_objective
from nas.sizing import check_fits
from nas.spec import StudySpec, check_study_name
from nas.store import Store
from nas.store.studies import StudyRow


def ensure_study(store: Store, name: str, spec: StudySpec, priority: int = 0,
                 given: frozenset[str] | None = None) -> tuple[StudyRow, bool]:
    """`given`: the spec fields the user set; for a study that exists, the others are its
    stored values (None: compare every field, as the library API does)."""
    check_study_name(name)
    existing = None
    if given is not None and store.current_revision() is not None:
        store.upgrade()  # an older schema is brought up to date before it is read
        existing = store.study(name)
    if existing is not None:
        spec = replace(existing.spec, **{f: getattr(spec, f) for f in given})
    spec.check_task()  # a gym: or module:Class task that cannot be had fails here, in one line
    if spec.fix or spec.ranges:  # names and values against the mode's space (imports torch)
        from nas.worker.space import check_space

        check_space(spec)
    check_fits(spec)
    if spec.objective:
        load_user_objective(spec.objective)  # a missing module fails here, not in every worker
    store.upgrade()
    return store.create_or_resume_study(name, spec, priority)
