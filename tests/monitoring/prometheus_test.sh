#!/usr/bin/env bash
# Suite `monitoring`: a real Prometheus (Debian's `prometheus`, installed when
# missing; skipped when it cannot be) scrapes the /metrics of a live local
# cluster (2 ps shards, 2 workers) while it trains a short sync job. Through
# Prometheus's HTTP API: every target is up, the workers' step counter has a
# positive rate, the step-time histograms and the ps memory are there, and
# the shards' applied pushes summed equal the ps counters as `flowps status
# --json` reports them once the job has ended.
#   prometheus_test.sh BIN_DIR SOURCE_DIR
set -uo pipefail
source "$(dirname "$0")/monitoring_lib.sh" "$1" "$2" prometheus
ensure_packages prometheus -- prometheus
ensure_fashion_mnist

start_cluster "$tmp" "$bin" || exit 1
prom_port=$(free_ports 1)
targets=""
for p in "${metrics_ports[@]}"; do targets+="'127.0.0.1:$p',"; done
cat >"$tmp/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: flowps
    honor_labels: true   # keep the tasks' own job/task/shard labels
    static_configs:
      - targets: [${targets%,}]
CONF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 &
started+=($!)

# query PROMQL: the first result's value (empty when there is none).
query() {
  python3 - "$prom_port" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
with urllib.request.urlopen(url, timeout=5) as r:
    data = json.load(r)
result = data["data"]["result"]
print(result[0]["value"][1] if result else "")
PY
}
positive() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1] or 0) > 0 else 1)" "$(query "$1")"; }
equals() { [ "$(query "$1")" = "$2" ]; }

check "Prometheus scrapes all four tasks (up == 1)" \
  wait_until 60 "four targets up" equals 'sum(up)' 4

write_job "$tmp/job.yaml" prometheus-job 400 "$tmp/run"
"$bin/flowps" submit "$tmp/job.yaml" --cluster "$tmp/cluster.yaml" --wait >"$tmp/submit.log" 2>&1
check "the job trains to its end" grep -q "done: final test accuracy" "$tmp/submit.log"

"$bin/flowps" status --cluster "$tmp/cluster.yaml" --json >"$tmp/status.json"
applied=$(python3 -c "import json,sys; print(sum(s['pushes']['applied'] for s in json.load(open(sys.argv[1]))['shards']))" "$tmp/status.json")
echo "flowps status: the shards applied $applied pushes"
check "flowps status reports applied pushes on the shards" [ "${applied:-0}" -gt 0 ]
check "Prometheus's sum of the shards' applied pushes equals flowps status's ($applied)" \
  wait_until 30 "the applied pushes scraped after the job" equals 'sum(flowps_ps_pushes_total{outcome="applied"})' "$applied"
check "the workers' step counter has a positive rate" positive 'sum(rate(flowps_worker_steps_total[1m]))'
check "the compute phase of the step-time split is a histogram with samples" \
  positive 'sum(flowps_worker_step_seconds_count{phase="compute"})'
check "the ps shards report their resident memory" positive 'min(flowps_resident_memory_bytes{job="ps"})'
check "the shards hold variables" positive 'sum(flowps_ps_variables)'
check "the chief reports its last evaluation" positive 'max(flowps_worker_test_accuracy_ratio)'

if [ "$failures" -ne 0 ]; then
  echo "--- status"; cat "$tmp/status.json"; echo "--- submit"; tail -5 "$tmp/submit.log"
  echo "--- prometheus"; tail -5 "$tmp/prometheus.log"
  echo "$failures checks failed"
  exit 1
fi
echo "all Prometheus checks passed"
