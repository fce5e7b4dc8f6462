#!/usr/bin/env bash
# Sets up and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
scripts/install_chromium.sh  # for tests/test_tensorboard.py's browser test
exec .venv/bin/python -m pytest -q --durations=15 tests "$@"
