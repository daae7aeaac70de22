#!/usr/bin/env bash
# Apache Kafka 4 (KRaft, one node that is broker and controller) on a free loopback port, from the
# jars on Maven Central: no Docker, no Kafka distribution to unpack. Needs Java 17+ and Maven.
#
#   scripts/apache-kafka.sh start    fetch the jars once, format a log directory, start the broker,
#                                    wait (bounded) until it answers; prints the bootstrap HOST:PORT
#   scripts/apache-kafka.sh status   prints the bootstrap and exits 0 if it runs, else exits 1
#   scripts/apache-kafka.sh stop     stops it (SIGTERM, then SIGKILL after 30 s) and removes its data
#   scripts/apache-kafka.sh log      the broker's log
#
# Then e.g.: LGSP_TEST_BOOTSTRAP=$(scripts/apache-kafka.sh status) python3 -m pytest tests/bus
#
# Environment: LGSP_KAFKA_CACHE (jars; default ~/.cache/lgsp-sim/apache-kafka-<version>),
# LGSP_KAFKA_STATE (pid, port, config, log, data; default ${TMPDIR:-/tmp}/lgsp-apache-kafka),
# LGSP_KAFKA_HEAP (default 768m), LGSP_KAFKA_START_TIMEOUT (seconds, default 90),
# LGSP_KAFKA_ADVERTISED_PORT (advertise this loopback port instead of the broker's own: a proxy
# in front of it, as the broker-outage tests put; `start` then prints the broker's own address).
#
# The broker keeps Apache Kafka's defaults where users meet them (auto.create.topics.enable=true,
# asynchronous topic deletion, real group coordination, idempotent producers); only the settings a
# single node needs (replication factor 1 for internal topics) and a rebalance delay of 0 differ.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pom="$here/apache-kafka/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
cache="${LGSP_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lgsp-sim/apache-kafka-$version}"
state="${LGSP_KAFKA_STATE:-${TMPDIR:-/tmp}/lgsp-apache-kafka}"
heap="${LGSP_KAFKA_HEAP:-768m}"
start_timeout="${LGSP_KAFKA_START_TIMEOUT:-90}"

die() { echo "apache-kafka: $*" >&2; exit 1; }

running_pid() {  # the broker's pid if it is alive, else nothing
  [ -f "$state/pid" ] || return 0
  local pid
  pid="$(cat "$state/pid")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
      && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $state/server.properties"; then
    echo "$pid"
  fi
}

bootstrap() { echo "127.0.0.1:$(cat "$state/port")"; }

answers() {  # a TCP connection to the broker's port is accepted
  python3 - "$1" <<'EOF'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
EOF
}

free_ports() {  # two free loopback ports: the broker's and the controller's
  python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

fetch_jars() {
  if [ -f "$cache/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed once, to fetch Kafka $version's jars"
  echo "apache-kafka: fetching Kafka $version and its runtime dependencies into $cache" >&2
  mkdir -p "$cache"
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$cache/libs" >&2 || die "mvn could not fetch the jars (see above)"
  touch "$cache/.complete"
}

java_cmd() {
  command -v java >/dev/null || die "Java 17 or newer is needed (java not found)"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p')"
  [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "Kafka $version needs Java 17 or newer (found $major)"
  echo java
}

start() {
  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then bootstrap; return 0; fi
  local java
  java="$(java_cmd)"
  fetch_jars
  rm -rf "$state/data" && mkdir -p "$state/data"
  local port cport
  read -r port cport <<<"$(free_ports)"
  cat >"$state/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:${LGSP_KAFKA_ADVERTISED_PORT:-$port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$state/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$state/log4j2.properties" <<EOF
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  local cp="$cache/libs/*"
  local jvm=(-Xms256m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
             "-Dlog4j2.configurationFile=$state/log4j2.properties")
  local cluster_id
  cluster_id="$("$java" "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool random-uuid)"
  "$java" "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format --standalone \
    --cluster-id "$cluster_id" --config "$state/server.properties" >"$state/format.log" 2>&1 \
    || { cat "$state/format.log" >&2; die "formatting the KRaft log directory failed"; }
  echo "$port" >"$state/port"
  # setsid: the broker is not in the caller's process group, so a Ctrl-C meant for the caller
  # does not reach it; `stop` ends it.
  setsid "$java" "${jvm[@]}" -cp "$cp" kafka.Kafka "$state/server.properties" \
    >"$state/server.log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  local deadline=$((SECONDS + start_timeout))
  until grep -qs "Kafka Server started" "$state/server.log" && answers "$port"; do
    if [ -z "$(running_pid)" ]; then
      tail -n 40 "$state/server.log" >&2
      die "the broker exited during start (log above, whole log: $state/server.log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$state/server.log" >&2
      stop >/dev/null
      die "the broker did not answer within ${start_timeout}s (log above)"
    fi
    sleep 0.5
  done
  bootstrap
}

stop() {
  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then kill -KILL "$pid"; break; fi
      sleep 0.2
    done
    echo "apache-kafka: stopped (pid $pid)" >&2
  fi
  rm -rf "$state/data" "$state/pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if [ -n "$(running_pid)" ]; then bootstrap; else echo "apache-kafka: not running" >&2; exit 1; fi ;;
  log) cat "$state/server.log" ;;
  *) echo "usage: $0 start|stop|status|log" >&2; exit 2 ;;
esac
