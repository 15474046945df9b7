#!/usr/bin/env bash
# The peer comparison, in full: PeerBenchmark (JMH), LatencyHarness and LifecycleHarness, then
# chart.py. Writes into docs/perf/ (or $OUT): peers-jmh.json, peers-latency.json,
# peers-lifecycle.json, the charts peers-throughput.svg and peers-latency.svg, and the tables in
# peers.md; the runs' output goes to $OUT/logs/ (not meant to be checked in). Not part of the build.
#
# Takes about 25 minutes on two cores with the defaults below (JMH: 21 runs x 3 forks x 16 s).
# Run it on a quiet machine: every other process's load shows up in the numbers.
#
# usage: buffer-examples/scripts/peers.sh
# env:   OUT=dir            where to write (default docs/perf)
#        JMH_ARGS="..."     JMH options (default below; -rf/-rff are added)
#        LATENCY_ARGS="..." LatencyHarness options (default: --seconds 10)
#        LIFECYCLE_ARGS=""  LifecycleHarness options (default: its own)
# e.g. a quick check that everything runs (not a measurement):
#   OUT=/tmp/peers JMH_ARGS="-f 1 -wi 1 -i 1 -w 1s -r 1s" LATENCY_ARGS="--seconds 1" \
#     LIFECYCLE_ARGS="--cycles 200 --instances 1000 --idle-millis 500" buffer-examples/scripts/peers.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-docs/perf}
mkdir -p "$out/logs"
out=$(cd "$out" && pwd) # exec runs in buffer-examples/: every path it gets must be absolute
jmh_args=${JMH_ARGS:-"-f 3 -wi 3 -i 5 -w 2s -r 2s -prof gc"}
latency_args=${LATENCY_ARGS:-"--seconds 10"}
lifecycle_args=${LIFECYCLE_ARGS:-""}
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

run() { # name, then the command; its output goes to the log, shown only on failure
  local name=$1; shift
  echo "== $name ($(date +%H:%M:%S))"
  "$@" > "$out/logs/$name.log" 2>&1 || { cat "$out/logs/$name.log"; exit 1; }
}

run jmh ./mvnw -q compile exec:exec@bench \
  -Dbench.args="PeerBenchmark $jmh_args -rf json -rff $out/peers-jmh.json"
run latency ./mvnw -q compile exec:exec@latency \
  -Dlatency.args="$latency_args --json $out/peers-latency.json"
run lifecycle ./mvnw -q compile exec:exec@lifecycle \
  -Dlifecycle.args="$lifecycle_args --json $out/peers-lifecycle.json"

python3 buffer-examples/scripts/chart.py --jmh "$out/peers-jmh.json" \
  --svg "$out/peers-throughput.svg" --latency "$out/peers-latency.json" \
  --latency-svg "$out/peers-latency.svg" --lifecycle "$out/peers-lifecycle.json" \
  | tee "$out/peers.md"
{
  echo
  echo "Produced by buffer-examples/scripts/peers.sh at $(git rev-parse --short HEAD) on $(date -u +%Y-%m-%d):"
  echo "JMH \`$jmh_args\`, LatencyHarness \`$latency_args\`, LifecycleHarness \`${lifecycle_args:-(defaults)}\`;"
  echo "$(nproc) processors, load average before the run: $load_before."
} >> "$out/peers.md"
echo "wrote $out/peers.md and the charts beside it"
