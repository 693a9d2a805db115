#!/usr/bin/env bash
# Opens a report.html of `styleseg run` in headless Chromium (Debian's `chromium`) and saves
# a screenshot of its first 1200 x HEIGHT pixels: a check that the page renders with its
# embedded pictures, and a picture of it.
#   tools/render_report.sh WORKDIR/report.html SHOT.png [HEIGHT]
set -euo pipefail
report=$1
shot=$2
height=${3:-4000}
[ -f "$report" ] || { echo "render_report: $report: no such file" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "render_report: no chromium found (Debian: apt-get install chromium)" >&2; exit 3; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$shot"
# --no-sandbox: root in containers has no user namespaces for the sandbox. The page has no
# scripts and no network use; the timeout guards a browser that never exits.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1200,"$height" --screenshot="$(realpath -m "$shot")" \
  "file://$(realpath "$report")" >/dev/null 2>&1 || true
[ -s "$shot" ] || { echo "render_report: chromium wrote no screenshot of $report" >&2; exit 1; }
echo "render_report: $shot"
