"""What pgbouncer buys: W paced workers straight to PostgreSQL, then the same W through
pgbouncer in transaction mode, in one run on one server.

Each run is a study of W x --per-worker trials whose objective sleeps --trial-seconds
(no core used, as in bench/coordination.py's paced part), paused until all W workers
have registered. Measured: the server connections PostgreSQL holds for the database
(peak of pg_stat_activity) and, through the pooler, the client connections pgbouncer
holds (peak of SHOW CLIENTS); trials/s from the database's timestamps; the per-trial
time each worker spends outside the objective (claim, ask, tell, settle, heartbeats)
from the workers' summary lines, median and p99 over workers; and how often a worker
logged the database as unavailable (a pool that deadlocked or ran dry would show here).
pgbouncer is Debian's binary with nas's shipped settings (deploy/pgbouncer/pgbouncer.ini:
default_pool_size 20 + reserve 5), scram between workers and pgbouncer as in compose.
Run: python bench/pooler.py [--workers 64] [--trial-seconds 6] [--per-worker 5]
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from _support import ROOT, nas_env, parse_args, throwaway_postgres

from tests.pgbouncer_server import Bouncer, shipped

SLEEPING = "tests.fixtures.objectives:sleeping"
USER, PASSWORD = "nas_admin", "bench-only"  # the bench's server trusts nas_admin on loopback
MONITOR = "nas-bench"  # application_name of this process's own connection: not counted


class Monitor:
    """This process's one connection to the database (direct), for every poll."""

    def __init__(self, direct_url: str):
        from sqlalchemy.engine import make_url

        url = make_url(direct_url)
        self.conn = psycopg2.connect(host=url.host, port=url.port, user=url.username,
                                     dbname=url.database, application_name=MONITOR)
        self.conn.autocommit = True

    def one(self, sql: str, *params):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def server_connections(self) -> int:
        return self.one("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND backend_type = 'client backend' AND application_name <> %s", MONITOR)[0]


def nas(url: str, *args: str, **env: str) -> None:
    subprocess.run([sys.executable, "-m", "nas", *args], env=nas_env(url, **env), cwd=ROOT,
                   check=True, capture_output=True)


def run(path: str, direct: str, worker_url: str, monitor: Monitor, bouncer: Bouncer | None,
        args: argparse.Namespace, logdir: Path, secret: Path) -> dict:
    name, budget = f"pooler-{path}", args.workers * args.per_worker
    nas(direct, "study", "create", name, "--objective", SLEEPING, "-n", str(budget),
        "--sampler", "random", "--pruner", "none")
    nas(direct, "study", "pause", name)
    env = nas_env(worker_url, NAS_SERVE_POLL="0.2", NAS_THREADS="1",
                  NAS_BENCH_TRIAL_SECONDS=str(args.trial_seconds),
                  NAS_DATABASE_PASSWORD_FILE=str(secret))
    logs = [logdir / f"{name}-{i}.log" for i in range(args.workers)]
    procs = []
    for log in logs:
        with open(log, "wb") as sink:
            procs.append(subprocess.Popen([sys.executable, "-m", "nas", "worker", "--study", name,
                                           "--serve", "--threads", "1"], env=env, cwd=ROOT,
                                          stdout=sink, stderr=subprocess.STDOUT))
    try:
        wait_registered(monitor, procs, logs, args.workers)
        nas(direct, "study", "resume", name)
        servers = clients = 0
        while monitor.one("SELECT finished FROM nas.progress WHERE study = %s", name)[0] < budget:
            alive(procs, logs)
            servers = max(servers, monitor.server_connections())
            if bouncer is not None:
                clients = max(clients, sum(1 for c in bouncer.console(USER, "SHOW CLIENTS")
                                           if c["database"] == "nas"))
            time.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    monitor.one("UPDATE nas.workers SET state = 'stopped' RETURNING 1")
    first, last, n = monitor.one("SELECT min(started), max(finished), count(*) FROM nas.trials "
                                 "WHERE study = %s AND state = 'COMPLETE'", name)
    medians, p99s, unavailable = [], [], 0
    for log in logs:
        text = log.read_text()
        unavailable += text.count("database unavailable")
        m = re.search(r"bookkeeping_ms median=([\d.]+) p99=([\d.]+)", text)
        if m:
            medians.append(float(m.group(1)))
            p99s.append(float(m.group(2)))
    return {"path": path, "workers": args.workers, "servers": servers,
            "clients": clients if bouncer is not None else None, "trials": n,
            "per_s": n / (last - first).total_seconds(), "median_ms": statistics.median(medians),
            "p99_ms": max(p99s), "unavailable": unavailable}


