#!/usr/bin/env bash
# Runs two settings of one JMH benchmark parameter alternately, one fork each, ROUNDS times, and
# prints each round's ratio B/A and the median ratio. Alternating runs share the machine's load
# drift, so the ratio is steadier than two long runs one after the other on a shared machine.
#
# usage: buffer-examples/scripts/ab-bench.sh BENCHMARK PARAM A B [ROUNDS] [extra JMH args]
# e.g.:  buffer-examples/scripts/ab-bench.sh PolicyCostBenchmark policy count countAndBytes 6
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=$1 param=$2 a=$3 b=$4 rounds=${5:-6}
shift $(( $# < 5 ? $# : 5 ))
extra=${*:-"-wi 3 -i 5 -w 1s -r 1s"}
out=$(mktemp -d)

for ((i = 1; i <= rounds; i++)); do
  for v in "$a" "$b"; do
    ./mvnw -q compile exec:exec@bench -Dbench.args="$bench -p $param=$v -f 1 $extra -rf json -rff $out/$v-$i.json" > "$out/$v-$i.log" 2>&1 || { cat "$out/$v-$i.log"; exit 1; }
  done
done
python3 - "$out" "$a" "$b" "$rounds" <<'PY'
import json, statistics, sys
out, a, b, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
score = lambda v, i: json.load(open(f"{out}/{v}-{i}.json"))[0]["primaryMetric"]["score"]
ratios = []
for i in range(1, rounds + 1):
    sa, sb = score(a, i), score(b, i)
    ratios.append(sb / sa)
    print(f"round {i}: {a} {sa:8.2f}  {b} {sb:8.2f}  ratio {sb / sa:.3f}")
print(f"median ratio {b}/{a}: {statistics.median(ratios):.3f} "
      f"(min {min(ratios):.3f}, max {max(ratios):.3f}, {rounds} rounds)")
PY
