#!/usr/bin/env bash
# A smoke of the mutation profile (about a minute): PIT on two small classes with their unit tests,
# so that a change which breaks the profile (PIT, its JUnit plugin, the JDK it forks) fails CI.
# The profile's 85% threshold applies. The full run: ./mvnw -pl buffer-core -Pmutation verify.
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -B -ntp -pl buffer-core -Pmutation verify \
  -Dmaven.test.skip.exec=true -Djacoco.skip -Djapicmp.skip -Dinvoker.skip \
  -Dmaven.javadoc.skip -Dmaven.source.skip \
  -DtargetClasses=dev.batchbuffer.internal.LatencyHistogram,dev.batchbuffer.internal.TokenBucket \
  -DtargetTests=dev.batchbuffer.internal.LatencyHistogramTest,dev.batchbuffer.internal.TokenBucketTest
python3 buffer-core/scripts/pit-summary.py buffer-core/target/pit-reports/mutations.xml
