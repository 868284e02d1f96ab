#!/usr/bin/env bash
# Run the whole test suite in the repo's .venv (created/updated first). Extra arguments
# go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PYTHONHASHSEED=0 MPLBACKEND=Agg
exec .venv/bin/python -m pytest -q "$@"
