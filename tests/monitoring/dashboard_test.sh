#!/usr/bin/env bash
# Suite `monitoring`: the chief's dashboard opened in a real headless
# Chromium (Debian's `chromium`, installed when missing; skipped when it
# cannot be) while a live local cluster (2 ps shards, 2 workers) trains a
# sync job. The page, as Chromium rendered it after its scripts ran, names
# the job, has drawn its loss curve, shows a global step that advances
# between two loads, and logged no console message or script error. A
# screenshot is saved (to $DASHBOARD_SCREENSHOT when set, e.g. docs/dashboard.png).
#   dashboard_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
source "$(dirname "$0")/monitoring_lib.sh" "$1" "$2" dashboard
ensure_packages chromium -- chromium
ensure_fashion_mnist

start_cluster "$tmp" "$bin" || exit 1
url="http://127.0.0.1:$dashboard_port/"
write_job "$tmp/job.yaml" dashboard-job 100000 "$tmp/run"   # longer than the test: stopped at its end
sed -i 's/eval_every_steps: 100/eval_every_steps: 50/' "$tmp/job.yaml"
"$bin/flowps" submit "$tmp/job.yaml" --cluster "$tmp/cluster.yaml" --wait >"$tmp/submit.log" 2>&1 &
started+=($!)

# The API has the job with a few points of its curves before the page is opened.
curve_points() {
  python3 - "$dashboard_port" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/state", timeout=5))
sys.exit(0 if s.get("job") == "dashboard-job" and len(s["loss_curve"]) >= 3 and len(s["accuracy_curve"]) >= 1 else 1)
PY
}
check "the chief's /api/state has the job's loss and accuracy curves" \
  wait_until 120 "three points of the loss curve" curve_points

# chrome_dump N: the DOM after the page's scripts ran (budget of virtual time), console on stderr.
chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
    --user-data-dir="$tmp/profile-$1" --enable-logging=stderr --v=0 --virtual-time-budget=4000 \
    --window-size=1280,900 "${@:2}" "$url" 2>"$tmp/chrome-$1.err"
}
attr() { sed -n "s/.*<body[^>]*data-$1=\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -1; }
chrome 1 --dump-dom >"$tmp/dom1.html"
sleep 3
chrome 2 --dump-dom >"$tmp/dom2.html"
chrome 3 --screenshot="$tmp/dashboard.png" >/dev/null
step1=$(attr step "$tmp/dom1.html")
step2=$(attr step "$tmp/dom2.html")
points=$(attr points "$tmp/dom2.html")
echo "first load: step $step1; second load: step $step2, $points points of the loss curve"
check "the page names the job" grep -q '<span id="job">dashboard-job</span>' "$tmp/dom1.html"
check "the page drew the loss curve (at least 3 points)" [ "${points:-0}" -ge 3 ]
check "the step advances between two loads" [ "${step2:-0}" -gt "${step1:-0}" ]
all_tasks() {
  [ "$(grep -o '/job:worker/task:[01]' "$tmp/dom2.html" | sort -u | wc -l)" = 2 ] &&
    [ "$(grep -o '/job:ps/task:[01]' "$tmp/dom2.html" | sort -u | wc -l)" = 2 ]
}
check "the page lists both workers and both shards" all_tasks
check "no script error on the page" [ "$(attr errors "$tmp/dom2.html")" = 0 ]
no_console() { ! grep -h "CONSOLE" "$tmp"/chrome-*.err; }
check "no console message in Chromium's log" no_console
check "a screenshot was saved" test -s "$tmp/dashboard.png"
if [ -n "${DASHBOARD_SCREENSHOT:-}" ] && [ -s "$tmp/dashboard.png" ]; then
  cp "$tmp/dashboard.png" "$DASHBOARD_SCREENSHOT" && echo "screenshot: $DASHBOARD_SCREENSHOT"
fi

[ "$failures" -eq 0 ] || { echo "$failures checks failed"; tail -n 5 "$tmp"/chrome-*.err; exit 1; }
echo "all dashboard checks passed"
