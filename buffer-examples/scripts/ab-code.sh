#!/usr/bin/env bash
# Runs one JMH benchmark on two git revisions alternately, one fork each, ROUNDS times, and prints
# each round's scores and ratio B/A per benchmark and params, then the median ratio (with min and
# max). Each revision is checked out into its own temporary worktree and built once, so the working
# tree is never touched. Alternating runs share the machine's load drift, so the ratio is steadier
# than two long runs one after the other on a shared machine; the order flips every round (AB, BA,
# ...) so a steady drift does not favour one side. The JMH JSON and logs stay in a temporary
# directory (printed at the end) for a look at single iterations; the worktrees are removed.
#
# usage: buffer-examples/scripts/ab-code.sh REV_A REV_B BENCHMARK [ROUNDS] [extra JMH args]
# e.g.:  buffer-examples/scripts/ab-code.sh 748d163 5b27b2d AddFlushBenchmark 6 -wi 3 -i 5 -w 2s -r 2s
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
declare -A rev=([A]="$1" [B]="$2") cp
bench=$3 rounds=${4:-6}
shift $(( $# < 4 ? $# : 4 ))
extra=${*:-"-wi 3 -i 5 -w 1s -r 1s"}
# The JDK >= 21 that ./mvnw would choose; it exports JAVA_HOME (written for plain sh, so no -eu).
set +eu; . .mvn/select-jdk.sh; set -eu
out=$(mktemp -d)
cleanup() {
  for s in A B; do
    [ ! -d "$out/wt-$s" ] || git -C "$repo" worktree remove --force "$out/wt-$s" || true
  done
  echo "JMH results and logs: $out" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for s in A B; do
  wt=$out/wt-$s
  git worktree add -q --detach "$wt" "${rev[$s]}"
  echo "building $s = ${rev[$s]} ($(git -C "$wt" log -1 --format='%h %s'))" >&2
  (cd "$wt" && ./mvnw -q -B -ntp -pl buffer-examples -am package -DskipTests \
      dependency:build-classpath -DincludeScope=runtime -Dmdep.outputFile=cp.txt) \
    > "$out/build-$s.log" 2>&1 || { cat "$out/build-$s.log"; exit 1; }
  cp[$s]=$wt/buffer-examples/target/classes:$(cat "$wt/buffer-examples/cp.txt")
done

echo "java: $JAVA_HOME; JMH: $bench -f 1 $extra" >&2
for ((i = 1; i <= rounds; i++)); do
  order="A B"; (( i % 2 )) || order="B A"
  for s in $order; do
    echo "round $i/$rounds: $s" >&2
    (cd "$out" && "$JAVA_HOME/bin/java" -cp "${cp[$s]}" org.openjdk.jmh.Main "$bench" -f 1 $extra \
        -rf json -rff "$out/$s-$i.json") > "$out/$s-$i.log" 2>&1 || { cat "$out/$s-$i.log"; exit 1; }
  done
done

python3 - "$out" "$rounds" "${rev[A]}" "${rev[B]}" <<'PY'
import json, statistics, sys
out, rounds, ra, rb = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def scores(s, i):  # "benchmark params" -> (score, unit)
    res = {}
    for r in json.load(open(f"{out}/{s}-{i}.json")):
        params = " ".join(f"{k}={v}" for k, v in sorted(r.get("params", {}).items()))
        key = (".".join(r["benchmark"].split(".")[-2:]) + " " + params).strip()
        res[key] = (r["primaryMetric"]["score"], r["primaryMetric"]["scoreUnit"])
    return res
runs = [(scores("A", i), scores("B", i)) for i in range(1, rounds + 1)]
keys = list(runs[0][0])
width = max(map(len, keys))
print(f"A = {ra}, B = {rb}")
for i, (a, b) in enumerate(runs, 1):
    print(f"round {i}")
    for k in keys:
        print(f"  {k:{width}}  A {a[k][0]:9.3f}  B {b[k][0]:9.3f}  B/A {b[k][0] / a[k][0]:.3f}  {a[k][1]}")
print(f"summary over {rounds} rounds (medians of A and B scores; median, min, max of B/A)")
for k in keys:
    ra_ = [b[k][0] / a[k][0] for a, b in runs]
    ma = statistics.median(a[k][0] for a, _ in runs)
    mb = statistics.median(b[k][0] for _, b in runs)
    print(f"  {k:{width}}  A {ma:9.3f}  B {mb:9.3f}  B/A median {statistics.median(ra_):.3f}"
          f" (min {min(ra_):.3f}, max {max(ra_):.3f})")
PY
