# Sourced by ./mvnw: run Maven on a JDK >= 21 even when the default java is older.
# Maven's own JVM matters for the few steps that ignore toolchains (the jar tool that writes the
# modular jar). Keeps JAVA_HOME if it already points at a JDK >= 21; otherwise picks the newest
# JDK >= 21 it finds and exports it. The toolchains plugin in pom.xml makes the same choice for
# javac, tests and exec, so plain `mvn` works too.
bb_java_major() { # $1 = JDK home; prints its feature version, or 0
  bb_v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null)
  echo "${bb_v:-0}"
}
bb_home=""
if [ -n "${JAVA_HOME-}" ] && [ "$(bb_java_major "$JAVA_HOME")" -ge 21 ]; then
  bb_home="$JAVA_HOME"
else
  bb_default=$(command -v java 2>/dev/null)
  [ -n "$bb_default" ] && bb_default=$(dirname "$(dirname "$(readlink -f "$bb_default")")")
  if [ -z "${JAVA_HOME-}" ] && [ -n "$bb_default" ] && [ "$(bb_java_major "$bb_default")" -ge 21 ]; then
    bb_home="$bb_default"
  else
    bb_best=0
    for bb_d in /usr/lib/jvm/* /opt/java/* /usr/java/* /Library/Java/JavaVirtualMachines/*/Contents/Home "$HOME"/.sdkman/candidates/java/*; do
      [ -x "$bb_d/bin/javac" ] || continue
      bb_m=$(bb_java_major "$bb_d")
      if [ "$bb_m" -ge 21 ] && [ "$bb_m" -gt "$bb_best" ]; then bb_best=$bb_m; bb_home=$bb_d; fi
    done
  fi
fi
if [ -z "$bb_home" ]; then
  echo "batchbuffer needs a JDK >= 21 and found none (JAVA_HOME='${JAVA_HOME-}', default java: $(java -version 2>&1 | head -n 1))." >&2
  echo "Install one (e.g. Temurin 21 or 25) or set JAVA_HOME to it." >&2
  exit 1
fi
export JAVA_HOME="$bb_home"
unset bb_home bb_best bb_d bb_m bb_v bb_default
