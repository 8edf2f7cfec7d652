#!/usr/bin/env bash
# Starts or stops a private single-node OpenSearch 2.19 for the mirror's tests.
#   scripts/opensearch.sh start DIR  -> builds the launcher (Maven; offline once
#                                       the artifacts are in ~/.m2), starts the
#                                       node with its data under DIR, waits until
#                                       it answers; prints its URL
#   scripts/opensearch.sh stop DIR   -> ends it (no-op when not running)
# The node (scripts/opensearch-node: a pom.xml and one class) runs from Maven
# Central's artifacts in a small JVM (CS_OS_HEAP, default 512m), on a free
# loopback port, with disk watermarks off and 0 replicas. Needs a JDK 17 and
# Maven (scripts/setup.sh installs both).
set -euo pipefail
cmd=${1:?usage: opensearch.sh start|stop DIR}
dir=${2:?usage: opensearch.sh start|stop DIR}
src=$(cd "$(dirname "$0")/opensearch-node" && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# OpenSearch 2.19 is built for Java 17 (Debian's JDK); prefer it to any
# newer default.
for j in /usr/lib/jvm/java-17-openjdk-*; do
  [ -x "$j/bin/java" ] && export JAVA_HOME=$j PATH=$j/bin:$PATH && break
done

running() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

case "$cmd" in
start)
  if running && [ -f "$dir/url" ]; then cat "$dir/url"; exit 0; fi
  # Build: compile the launcher and list its classpath, offline when every
  # artifact is already in the local repository, else fetch them once.
  target=$src/target
  if [ ! -f "$target/classpath.txt" ] || [ "$src/pom.xml" -nt "$target/classpath.txt" ] ||
     [ -n "$(find "$src/src" -newer "$target/classpath.txt" -name '*.java')" ]; then
    goals=(-B -q compile dependency:build-classpath -Dmdep.outputFile="$target/classpath.txt")
    (cd "$src" && { mvn -o "${goals[@]}" >"$dir/maven.log" 2>&1 ||
                    mvn "${goals[@]}" >"$dir/maven.log" 2>&1; }) ||
      { tail -30 "$dir/maven.log" >&2; echo "opensearch.sh: the Maven build failed" >&2; exit 1; }
    # A jar (class data sharing takes jars only); the old archive is stale.
    jar cf "$target/launcher.jar" -C "$target/classes" .
    rm -f "$target/node.jsa"
    touch "$target/classpath.txt" # built: newer than the sources
  fi
  # Class data sharing: the first node dumps the classes it loaded when it
  # stops (stop moves the archive next to the build); later nodes map them
  # and start about four times faster.
  if [ -f "$target/node.jsa" ]; then
    cds=-XX:SharedArchiveFile=$target/node.jsa
  else
    cds=-XX:ArchiveClassesAtExit=$dir/node.jsa
  fi
  echo "$target" >"$dir/target"
  rm -f "$dir/url"
  # The node's log (INFO) goes to DIR/node.log.
  printf '%s\n' 'status = error' 'appender.c.type = Console' 'appender.c.name = c' \
    'appender.c.layout.type = PatternLayout' 'appender.c.layout.pattern = [%d{ISO8601}][%-5p][%c{1.}] %m%n' \
    'rootLogger.level = info' 'rootLogger.appenderRef.c.ref = c' >"$dir/log4j2.properties"
  java "$cds" -Xms${CS_OS_HEAP:-512m} -Xmx${CS_OS_HEAP:-512m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Xss1m -Djava.awt.headless=true -Dlog4j2.disable.jmx=true -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dopensearch.set.netty.runtime.available.processors=false \
    -cp "$target/launcher.jar:$(cat "$target/classpath.txt")" convsearch.TestNode "$dir" \
    >"$dir/node.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  for _ in $(seq 1 1200); do
    if [ -f "$dir/url" ] && curl -sf "$(cat "$dir/url")/" >/dev/null; then
      # A single node holds no replica: new indices get none (green, not yellow).
      curl -sf -XPUT -H 'Content-Type: application/json' "$(cat "$dir/url")/_cluster/settings" \
        -d '{"persistent": {"cluster.default_number_of_replicas": 0}}' >/dev/null
      cat "$dir/url"
      exit 0
    fi
    if ! running; then
      tail -30 "$dir/node.log" >&2
      echo "opensearch.sh: the node exited" >&2
      exit 1
    fi
    sleep 0.1
  done
  tail -30 "$dir/node.log" >&2
  echo "opensearch.sh: the node did not answer within 120 s" >&2
  exit 1
  ;;
stop)
  if running; then
    pid=$(cat "$dir/pid")
    kill "$pid"
    # (up to 60 s: the first node writes its class archive as it exits)
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  if [ -s "$dir/node.jsa" ] && [ -f "$dir/target" ]; then
    target=$(cat "$dir/target")
    [ -f "$target/node.jsa" ] ||
      { cp "$dir/node.jsa" "$target/node.jsa.$$" && mv "$target/node.jsa.$$" "$target/node.jsa"; }
  fi
  rm -f "$dir/pid" "$dir/url" "$dir/node.jsa"
  ;;
*) echo "usage: opensearch.sh start|stop DIR" >&2; exit 2 ;;
esac
