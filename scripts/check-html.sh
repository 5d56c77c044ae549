#!/usr/bin/env bash
# Renders the report.html of a shipped scenario's run, and of a comparison
# of it with static batching, in headless Chromium and fails on any console
# error or uncaught exception, or on a screenshot that is missing or blank. The detector is first shown a page that throws, so a
# change in Chromium's log format cannot make the check pass silently.
#
#   bash scripts/check-html.sh [SCENARIO] [SCREENSHOT.png]
#
# SCREENSHOT.png is the run's page; the comparison's lands beside it as
# SCREENSHOT-compare.png.
#
# Needs the release binary (cargo build --release) and Debian's chromium
# (.ci/run installs it). SERVESIM names another binary.
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-scenarios/llama70b-h100-continuous.toml}
servesim=${SERVESIM:-target/release/servesim}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "check-html: no chromium on PATH (apt-get install chromium)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shot=${2:-$work/report.png}

# render PAGE PNG LOG: one headless load with a screenshot, logs to LOG.
render() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d -p "$work")" --enable-logging=stderr --v=0 \
    --screenshot="$2" --window-size=1280,2000 "file://$1" >"$3" 2>&1
}

# Console errors, uncaught exceptions and failed loads, as Chromium logs them.
problems() {
  grep -E ':CONSOLE[:(][0-9]+|Uncaught|net::ERR_' "$1" || true
}

cat >"$work/throws.html" <<'HTML'
<!DOCTYPE html><html><body><p>detector check</p>
<script>console.error("check-html detector"); throw new Error("check-html uncaught");</script>
</body></html>
HTML
render "$work/throws.html" "$work/throws.png" "$work/throws.log" || true
if [ -z "$(problems "$work/throws.log")" ]; then
  echo "check-html: chromium logged nothing for a page that throws; cannot detect console errors:" >&2
  cat "$work/throws.log" >&2
  exit 1
fi

# check PAGE PNG: renders one report.html and fails on anything it logs.
check() {
  if ! render "$1" "$2" "$work/page.log"; then
    echo "check-html: chromium failed on $1:" >&2
    cat "$work/page.log" >&2
    exit 1
  fi
  found=$(problems "$work/page.log")
  if [ -n "$found" ]; then
    echo "check-html: $1 logged console errors:" >&2
    echo "$found" >&2
    exit 1
  fi
}

"$servesim" run "$scenario" --out "$work/report" --quiet
check "$work/report/report.html" "$shot"
"$servesim" compare "$scenario" --variant static:batching.policy=static,batching.max_wait=50ms \
  --out "$work/compare" --quiet
check "$work/compare/report.html" "${shot%.png}-compare.png"

# Real screenshots: 1280x2000 PNGs, large enough to hold text and plots.
python3 - "$scenario" "$shot" "${shot%.png}-compare.png" <<'PY'
import struct, sys
for shot in sys.argv[2:]:
    data = open(shot, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"check-html: {shot} is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    if (width, height) != (1280, 2000) or len(data) < 50_000:
        sys.exit(f"check-html: screenshot {width}x{height}, {len(data)} bytes: expected 1280x2000 and a rendered page")
    print(f"check-html: {shot} of {sys.argv[1]}: no console errors; {width}x{height}, {len(data)} bytes")
PY
