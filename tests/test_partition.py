"""A network partition of one worker, with the project's own test hosts in network
namespaces: its trial is failed by heartbeat and retried elsewhere, and when the link
heals its late result is dropped cleanly.

SAFETY: the test subnet is made unreachable in the main namespace before anything else,
the only route into it is the veth link this test creates, and `ip route get` is checked
on both sides before any packet is sent. Nothing leaves this machine.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from nas.testing import ROOT, ThrowawayCluster, nas, query, traversable, wait_until

SUBNET = "10.213.77.0/24"
DB_ADDR, WORKER_ADDR = "10.213.77.1", "10.213.77.2"


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    cmd = ["ip", "netns", "exec", ns, "ip", *args] if ns else ["ip", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {out.stderr.strip()}")
    return out.stdout


@pytest.fixture
def test_hosts():
    if os.geteuid() != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode:
        pytest.skip("network namespaces need root and iproute2")
    ns, main_if, ns_if = f"nas{secrets.token_hex(3)}", f"vn{secrets.token_hex(3)}", "eth-nas"
    if f"unreachable {SUBNET}" not in ip("route", "show", "type", "unreachable"):
        ip("route", "add", "unreachable", SUBNET)
    try:
        ip("netns", "add", ns)
    except RuntimeError as exc:
        pytest.skip(f"cannot create a network namespace here: {exc}")
    try:
        ip("link", "add", main_if, "type", "veth", "peer", "name", ns_if)
        ip("link", "set", ns_if, "netns", ns)
        ip("addr", "add", f"{DB_ADDR}/30", "dev", main_if)
        ip("link", "set", main_if, "up")
        ip("addr", "add", f"{WORKER_ADDR}/30", "dev", ns_if, ns=ns)
        ip("link", "set", ns_if, "up", ns=ns)
        ip("link", "set", "lo", "up", ns=ns)
        assert f"dev {ns_if}" in ip("route", "get", DB_ADDR, ns=ns)
        assert f"dev {main_if}" in ip("route", "get", WORKER_ADDR)
        assert "unreachable" in ip("route", "get", "10.213.77.200", check=False) or \
            ip("route", "get", "10.213.77.200", check=False) == ""
        yield ns, main_if
    finally:
        ip("link", "del", main_if, check=False)
        ip("netns", "del", ns, check=False)


def test_partitioned_worker_is_failed_by_heartbeat_and_its_late_tell_dropped(test_hosts, tmp_path):
    ns, main_if = test_hosts
    cluster = ThrowawayCluster(traversable(tmp_path) / "data", settings={"fsync": "off"},
                      hba_extra=[f"host all all {DB_ADDR}/30 trust"])
    cluster.init()
    cluster.settings["listen_addresses"] = f"127.0.0.1,{DB_ADDR}"
    cluster.start()
    try:
        local = cluster.url.replace("postgresql://", "postgresql+psycopg2://")
        remote = local.replace("127.0.0.1", DB_ADDR)
        base = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
        base.update({"NAS_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1",
                     "NAS_HEARTBEAT_INTERVAL": "1", "NAS_HEARTBEAT_GRACE": "4",
                     "NAS_DB_RETRY_SECONDS": "300"})
        nas("study", "create", "part", "--objective", "tests.fixtures.objectives:evolve_paced",
            "-t", "cartpole", "-n", "3", "-g", "30", "-p", "100", "-s", "1", "--sampler", "random", "--pruner", "none",
            env={**base, "NAS_DATABASE_URL": local}, check=True)
        far_log = tmp_path / "far.log"
        with open(far_log, "wb") as log:
            far = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "nas", "worker",
                                    "--study", "part", "--threads", "1", "--max-trials", "1"],
                                   env={**base, "NAS_DATABASE_URL": remote,
                                        # its trial must outlast the partition
                                        "NAS_TEST_GENERATION_SECONDS": "1"}, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
        trial_id = wait_until(lambda: query(local, "SELECT current_trial_id FROM nas.workers "
                                                   "WHERE current_trial_id IS NOT NULL")[:1], 300,
                              what="the far worker running a trial")[0][0]
        ip("link", "set", main_if, "down")  # the partition
        with open(tmp_path / "near.log", "wb") as log:
            near = subprocess.Popen([sys.executable, "-m", "nas", "worker", "--study", "part",
                                     "--threads", "1"], env={**base, "NAS_DATABASE_URL": local},
                                    cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        # A worker checks heartbeats before each claim, so the near worker fails the far
        # trial when it is next free: after the trials it runs meanwhile, which on a loaded
        # 2-core machine take minutes (CI once took more than 120 s).
        wait_until(lambda: query(local, "SELECT state::text FROM trials WHERE trial_id = :t",
                                 t=trial_id) == [("FAIL",)], 600, what="heartbeat failing the trial")
        retry = wait_until(lambda: query(local, "SELECT number, state FROM nas.trials WHERE retry_of = "
                                                "(SELECT number FROM trials WHERE trial_id = :t)", t=trial_id),
                           300, what="a retry of the partitioned trial")
        assert retry
        ip("link", "set", main_if, "up")  # the link heals
        assert near.wait(timeout=600) == 0
        assert far.wait(timeout=600) == 0, far_log.read_text()[-2000:]
        text = far_log.read_text()
        assert "late result" in text or "database lost during a trial" in text, text[-2000:]
        assert query(local, "SELECT state::text FROM trials WHERE trial_id = :t", t=trial_id) == [("FAIL",)]
        counted = query(local, "SELECT count(*) FROM nas.claims WHERE state = 'done'")[0][0]
        assert counted == 3
        assert query(local, "SELECT count(*) FROM trials WHERE state = 'COMPLETE'") == [(3,)]
        assert query(local, "SELECT count(*) FROM trials WHERE state IN ('RUNNING', 'WAITING')") == [(0,)]
    finally:
        cluster.crash()
