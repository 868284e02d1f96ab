#!/usr/bin/env bash
# Render an HTML report to a PNG with headless Chromium, fully offline (no network, no
# profile reuse). Usage: scripts/screenshot_report.sh <report.html> <out.png> [WIDTHxHEIGHT]
# Needs `chromium` (Debian: apt-get install -y chromium).
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: $0 <report.html> <out.png> [WIDTHxHEIGHT, default 1400x3000]" >&2
    exit 2
fi
report="$(realpath "$1")"
out="$(realpath -m "$2")"
size="${3:-1400x3000}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    echo "chromium not found; install it (Debian: apt-get install -y chromium)" >&2
    exit 1
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --screenshot="$out" \
    --window-size="${size/x/,}" "file://$report" >/dev/null 2>&1
test -s "$out"