def wait_registered(monitor: Monitor, procs, logs, workers: int) -> None:
    deadline = time.monotonic() + 60 + 5 * workers
    while monitor.one("SELECT count(*) FROM nas.workers "
                      "WHERE state NOT IN ('stopping', 'stopped')")[0] < workers:
        alive(procs, logs)
        if time.monotonic() > deadline:
            raise SystemExit(f"pooler: {workers} workers did not all register in nas.workers")
        time.sleep(0.5)


def alive(procs, logs) -> None:
    """A `--serve` worker only exits on a failure: stop the bench, loudly, if one did."""
    for p, log in zip(procs, logs):
        if p.poll() is not None:
            tail = log.read_text().strip().splitlines()[-1:]
            raise SystemExit(f"pooler: worker {log.stem} exited {p.returncode}: {tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--per-worker", type=int, default=5)
    parser.add_argument("--trial-seconds", type=float, default=6.0)
    args = parse_args(parser, smoke={"workers": 2, "per_worker": 2, "trial_seconds": 0.5})
    if shutil.which("pgbouncer") is None:
        raise SystemExit("bench/pooler.py needs pgbouncer on PATH (Debian: apt-get install pgbouncer)")
    logdir = Path(__file__).resolve().parent / "out"
    logdir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nas-bench-pooler-", dir="/tmp"))
    work.chmod(0o755)  # pgbouncer may run as `postgres` (it refuses root)
    secret = work / "db_password"
    secret.write_text(PASSWORD)
    with throwaway_postgres() as direct:
        nas(direct, "db", "upgrade", "--storage", direct)
        from sqlalchemy.engine import make_url

        bouncer = Bouncer(work / "pgbouncer", make_url(direct).port, {USER: PASSWORD},
                          overrides={"stats_users": USER}).start()
        monitor = Monitor(direct)
        try:
            rows = [run("direct", direct, direct, monitor, None, args, logdir, secret),
                    run("pgbouncer", direct, bouncer.url(USER, "nas"), monitor, bouncer, args,
                        logdir, secret)]
        finally:
            monitor.conn.close()
            bouncer.stop()
    shutil.rmtree(work, ignore_errors=True)
    report(rows, args)


def report(rows: list[dict], args: argparse.Namespace) -> None:
    settings = shipped()[1]
    print(f"pooler: {args.workers} workers, trials sleep {args.trial_seconds:g} s "
          f"(offered {args.workers / args.trial_seconds:.1f} trials/s); pgbouncer transaction "
          f"pooling, default_pool_size {settings['default_pool_size']} + reserve "
          f"{settings['reserve_pool_size']}")
    print(f"{'path':>10} {'workers':>8} {'server conns':>13} {'client conns':>13} {'trials':>7} "
          f"{'trials/s':>9} {'bookkeeping median ms':>22} {'p99 ms':>8} {'db retries':>11}")
    for r in rows:
        clients = "-" if r["clients"] is None else str(r["clients"])
        print(f"{r['path']:>10} {r['workers']:>8} {r['servers']:>13} {clients:>13} {r['trials']:>7} "
              f"{r['per_s']:>9.2f} {r['median_ms']:>22.1f} {r['p99_ms']:>8.1f} {r['unavailable']:>11}")
    direct, pooled = rows
    print(f"pgbouncer / direct: server connections = {pooled['servers'] / direct['servers']:.2f}, "
          f"trials/s = {pooled['per_s'] / direct['per_s']:.2f}, bookkeeping median = "
          f"{pooled['median_ms'] / direct['median_ms']:.2f}, p99 = {pooled['p99_ms'] / direct['p99_ms']:.2f}")


if __name__ == "__main__":
    main()
