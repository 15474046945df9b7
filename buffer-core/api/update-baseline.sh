#!/usr/bin/env bash
# Regenerates the API baseline that japicmp compares buffer-core against in `verify`
# (see docs/releasing.md, "The API baseline"). Run it when an API change is intended and commit
# the new baseline in the same commit as the change:
#
#   buffer-core/api/update-baseline.sh && git add buffer-core/api/buffer-core-baseline.jar
#
# The baseline is the whole buffer-core jar as built from the current sources (reproducible: the
# same sources give the same bytes). japicmp looks at the exported packages only:
# dev.batchbuffer.internal and its subpackages are excluded in buffer-core/pom.xml.
set -euo pipefail
cd "$(dirname "$0")/../.."
./mvnw -B -ntp -q -pl buffer-core -am clean package -Dmaven.test.skip=true
main_jar=""
for jar in buffer-core/target/buffer-core-*.jar; do
  case "$jar" in
    *-sources.jar | *-javadoc.jar | *-tests.jar) ;;
    *) main_jar="$jar" ;;
  esac
done
if [ -z "$main_jar" ]; then
  echo "update-baseline: no main jar in buffer-core/target" >&2
  exit 1
fi
cp "$main_jar" buffer-core/api/buffer-core-baseline.jar
echo "API baseline updated from $main_jar:"
git status --short buffer-core/api/buffer-core-baseline.jar
