#!/usr/bin/env bash
# Create or update .venv at the repo root with the pinned stack. Idempotent: it does
# nothing when pyproject.toml, constraints.txt and this script are unchanged since the
# last successful run (the stamp file .venv/.setup-stamp holds their hash).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
stamp_of_inputs() { cat pyproject.toml constraints.txt scripts/setup_venv.sh | sha256sum | cut -c1-16; }
want="$(stamp_of_inputs)"

if [ -f .venv/.setup-stamp ] && [ "$(cat .venv/.setup-stamp)" = "$want" ]; then
  exit 0
fi

echo "setting up .venv (pinned stack, about 3.5 GB; a few minutes the first time)..." >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev,ray]"
# nutpie 0.16.8 declares arviz>=0.20, which clashes on paper with Meridian's arviz<0.20
# pin yet runs correctly with arviz 0.19: install what it needs, then nutpie itself
# without deps (last, so no later resolver run reports the paper conflict).
.venv/bin/python -m pip install --quiet -c constraints.txt arro3-core obstore zarr
.venv/bin/python -m pip install --quiet --no-deps nutpie==0.16.8
echo "$want" > .venv/.setup-stamp
echo ".venv ready" >&2
