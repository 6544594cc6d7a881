#!/bin/sh
# Minimal stand-in for the official postgres image's entrypoint (see Dockerfile).
# First start on an empty $PGDATA: initdb with POSTGRES_USER as superuser and the
# password from POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD), create POSTGRES_DB in
# single-user mode (no temporary server, so pg_isready cannot report a half-initialised
# database as ready), accept password logins over TCP. Then exec the server as the
# postgres user, so it is PID 1 and gets the container's stop signal.
set -eu

if [ "${1:-}" = "postgres" ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = "postgres" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        password="$(cat "$POSTGRES_PASSWORD_FILE")"
    else
        password="${POSTGRES_PASSWORD:-}"
    fi
    if [ -z "$password" ]; then
        echo "docker-entrypoint: set POSTGRES_PASSWORD_FILE or POSTGRES_PASSWORD" >&2
        exit 1
    fi
    pwfile="$(mktemp)"
    printf '%s\n' "$password" > "$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        quoted="$(printf '%s' "$db" | sed 's/"/""/g')"
        echo "CREATE DATABASE \"$quoted\"" | postgres --single -D "$PGDATA" template1 >/dev/null
    fi
    echo "docker-entrypoint: initialised $PGDATA (user $user, database $db)"
fi

exec "$@"
