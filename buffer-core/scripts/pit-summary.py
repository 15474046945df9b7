#!/usr/bin/env python3
"""Summarises a PIT run: detected vs survived per class, with timeouts counted apart.

PIT's own "mutation score" counts a mutant as detected when a test fails on it (KILLED) and also
when the tests time out or crash the JVM on it (TIMED_OUT, MEMORY_ERROR, RUN_ERROR). A timeout
usually means the mutant broke a wait and the code hung, which is a detection, but a weak one:
this script prints both scores so neither hides the other, and lists every survivor.

usage: buffer-core/scripts/pit-summary.py [target/pit-reports/mutations.xml] [--survivors]
"""
import collections
import sys
import xml.etree.ElementTree as ET

args = [a for a in sys.argv[1:] if not a.startswith("--")]
path = args[0] if args else "buffer-core/target/pit-reports/mutations.xml"
show = "--survivors" in sys.argv
rows = collections.defaultdict(collections.Counter)
survivors = []
for m in ET.parse(path).getroot():
    cls = m.findtext("mutatedClass").split("$")[0].rsplit(".", 1)[-1]
    status = m.get("status")
    rows[cls][status] += 1
    if status in ("SURVIVED", "NO_COVERAGE"):
        survivors.append((cls, int(m.findtext("lineNumber")), status,
                          m.findtext("mutatedMethod"), m.findtext("description")))

def line(name, c):
    total = sum(c.values())
    killed = c["KILLED"]
    crashed = c["TIMED_OUT"] + c["MEMORY_ERROR"] + c["RUN_ERROR"]
    detected = killed + crashed
    covered = total - c["NO_COVERAGE"]
    return (f"{name:<22}{total:>6}{killed:>8}{crashed:>9}{c['SURVIVED']:>9}{c['NO_COVERAGE']:>8}"
            f"{100.0 * detected / total if total else 0:>9.1f}%"
            f"{100.0 * killed / covered if covered else 0:>9.1f}%")

print(f"{'class':<22}{'total':>6}{'killed':>8}{'timeout':>9}{'survived':>9}{'no cov':>8}"
      f"{'score':>10}{'by assert':>10}")
grand = collections.Counter()
for cls in sorted(rows):
    print(line(cls, rows[cls]))
    grand.update(rows[cls])
print(line("TOTAL", grand))
print("score = (killed + timed out + crashed) / total; by assert = killed / covered")
if show:
    for s in sorted(survivors):
        print(f"{s[2]:<11} {s[0]}:{s[1]} {s[3]}: {s[4]}")
