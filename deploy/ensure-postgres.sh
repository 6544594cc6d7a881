#!/usr/bin/env bash
# Make sure PostgreSQL server binaries exist (nas runs its embedded and test clusters
# with them). Installs them with apt when we are root on Debian/Ubuntu; otherwise
# stops with a one-line instruction.
set -euo pipefail

have_server() {
    command -v postgres >/dev/null 2>&1 && return 0
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/postgres" ]; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}

have_server && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL server binaries with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    have_server && exit 0
fi
echo "error: PostgreSQL server binaries not found: install them (e.g. 'sudo apt-get install postgresql') or set NAS_DATABASE_URL" >&2
exit 1
