#!/usr/bin/env bash
# Installs what the benchmarks need beyond the Python environment: wrk, from Debian's packages.
set -euo pipefail
if ! command -v wrk >/dev/null 2>&1; then
    apt-get update
    apt-get install -y wrk
fi
wrk --version 2>&1 | head -n 1 || true
