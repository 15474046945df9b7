#!/usr/bin/env python3
"""Charts and tables of the peer comparison (python3 standard library only).

Reads the JMH JSON of PeerBenchmark (-rf json) and writes an SVG bar chart of throughput
(M items/s per contender, grouped by producer count, error bars from JMH's scoreError); prints
markdown tables on stdout: throughput with B/op (from gc.alloc.rate.norm when the run used
-prof gc) and the mean batch size (flushedItems / flushedBatches). Optionally also reads the
LatencyHarness and LifecycleHarness JSON: a table each, and for latency an SVG chart.

usage: chart.py --jmh peers-jmh.json --svg throughput.svg
                [--latency latency.json [--latency-svg latency.svg]] [--lifecycle lifecycle.json]
                [--ymax N]   (clip bars above N; default: the largest bar that is not nohandoff)
"""
import argparse
import json
import math
import sys
from html import escape

# One colour per contender, in PeerBenchmark's @Param order; unknown names cycle through the rest.
ORDER = ["batchbuffer", "abq", "jctools", "disruptor", "reactor", "otel", "nohandoff"]
COLOURS = ["#1f6feb", "#8250df", "#2da44e", "#bf8700", "#cf222e", "#0598bc", "#8c959f",
           "#e16f24", "#6e7781"]
# A reference, not a peer: its bars may be clipped so that they do not flatten everyone else's.
REFERENCE = "nohandoff"


def number(value):
    """JMH writes NaN as a string; anything not a finite number becomes None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def metric(secondary, name):
    """A secondary metric by name, with or without JMH's older '·' prefix."""
    for key, value in secondary.items():
        if key.lstrip("\u00b7") == name:
            return value
    return None


