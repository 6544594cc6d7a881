"""What `nas status` shows: a snapshot of every study's progress and the live workers,
read from the database (so it works for workers on any machine), as text or JSON."""
from __future__ import annotations

import datetime as dt
import decimal

from nas import defaults
from nas.coordinator.ties import MIN_TRIALS, tie_line
from nas.errors import NasError
from nas.numbers import columns, duration, readable
from nas.store import Store


def _plain(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def snapshot(store: Store, name: str | None) -> dict:
    studies = store.progress(name)
    if name is not None and not studies:
        raise NasError(f"no study named {name!r} in this database")
    workers = store.live_workers(defaults.heartbeat_grace())
    running = store.running_trials(name)
    interrupted = store.interruptions(name)
    tied = store.tied_studies(name, MIN_TRIALS)
    for s in studies:
        s.update(interrupted.get(s["study"], {"preempted": 0, "resumed": 0}))
        s["tie"] = _tie(store, s["study"], tied.get(s["study"]))
    return {"studies": [{k: _plain(v) for k, v in s.items()} for s in studies],
            "running": [{k: _plain(v) for k, v in r.items()} for r in running],
            "workers": [{k: _plain(v) for k, v in w.items()} for w in workers]}


def _tie(store: Store, name: str, tie: tuple[int, float] | None) -> str | None:
    if tie is None:
        return None
    row = store.study(name)
    return None if row is None else tie_line(name, tie[0], tie[1], row.spec)


def render(snap: dict) -> str:
    rows = []
    for s in snap["studies"]:
        rate = "-" if s["trials_per_hour"] is None else f"{s['trials_per_hour']:.1f}"
        runs = f"objective {s['objective']}" if s["objective"] else f"{s['mode']}/{s['task']}"
        rows.append([s["study"] + (" (paused)" if s["paused"] else ""), runs, s["metric"],
                     f"{s['finished']}/{s['budget']}", s["running"], s["pruned"], s["failed"],
                     f"{s['generations_done']:,}/{s['generations_total']:,}", readable(s["best"]),
                     rate, duration(s["eta"])])
    lines = columns(["study", "runs", "metric", "trials", "run", "pruned", "failed", "generations",
                     "best", "trials/h", "eta"], rows, right=tuple(range(3, 11)))
    lines.append("(trials: finished of the budget; failed attempts that were retried are not "
                 "in it. eta: from the generation rate of the running trials)")
    for s in snap["studies"]:
        if s["preempted"] or s["resumed"]:
            lines.append(f"{s['study']}: {s['preempted']} attempt(s) preempted, {s['resumed']} "
                         "resumed from a checkpoint")
        if s["tie"]:
            lines.append(s["tie"])
    if snap["running"]:
        lines.append("")
        lines.append(f"running trials: {len(snap['running'])}")
    for r in snap["running"]:
        generation = "-" if r["generation"] < 0 else f"{r['generation'] + 1}/{r['generations']}"
        lines.append(f"  {r['study'][:20]:20} #{r['number']:<5} generation {generation:>9}  "
                     f"value so far {readable(r['value']):>10}  {duration(r['seconds'])} "
                     f"on {r['worker_host']}:{r['worker_pid']}")
    lines.append("")
    lines.append(f"workers: {len(snap['workers'])}")
    if any(w["state"] == "compiling" for w in snap["workers"]):
        from nas.evolution.kernels.warm import COMPILING  # (only then: it imports torch)

        lines.append(f"  {COMPILING} (workers marked compiling start their trials after it)")
    for w in snap["workers"]:
        mark = "  STALE" if w["stale"] else ""
        doing = f"{w['study']} #{w['trial']}" if w["study"] else ""
        lines.append(f"  {w['host']}:{w['pid']:<7} threads={w['threads']} {w['state']:<8} "
                     f"seen {w['seen_seconds_ago']:.0f}s ago  {doing}{mark}")
    return "\n".join(lines)
