#!/usr/bin/env bash
# The quick benchmark: small_business fitted by PyMC-Marketing (nutpie) and Meridian,
# 2 chains x 500 tune x 500 draws, report at data/results/summary/report.html.
# Extra arguments go to run_benchmark.py (e.g. --output-dir, --force-rerun).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_venv.sh
exec .venv/bin/python run_benchmark.py --datasets small_business --libraries pymc meridian \
  --samplers nutpie --chains 2 --tune 500 --draws 500 "$@"
