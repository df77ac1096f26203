#!/usr/bin/env bash
# Validate the Compose file with Debian's docker-compose v1 (`config -q`).
#
#   scripts/validate-compose.sh                  # checks ./docker-compose.yml
#   scripts/validate-compose.sh -f other.yml     # any docker-compose options
#
# Needs no Docker daemon. HOCSO_SECRET_KEY is required by the Compose file, so a
# dummy value is supplied when the caller has none. Exit 0 when valid.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v docker-compose >/dev/null 2>&1; then
    if [ "${EUID:-$(id -u)}" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "validate-compose: installing docker-compose (Debian package)..." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1 || true
        if ! apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 \
            || ! command -v docker-compose >/dev/null 2>&1; then
            echo "validate-compose: could not install docker-compose with apt-get" >&2
            exit 1
        fi
    else
        echo "validate-compose: docker-compose not found; install it (Debian: apt-get install docker-compose) and re-run" >&2
        exit 1
    fi
fi

export HOCSO_SECRET_KEY="${HOCSO_SECRET_KEY:-validate-compose-dummy-secret-key-0123456789}"

if [ "$#" -eq 0 ]; then
    set -- -f "$repo_root/docker-compose.yml"
fi

if docker-compose "$@" config -q; then
    echo "validate-compose: OK"
else
    status=$?
    echo "validate-compose: INVALID (docker-compose config exited $status)" >&2
    exit "$status"
fi
