#!/usr/bin/env bash
# Runs two settings of one JMH benchmark parameter alternately, one fork each, ROUNDS times, and
# prints, for each benchmark the pattern matches, each round's ratio B/A and the median ratio.
# Alternating runs share the machine's load drift, so the ratio is steadier than two long runs one
# after the other on a shared machine.
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
def scores(v, i):  # benchmark method -> score (every benchmark the pattern matched)
    return {r["benchmark"].split(".")[-1]: r["primaryMetric"]["score"]
            for r in json.load(open(f"{out}/{v}-{i}.json"))}
runs = [(scores(a, i), scores(b, i)) for i in range(1, rounds + 1)]
for name in runs[0][0]:
    ratios = []
    for i, (sa, sb) in enumerate(runs, 1):
        ratios.append(sb[name] / sa[name])
        print(f"{name} round {i}: {a} {sa[name]:8.2f}  {b} {sb[name]:8.2f}  ratio {ratios[-1]:.3f}")
    ma = statistics.median(sa[name] for sa, _ in runs)
    mb = statistics.median(sb[name] for _, sb in runs)
    print(f"{name}: median {a} {ma:.2f}, {b} {mb:.2f}; median ratio {b}/{a}: "
          f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, "
          f"{rounds} rounds)")
PY
