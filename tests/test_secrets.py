"""Secrets stay secret: every printed password is masked, logs are private."""
import stat
from pathlib import Path

import pytest

from nas.store.url import mask, mask_text
from nas.testing import SMALL, nas


@pytest.mark.parametrize("text, hidden", [
    ("postgresql://u:top secret@h/db", "top secret"),
    ("error at postgresql+psycopg2://nas:a b c@127.0.0.1:5432/x: refused", "a b c"),
    ("postgresql://u:p%2Fq@h/d and postgresql://v:w@h/e", "p%2Fq"),
    ("postgresql://u:s3cret@h:1/d", "s3cret"),
])
def test_any_password_is_masked_in_free_text(text, hidden):
    masked = mask_text(text)
    assert hidden not in masked and "***" in masked


def test_text_without_a_password_is_left_alone():
    text = "postgresql://h:5432/db is down; mail root@example.org"
    assert mask_text(text) == text
    assert mask("postgresql+psycopg2://u:pw@h/d") == "postgresql://u:***@h/d"


def test_worker_logs_are_private(nas_env, db_url):
    nas("search", "private", *SMALL, "-n", "1", "-j", "1", env=nas_env, check=True)
    logs = Path(nas_env["NAS_HOME"]) / "logs"
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    files = list(logs.rglob("*.log"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert all(stat.S_IMODE(d.stat().st_mode) == 0o700 for d in logs.iterdir() if d.is_dir())


def test_db_psql_keeps_the_password_out_of_its_command_line(nas_env, pg):
    from nas.testing import PASSWORD, PASSWORD_USER, start_nas, wait_until

    env = {**nas_env, "NAS_DATABASE_URL":
           f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{pg.port}/postgres"}
    proc = start_nas("db", "psql", "-c", "SELECT pg_sleep(3)", env=env)
    try:
        def psql_argv():
            argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
            return argv if argv[0].endswith(b"psql") else None

        argv = wait_until(psql_argv, 30, interval=0.02, what="nas exec'ing psql")
        assert PASSWORD.encode() not in b" ".join(argv)
        assert proc.wait(timeout=30) == 0  # the password reached psql another way
    finally:
        proc.kill()
