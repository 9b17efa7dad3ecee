#!/usr/bin/env bash
# System packages the full test suite uses, from Debian: the PostgreSQL server (its backend test
# starts a throw-away cluster on 127.0.0.1). Needs root; without them those tests are skipped.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-test-services: not root or no apt-get; PostgreSQL tests will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
    || echo "install-test-services: PostgreSQL could not be installed; its tests will be skipped" >&2
