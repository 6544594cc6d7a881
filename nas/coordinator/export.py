"""`nas export`: a study's trials as one table for pandas, R or a spreadsheet, no SQL.

One row per trial (retries included: `retry_of` says whose), its params flattened into
`params_<name>` columns as Optuna's `trials_dataframe()` names them, and each seed's
results as `seed<k>_<field>` columns, so the spread over seeds is in the row. Read from
the nas.trials and nas.seed_runs views, so it works from any machine that reaches the
database, while workers run.
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from nas.errors import NasError
from nas.store import Store

FORMATS = ("csv", "json", "parquet")
TRIAL_COLUMNS = ("number", "state", "value", "success_rate", "started", "finished", "duration",
                 "retry_of", "retries", "resumed_from", "preempted", "worker_host")
SEED_COLUMNS = ("best_fitness", "generations", "evaluations", "solved_generation",
                "solved_evaluations", "seconds")


def trials_frame(store: Store, name: str):
    """The study's trials as a pandas DataFrame, one row each, ordered by number."""
    import pandas as pd

    row = store.require_study(name)
    with store.transaction() as session:
        trials = session.execute(sa.text(
            f"SELECT {', '.join(TRIAL_COLUMNS)}, params FROM nas.trials WHERE study = :n "
            "ORDER BY number"), {"n": name}).mappings().all()
        seeds = session.execute(sa.text(
            f"SELECT trial_number, seed, {', '.join(SEED_COLUMNS)} FROM nas.seed_runs "
            "WHERE study_id = :s ORDER BY trial_number, seed"), {"s": row.id}).mappings().all()
    frame = pd.DataFrame([{**{k: t[k] for k in TRIAL_COLUMNS},
                           **{f"params_{p}": v for p, v in sorted((t["params"] or {}).items())}}
                          for t in trials], columns=None if trials else list(TRIAL_COLUMNS))
    frame["duration"] = frame["duration"].map(lambda d: d.total_seconds() if d is not None else None)
    frame = frame.rename(columns={"duration": "duration_s"})
    if seeds:
        wide = pd.DataFrame(seeds).pivot(index="trial_number", columns="seed", values=list(SEED_COLUMNS))
        wide.columns = [f"seed{seed}_{field}" for field, seed in wide.columns]
        wide = wide[sorted(wide.columns, key=lambda c: (int(c[4:c.index("_")]), c))]
        frame = frame.merge(wide, how="left", left_on="number", right_index=True)
    return frame


def export(store: Store, name: str, fmt: str, out: Path | None) -> str | None:
    """Write the table to `out` (or return it as text for stdout: csv and json only)."""
    frame = trials_frame(store, name)
    if fmt == "parquet" and out is None:
        raise NasError("--format parquet is binary: give --out FILE.parquet")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise NasError("--format parquet needs pyarrow: pip install 'nas[parquet]'") from None
    try:
        if fmt == "csv":
            text = frame.to_csv(out, index=False)
        elif fmt == "json":
            text = frame.to_json(out, orient="records", date_format="iso", indent=1)
        else:
            text = frame.to_parquet(out, index=False)
    except OSError as exc:
        raise NasError(f"cannot write {out}: {exc.strerror or exc}") from None
    return None if out is not None else text
