#!/usr/bin/env bash
# Provisioning for the container tests (tests/test_docker.py, `make test-docker`): what
# the private engine cannot pull on a machine with no registry reachable. The engine, the
# build, the stack and every check live in the tests; this script only makes artefacts,
# cached under $NAS_DOCKER_TEST_CACHE (default /var/cache/nas-docker-test):
#
#   provision.sh base-image   a stand-in for python:3.11-slim-bookworm (debootstrap +
#                             `docker import` into the engine at $DOCKER_HOST); prints its tag
#   provision.sh wheelhouse   the CPU torch wheel and its dependencies as a PEP 503 index
#                             (simple/<project>/<file>); prints the directory to serve
#   provision.sh --purge      remove the cache
#
# Knobs (environment): NAS_DOCKER_TEST_CACHE, NAS_DOCKER_TEST_MIRROR
# (http://deb.debian.org/debian), NAS_TORCH_WHEELS (a directory holding
# torch-<version>+cpu-cp311-*.whl; /opt/wheels), NAS_PYTHON (the Python whose pip downloads
# the wheelhouse; $REPO/.venv/bin/python). Logs go to $CACHE/logs; stdout carries
# only the answer.
set -euo pipefail
export LC_ALL=C

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${NAS_DOCKER_TEST_CACHE:-/var/cache/nas-docker-test}"
LOG_DIR="$CACHE/logs"
MIRROR="${NAS_DOCKER_TEST_MIRROR:-http://deb.debian.org/debian}"
TORCH_WHEELS="${NAS_TORCH_WHEELS:-/opt/wheels}"
PYTHON="${NAS_PYTHON:-$REPO/.venv/bin/python}"   # the test passes its own (a worktree has no .venv)
PY_TAG=cp311   # the image's Python: Debian bookworm's 3.11, as in python:3.11-slim-bookworm
TORCH_VERSION="$(sed -n 's/^ARG TORCH_VERSION=//p' "$REPO/Dockerfile")"   # never drifts
BASE_PACKAGES="python3,python3-pip,python3-venv,python-is-python3,ca-certificates"
BASE_RECIPE=1  # bump to force a new base image when the recipe below changes

log() { printf '[provision %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[provision] FAIL: %s\n' "$*" >&2; exit 1; }

# rm -rf that never follows a mount out of the tree (a debootstrap that failed midway
# can leave the host's /proc, /sys or /dev mounted in its target).
remove_tree() {
    [ -e "$1" ] || return 0
    awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r \
        | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
    rm -rf --one-file-system "$1"
}

base_image() {
    [ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST must name the engine to import into"
    local key tag tarball rootfs
    key="$({ echo "bookworm minbase $BASE_PACKAGES recipe=$BASE_RECIPE"
             cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true; } | sha256sum | cut -c1-12)"
    tag="nas-test-base:bookworm-$key"
    tarball="$CACHE/base-bookworm-$key.tar"
    if ! docker image inspect "$tag" > /dev/null 2>&1; then
        if [ ! -s "$tarball" ]; then
            rootfs="$CACHE/rootfs.tmp"
            remove_tree "$rootfs"
            log "debootstrap bookworm (minbase + $BASE_PACKAGES) from $MIRROR"
            debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$MIRROR" \
                > "$LOG_DIR/debootstrap.log" 2>&1 \
                || { tail -n 20 "$LOG_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
            # As the official image: pip installs into the system Python (no PEP 668 marker),
            # and the host's extra CAs (a TLS-inspecting proxy) are trusted inside the build.
            rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
            if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
                cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
                chroot "$rootfs" update-ca-certificates > "$LOG_DIR/update-ca-certificates.log" 2>&1
            fi
            rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
                "$rootfs"/var/lib/apt/lists/* "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
            tar -C "$rootfs" --numeric-owner -cf "$tarball.part" .
            mv "$tarball.part" "$tarball"
            remove_tree "$rootfs"
            find "$CACHE" -maxdepth 1 -name 'base-bookworm-*.tar*' ! -name "${tarball##*/}" -delete
        fi
        docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' "$tarball" "$tag" > /dev/null
        docker images --format '{{.Repository}}:{{.Tag}}' nas-test-base | grep -vx "$tag" \
            | xargs -r docker rmi > /dev/null 2>&1 || true
        log "base image $tag imported"
    fi
    echo "$tag"
}

# The Dockerfile installs torch with `pip install --index-url $TORCH_INDEX_URL`; pip from
# public PyPI would fetch a multi-GB CUDA build, so the CPU wheel is pinned (+cpu: pip
# takes it or fails) and laid out as an index the tests serve on loopback.
wheelhouse() {
    [ -n "$TORCH_VERSION" ] || die "no 'ARG TORCH_VERSION=' default in $REPO/Dockerfile"
    local house="$CACHE/wheelhouse-torch-$TORCH_VERSION-$PY_TAG" dl="$CACHE/wheels.tmp" extra f name
    if [ ! -f "$house/.complete" ]; then
        rm -rf "$dl" "$house"
        mkdir -p "$dl"
        if compgen -G "$TORCH_WHEELS/torch-$TORCH_VERSION+cpu-$PY_TAG-$PY_TAG-*.whl" > /dev/null; then
            extra=(--find-links "$TORCH_WHEELS")
        else
            log "no torch-$TORCH_VERSION+cpu wheel in $TORCH_WHEELS: fetching it from the PyTorch CPU index"
            extra=(--extra-index-url https://download.pytorch.org/whl/cpu)
        fi
        "$PYTHON" -m pip download -q --only-binary :all: --python-version 3.11 "${extra[@]}" -d "$dl" \
            "torch==$TORCH_VERSION+cpu" > "$LOG_DIR/wheelhouse.log" 2>&1 \
            || { tail -n 20 "$LOG_DIR/wheelhouse.log" >&2; die "pip download torch==$TORCH_VERSION+cpu failed"; }
        for f in "$dl"/*.whl; do
            name="$(basename "$f" | cut -d- -f1 | tr 'A-Z_.' 'a-z--')"   # PEP 503 normalised
            mkdir -p "$house/simple/$name"
            mv "$f" "$house/simple/$name/"
        done
        rm -rf "$dl"
        touch "$house/.complete"
        log "torch wheelhouse: $(cd "$house/simple" && echo *)"
    fi
    echo "$house/simple"
}

mkdir -p "$CACHE" "$LOG_DIR"
case "${1:-}" in
    base-image) base_image ;;
    wheelhouse) wheelhouse ;;
    --purge)
        exec 9> "$CACHE/lock"   # held by a test run while it uses the cache
        flock -n 9 || die "a test run holds $CACHE/lock"
        ! awk -v p="$CACHE/" 'index($2, p) == 1 { f = 1 } END { exit !f }' /proc/self/mounts \
            || die "something is mounted under $CACHE"
        remove_tree "$CACHE"
        log "removed $CACHE" ;;
    *) die "usage: $0 base-image|wheelhouse|--purge" ;;
esac