def read_jmh(path):
    """Rows of (contender, P, score, error, B/op, mean batch) from PeerBenchmark's JSON."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for entry in json.load(f):
            if ".PeerBenchmark." not in entry.get("benchmark", ""):
                continue
            contender = entry.get("params", {}).get("contender", "?")
            primary = entry["primaryMetric"]
            secondary = entry.get("secondaryMetrics", {})
            norm = metric(secondary, "gc.alloc.rate.norm")
            items = metric(secondary, "flushedItems")
            batches = metric(secondary, "flushedBatches")
            mean_batch = None
            if items and batches and number(batches["score"]):
                mean_batch = number(items["score"]) / number(batches["score"])
            rows.append({
                "run": (f"JDK {entry.get('jdkVersion', '?')}, {entry.get('forks')} fork(s) x "
                        f"{entry.get('measurementIterations')} x {entry.get('measurementTime')}"
                        f" after {entry.get('warmupIterations')} x {entry.get('warmupTime')} warm-up"),
                "contender": contender,
                "threads": int(entry["threads"]),
                "score": number(primary["score"]),
                "error": number(primary.get("scoreError")),
                "unit": primary.get("scoreUnit", ""),
                "bytes_per_op": number(norm["score"]) if norm else None,
                "mean_batch": mean_batch,
            })
    if not rows:
        sys.exit(f"{path}: no PeerBenchmark results")
    return rows


def contender_order(names):
    known = [n for n in ORDER if n in names]
    return known + sorted(n for n in names if n not in ORDER)


def fmt(value, digits=2):
    return "–" if value is None else f"{value:,.{digits}f}"


def nice_ceiling(value):
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def bar_chart(title, y_label, groups, series, values, errors=None, ymax=None, unit="",
              subtitle=""):
    """An SVG of grouped bars: values[(group, series)] -> height; errors likewise (± whiskers).

    Bars above ymax are drawn to the top, cut by a zigzag, and labelled with their value.
    """
    errors = errors or {}
    present = [v for v in values.values() if v is not None]
    top = ymax if ymax else max(present + [0]) * 1.08
    top = nice_ceiling(top)
    width, height = 960, 520
    left, right, top_pad, bottom = 70, 180, 50, 60
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    group_w = plot_w / max(1, len(groups))
    bar_w = group_w * 0.8 / max(1, len(series))

    def y(v):
        return top_pad + plot_h * (1 - min(v, top) / top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="16">{escape(title)}</text>',
           f'<text x="{width / 2}" y="38" text-anchor="middle" font-size="11" fill="#57606a">'
           f'{escape(subtitle)}</text>']
    clipped_any = False
    for i in range(6):  # grid and y ticks
        v = top * i / 5
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   f'stroke="#d0d7de" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    out.append(f'<text transform="translate(18 {top_pad + plot_h / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    for gi, group in enumerate(groups):
        gx = left + gi * group_w + group_w * 0.1
        out.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top_pad + plot_h + 20}" '
                   f'text-anchor="middle" font-size="13">{escape(str(group))}</text>')
        for si, name in enumerate(series):
            v = values.get((group, name))
            if v is None:
                continue
            x = gx + si * bar_w
            colour = COLOURS[si % len(COLOURS)]
            clipped = v > top
            clipped_any = clipped_any or clipped
            out.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar_w * 0.9:.1f}" '
                       f'height="{top_pad + plot_h - y(v):.1f}" fill="{colour}">'
                       f'<title>{escape(name)} {escape(str(group))}: {v:.3g}{escape(unit)}</title></rect>')
            label_y = y(v) - 4
            if clipped:
                zig_y = top_pad + 14
                out.append(f'<polyline points="{x - 1:.1f},{zig_y + 4} {x + bar_w * 0.3:.1f},{zig_y - 3} '
                           f'{x + bar_w * 0.6:.1f},{zig_y + 4} {x + bar_w * 0.9 + 1:.1f},{zig_y - 3}" '
                           f'fill="none" stroke="white" stroke-width="3"/>')
                label_y = top_pad - 4
            else:
                e = errors.get((group, name))
                if e:
                    cx = x + bar_w * 0.45
                    lo, hi = y(max(0.0, v - e)), y(v + e)
                    out.append(f'<path d="M{cx:.1f},{lo:.1f}V{hi:.1f}M{cx - 3:.1f},{lo:.1f}h6'
                               f'M{cx - 3:.1f},{hi:.1f}h6" stroke="black" stroke-width="1"/>')
                    label_y = hi - 4
            out.append(f'<text x="{x + bar_w * 0.45:.1f}" y="{label_y:.1f}" text-anchor="middle" '
                       f'font-size="9">{v:.3g}</text>')
    out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top_pad + plot_h}" '
               f'y2="{top_pad + plot_h}" stroke="black"/>')
    for si, name in enumerate(series):  # legend
        ly = top_pad + 10 + si * 20
        out.append(f'<rect x="{left + plot_w + 20}" y="{ly}" width="12" height="12" '
                   f'fill="{COLOURS[si % len(COLOURS)]}"/>')
        out.append(f'<text x="{left + plot_w + 38}" y="{ly + 10}">{escape(name)}</text>')
    if clipped_any:
        out.append(f'<text x="{left}" y="{height - 12}" font-size="10" fill="#57606a">Bars cut by a '
                   f'zigzag are clipped at {top:g}; their value is above them.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def throughput(rows, svg_path, ymax):
    names = contender_order({r["contender"] for r in rows})
    threads = sorted({r["threads"] for r in rows})
    groups = [f"{p} producer{'s' if p > 1 else ''}" for p in threads]
    by_p = dict(zip(threads, groups))
    values = {(by_p[r["threads"]], r["contender"]): r["score"] for r in rows}
    errors = {(by_p[r["threads"]], r["contender"]): r["error"] for r in rows}
    if ymax is None:
        peers = [r["score"] + (r["error"] or 0) for r in rows
                 if r["contender"] != REFERENCE and r["score"] is not None]
        ymax = max(peers) * 1.1 if peers else None
    unit = rows[0]["unit"]
    label = "M items/s" if unit == "ops/us" else unit
    with open(svg_path, "w", encoding="utf-8") as f:
        f.write(bar_chart("PeerBenchmark: blocking add, batches of 100, 5 ms linger, queue 200",
                          f"{label} (error bars: JMH 99.9% CI)", groups, names, values, errors,
                          ymax, f" {label}", rows[0]["run"]))
    print(f"### Throughput ({label}; ± is JMH's 99.9% error)\n")
    print("| contender | P | throughput | ± | B/op | mean batch |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        for p in threads:
            for r in rows:
                if r["contender"] == name and r["threads"] == p:
                    print(f"| {name} | {p} | {fmt(r['score'])} | {fmt(r['error'])} | "
                          f"{fmt(r['bytes_per_op'], 1)} | {fmt(r['mean_batch'], 1)} |")
    print()


def latency(path, svg_path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    results = doc["results"]
    ms = lambda nanos: nanos / 1e6
    print(f"### Latency at {doc['ratePerSecond']} items/s, one producer, "
          f"{doc['seconds']} s per contender (ms)\n")
    print("| contender | items | mean batch | latency p50 | p99 | max | oldest age p50 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        lat, age = r["itemLatencyNanos"], r["oldestAgeNanos"]
        print(f"| {r['contender']} | {r['items']} | {fmt(r['meanBatch'], 1)} | "
              f"{fmt(ms(lat['p50']))} | {fmt(ms(lat['p99']))} | {fmt(ms(lat['max']))} | "
              f"{fmt(ms(age['p50']))} | {fmt(ms(age['p99']))} | {fmt(ms(age['max']))} |")
    print()
    if svg_path:
        stats = ["p50", "p99", "max"]
        names = [r["contender"] for r in results]
        values = {(r["contender"], s): ms(r["itemLatencyNanos"][s]) for r in results for s in stats}
        peers = [v for (name, _), v in values.items() if name != REFERENCE]
        with open(svg_path, "w", encoding="utf-8") as f:
            f.write(bar_chart(f"Latency, add to flush, {doc['ratePerSecond']} items/s, 5 ms linger",
                              "milliseconds", names, stats, values, None,
                              max(peers) * 1.1 if peers else None, " ms",
                              f"one producer, {doc['seconds']} s per contender, JDK {doc['jdk']}, "
                              f"{doc['processors']} processors"))


def lifecycle(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    print(f"### Idle costs (start+close over {doc['cycles']} cycles; idle CPU of "
          f"{doc['idleInstances']} instances over {doc['idleMillis']} ms)\n")
    print("| contender | start+close p50 (µs) | p99 (µs) | heap B/instance (n) | "
          "platform threads/instance | idle CPU, % of a core |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in doc["results"]:
        sc = r["startCloseNanos"]
        print(f"| {r['contender']} | {fmt(sc['p50'] / 1e3, 1)} | {fmt(sc['p99'] / 1e3, 1)} | "
              f"{fmt(number(r['heapBytesPerInstance']), 0)} ({r['heapInstances']}) | "
              f"{fmt(number(r['threadsPerInstance']), 2)} | "
              f"{fmt(number(r['idleCpuPercentOfOneCore']), 1)} |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jmh", required=True, help="PeerBenchmark's JMH JSON (-rf json)")
    parser.add_argument("--svg", required=True, help="where to write the throughput chart")
    parser.add_argument("--latency", help="LatencyHarness JSON (--json)")
    parser.add_argument("--latency-svg", help="where to write the latency chart")
    parser.add_argument("--lifecycle", help="LifecycleHarness JSON (--json)")
    parser.add_argument("--ymax", type=float, help="clip throughput bars above this")
    args = parser.parse_args()
    throughput(read_jmh(args.jmh), args.svg, args.ymax)
    if args.latency:
        latency(args.latency, args.latency_svg)
    if args.lifecycle:
        lifecycle(args.lifecycle)


if __name__ == "__main__":
    main()
