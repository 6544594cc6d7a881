"""SQL for tests and benches: one statement in its own transaction."""
from __future__ import annotations

import psycopg2


def query(url: str, sql: str, **params):
    """Rows if the statement returns any, else its row count."""
    import sqlalchemy as sa

    from nas.store.session import engine_for

    with engine_for(url).begin() as conn:
        result = conn.execute(sa.text(sql), params)
        return result.all() if result.returns_rows else result.rowcount


def admin(cluster, sql: str, dbname: str = "postgres") -> None:
    """Run `sql` as the superuser of a `trust` cluster (a ThrowawayCluster), autocommit."""
    conn = psycopg2.connect(host="127.0.0.1", port=cluster.port, user="nas_admin", dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def trial_states(url: str, study: str) -> dict[str, int]:
    """Trial counts per Optuna state for one study ({} before the tables exist)."""
    if query(url, "SELECT to_regclass('public.trials')") == [(None,)]:
        return {}
    rows = query(url, "SELECT t.state::text, count(*) FROM trials t JOIN studies s "
                      "USING (study_id) WHERE s.study_name = :n GROUP BY 1", n=study)
    return dict(rows)
