#!/usr/bin/env bash
# Reproducible-build check: builds buffer-core twice from clean and requires every jar it produces
# (main, sources, javadoc, whatever buffer-core/target/*.jar holds) to be byte-identical.
# Fails naming each jar that differs, and the entries inside it that differ.
# Run from anywhere: .ci/reproducible.sh (CI runs it after the tests, see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build() { # $1: where to keep this build's jars
  # Tests are not compiled: they go into no jar. `clean` makes each build start from nothing.
  ./mvnw -B -ntp -q -pl buffer-core -am clean package -Dmaven.test.skip=true
  mkdir -p "$work/$1"
  local found=0
  for jar in buffer-core/target/*.jar; do
    [ -e "$jar" ] || continue
    cp "$jar" "$work/$1/"
    found=1
  done
  if [ "$found" -eq 0 ]; then
    echo "reproducible: the build of buffer-core produced no jar in buffer-core/target" >&2
    exit 1
  fi
}

echo "reproducible: building buffer-core twice from clean"
build first
build second

status=0
for jar in "$work"/first/*.jar "$work"/second/*.jar; do
  name=$(basename "$jar")
  if [ ! -e "$work/first/$name" ] || [ ! -e "$work/second/$name" ]; then
    echo "reproducible: $name was produced by one build only" >&2
    status=1
  fi
done
for jar in "$work"/first/*.jar; do
  name=$(basename "$jar")
  [ -e "$work/second/$name" ] || continue
  a=$(sha256sum < "$work/first/$name" | cut -d' ' -f1)
  b=$(sha256sum < "$work/second/$name" | cut -d' ' -f1)
  if [ "$a" = "$b" ]; then
    echo "reproducible: $name identical ($a)"
  else
    echo "reproducible: $name DIFFERS between two clean builds ($a vs $b)" >&2
    if command -v unzip > /dev/null; then
      # The entries whose size, CRC or timestamp differ (first build <, second build >).
      entries() { unzip -v "$1" | sed 1d; unzip -Z -T -l "$1" | sed 1d; }
      diff <(entries "$work/first/$name") <(entries "$work/second/$name") | head -n 60 >&2 || true
    fi
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "reproducible: FAILED - see docs/releasing.md (Reproducible builds)" >&2
fi
exit "$status"
