"""A supervisord event listener that shuts supervisord down once every worker is done.

A worker that exits 0 has spent the budget and stays down (`autorestart=unexpected`), so
without this supervisord would sit there supervising nothing, and `nas workers down`
would find "no workers" under a live daemon. Crashed workers are restarted by supervisord
before they count as done; a worker that keeps crashing ends FATAL, which is done too
(the log says why). With `--serve` workers never exit 0, so this never fires.

Speaks supervisor's listener protocol through `supervisor.childutils`; supervisord's RPC
interface is reached through the environment supervisord gives its children.
"""
from __future__ import annotations

import os
import sys

from nas.coordinator.fleets.supervisor import GROUP

DONE = {"EXITED", "FATAL", "STOPPED"}


def all_done(rpc) -> bool:
    workers = [p for p in rpc.supervisor.getAllProcessInfo() if p["group"] == GROUP]
    return bool(workers) and all(p["statename"] in DONE for p in workers)


def main() -> None:
    from supervisor import childutils

    rpc = childutils.getRPCInterface(os.environ)
    while True:
        headers, _payload = childutils.listener.wait(sys.stdin, sys.stdout)
        done = headers["eventname"] in ("PROCESS_STATE_EXITED", "PROCESS_STATE_FATAL") and all_done(rpc)
        childutils.listener.ok(sys.stdout)
        if done:
            print("every worker is done: shutting supervisord down", file=sys.stderr, flush=True)
            rpc.supervisor.shutdown()
            return


if __name__ == "__main__":
    main()
