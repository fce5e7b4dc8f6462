#!/usr/bin/env bash
# The main job: set up, train skip-gram on the default corpus, show nearest neighbours.
# CORPUS=path[,path] trains on local files instead of downloading text8.
# MODEL_DIR (default runs/main) and extra sg-keras train flags may be given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
MODEL_DIR=${MODEL_DIR:-runs/main}
.venv/bin/sg-keras train ${CORPUS:+--corpus="$CORPUS"} --tokenizer=whitespace \
  --model_dir="$MODEL_DIR" "$@"
.venv/bin/sg-keras similar --model_dir="$MODEL_DIR" king france computer seven
