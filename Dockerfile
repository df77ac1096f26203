# HọcSố application image.
#
#   docker build -t hocso .
#   docker run --rm -p 8000:8000 -e HOCSO_SECRET_KEY=... hocso
#
# The default command applies migrations (`hocso migrate`, retried while the
# database comes up) and then runs `hocso serve` on 0.0.0.0:8000. Any other
# command replaces it, e.g. `docker run --rm hocso hocso demo`.
#
# The source tree is installed *editable* in /srv/hocso because the app finds
# migrations/, templates/ and static/ relative to the package's parent folder.
# Only the legacy builder features are used (no heredocs, no cache mounts), so
# both `docker build` and Debian's docker-compose v1 can build it.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOCSO_DATA_DIR=/var/lib/hocso \
    HOCSO_WORKERS=2

# Unprivileged runtime user; the only place it may write is the data directory.
RUN groupadd --system --gid 10001 hocso \
 && useradd --system --uid 10001 --gid hocso --create-home --home-dir /home/hocso \
        --shell /usr/sbin/nologin hocso \
 && install -d -o hocso -g hocso -m 0750 /var/lib/hocso

WORKDIR /srv/hocso

# 1) Dependencies only, in their own layer: rebuilt when pyproject.toml changes,
#    not on every source edit. A stub package stands in for app/ here.
COPY pyproject.toml README.md ./
RUN mkdir app \
 && touch app/__init__.py \
 && pip install -e . \
 && rm -rf app ./*.egg-info build

# 2) The source tree (see .dockerignore), owned by root and read-only to the app.
COPY . .
RUN pip install --no-deps -e . \
 && hocso --help > /dev/null

# Shell entrypoint: migrate (retrying while PostgreSQL starts), then exec the
# server so it receives signals directly. HOCSO_MIGRATE_ON_START=0 skips the
# migration, for extra replicas when a single one (or an operator) migrates.
# hadolint ignore=SC2016
RUN printf '%s\n' \
      '#!/bin/sh' \
      'set -eu' \
      'if [ "${HOCSO_MIGRATE_ON_START:-1}" = "1" ]; then' \
      '  attempt=1' \
      '  until hocso migrate; do' \
      '    if [ "$attempt" -ge "${HOCSO_MIGRATE_ATTEMPTS:-30}" ]; then' \
      '      echo "hocso-start: hocso migrate failed $attempt times, giving up" >&2' \
      '      exit 1' \
      '    fi' \
      '    echo "hocso-start: hocso migrate failed (attempt $attempt), retrying in 2s" >&2' \
      '    attempt=$((attempt + 1))' \
      '    sleep 2' \
      '  done' \
      'fi' \
      'exec hocso serve --host 0.0.0.0 --port 8000 --workers "${HOCSO_WORKERS:-2}"' \
      > /usr/local/bin/hocso-start \
 && chmod 0755 /usr/local/bin/hocso-start

USER 10001:10001
EXPOSE 8000

# /healthz answers 200 only when the database and the storage both answer;
# urlopen raises on 503 or no answer, so python exits non-zero (unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["hocso-start"]
