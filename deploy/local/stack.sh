#!/usr/bin/env bash
# Muster local stack: Kafka (KRaft, from Maven jars), FerretDB (SQLite) and the
# three Python services, as plain background processes. No Docker, no sudo.
#
#   deploy/local/stack.sh install                  fetch Kafka jars, build FerretDB (idempotent)
#   deploy/local/stack.sh up [component...]        start (default: all; "infra" = kafka ferretdb)
#   deploy/local/stack.sh down [component...]      stop (reverse order)
#   deploy/local/stack.sh status                   table of components
#   deploy/local/stack.sh logs <component>         follow a log
#   deploy/local/stack.sh clean [--all]            down + remove data and logs (--all: everything)
#   deploy/local/stack.sh bootstrap                print the brokers' addresses (host:port,...)
#   deploy/local/stack.sh kafka-tool <tool> [args] run a Kafka CLI tool (topics, console-producer,
#                                                  console-consumer, consumer-groups,
#                                                  producer-perf, consumer-perf, or a class name)
#
# Components: kafka ferretdb volunteer dispatch reporting notify pages
#   With MUSTER_KAFKA_NODES=3 (`make up CLUSTER=3`) "kafka" is a KRaft cluster of three
#   nodes, kafka-1 kafka-2 kafka-3, each a broker and a voter of the controller quorum
#   (combined mode); each node can be stopped and started on its own (down kafka-2).
#
# Environment (defaults):
#   MUSTER_STATE_DIR ($ROOT/.state)   MUSTER_START_TIMEOUT (60)
#   MUSTER_KAFKA_PORT (9092)  MUSTER_KAFKA_CONTROLLER_PORT (9093)  MUSTER_MONGO_PORT (27017)
#   MUSTER_KAFKA_NODES (1, or 3: a cluster; node n listens on the two Kafka ports + 100*(n-1);
#     unset: as the state directory's last 'up' of Kafka chose)
#   MUSTER_VOLUNTEER_PORT (8001)  MUSTER_DISPATCH_PORT (8002)  MUSTER_REPORTING_PORT (8003)
#   MUSTER_NOTIFY_PORT (8004)  MUSTER_PAGES_PORT (8005: the volunteer page; its development
#     sign-in is on unless MUSTER_OIDC_ISSUER names an identity provider)
#   MUSTER_PYTHON ($ROOT/.venv/bin/python)   JAVA_HOME, MVN, GO (tool overrides)
#   MUSTER_KAFKA_BOOTSTRAP / MUSTER_MONGO_URL are passed to the services as set, else
#   derived from the ports above.
#   MUSTER_JWT_SECRET / MUSTER_PII_PEPPER / MUSTER_KEK_FILE are passed as set, else the
#   random ones generated once under $MUSTER_STATE_DIR/secrets/ (mode 0600; `muster token`
#   reads the JWT secret there too).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
STATE="${MUSTER_STATE_DIR:-$ROOT/.state}"
mkdir -p "$STATE"
STATE="$(cd "$STATE" && pwd)"

KAFKA_PORT="${MUSTER_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${MUSTER_KAFKA_CONTROLLER_PORT:-9093}"
# The number of Kafka nodes: as set, else as the state directory's last `up` chose.
KAFKA_NODES="${MUSTER_KAFKA_NODES:-$(cat "$STATE/kafka/nodes" 2>/dev/null || echo 1)}"
[[ "$KAFKA_NODES" =~ ^[13]$ ]] || { echo "stack.sh: MUSTER_KAFKA_NODES is 1 or 3, not '$KAFKA_NODES'" >&2; exit 1; }
KAFKA_NODE_PORT_STEP=100
MONGO_PORT="${MUSTER_MONGO_PORT:-27017}"
VOLUNTEER_PORT="${MUSTER_VOLUNTEER_PORT:-8001}"
DISPATCH_PORT="${MUSTER_DISPATCH_PORT:-8002}"
REPORTING_PORT="${MUSTER_REPORTING_PORT:-8003}"
NOTIFY_PORT="${MUSTER_NOTIFY_PORT:-8004}"
PAGES_PORT="${MUSTER_PAGES_PORT:-8005}"
START_TIMEOUT="${MUSTER_START_TIMEOUT:-60}"
STOP_TIMEOUT=20
PYTHON="${MUSTER_PYTHON:-$ROOT/.venv/bin/python}"

KAFKA_SRC="$SCRIPT_DIR/kafka"
FERRET_SRC="$SCRIPT_DIR/ferretdb"
KAFKA_HOME="$STATE/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
FERRET_BIN="$STATE/bin/ferretdb"
FERRET_DATA="$STATE/ferretdb"
LOG_DIR="$STATE/logs"
RUN_DIR="$STATE/run"

# In a cluster, the Kafka components are its nodes: kafka-1 ... kafka-N.
KAFKA_COMPONENTS=(kafka)
if ((KAFKA_NODES > 1)); then
  KAFKA_COMPONENTS=()
  for ((n = 1; n <= KAFKA_NODES; n++)); do KAFKA_COMPONENTS+=("kafka-$n"); done
fi
ALL_COMPONENTS=("${KAFKA_COMPONENTS[@]}" ferretdb volunteer dispatch reporting notify pages)

# ---------------------------------------------------------------- helpers

say() { printf '%s\n' "$*"; }
err() { printf 'stack.sh: error: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

java_bin() { if [[ -n "${JAVA_HOME:-}" ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi; }
mvn_bin() { echo "${MVN:-mvn}"; }
go_bin() {
  if [[ -n "${GO:-}" ]]; then echo "$GO"
  elif command -v go >/dev/null 2>&1; then echo go
  elif [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go
  else echo go; fi
}
need() { command -v "$1" >/dev/null 2>&1 || [[ -x "$1" ]] || die "'$1' not found ($2)"; }

sha() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Ensure the state dir carries a marker so "clean --all" never wipes a foreign directory.
mark_state() { [[ -e "$STATE/.muster-state" ]] || echo "muster local stack state" >"$STATE/.muster-state"; }

# node_of kafka-2 -> 2; kafka (one node) -> 1.
node_of() { if [[ "$1" == kafka-* ]]; then echo "${1#kafka-}"; else echo 1; fi; }
kafka_port_of() { echo $((KAFKA_PORT + ($(node_of "$1") - 1) * KAFKA_NODE_PORT_STEP)); }
controller_port_of() { echo $((KAFKA_CONTROLLER_PORT + ($(node_of "$1") - 1) * KAFKA_NODE_PORT_STEP)); }
# Every broker's address, comma-separated: what clients bootstrap from.
kafka_bootstrap() {
  local c out=()
  for c in "${KAFKA_COMPONENTS[@]}"; do out+=("127.0.0.1:$(kafka_port_of "$c")"); done
  (IFS=,; echo "${out[*]}")
}

port_of() {
  case "$1" in
    kafka|kafka-[0-9]) kafka_port_of "$1" ;;
    ferretdb) echo "$MONGO_PORT" ;;
    volunteer) echo "$VOLUNTEER_PORT" ;;
    dispatch) echo "$DISPATCH_PORT" ;;
    reporting) echo "$REPORTING_PORT" ;;
    notify) echo "$NOTIFY_PORT" ;;
    pages) echo "$PAGES_PORT" ;;
    *) die "unknown component '$1'" ;;
  esac
}

address_of() {
  case "$1" in
    kafka|kafka-[0-9]) echo "127.0.0.1:$(kafka_port_of "$1")" ;;
    ferretdb) echo "mongodb://127.0.0.1:$MONGO_PORT/" ;;
    *) echo "http://127.0.0.1:$(port_of "$1")" ;;
  esac
}

log_of() { echo "$LOG_DIR/$1.log"; }
pidfile_of() { echo "$RUN_DIR/$1.pid"; }

# A substring the component's command line must contain: guards against PID reuse.
cmd_pattern() {
  case "$1" in
    kafka) echo "kafka.Kafka" ;;
    kafka-[0-9]) echo "$(node_home "$1")/server.properties" ;;
    ferretdb) echo "$FERRET_BIN" ;;
    *) echo "muster_$1" ;;
  esac
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Kafka ApiVersions v0 request over /dev/tcp; true when the broker answers it
# (error 0, or 35 UNSUPPORTED_VERSION, which still proves the request path works).
kafka_probe() {
  local out
  out="$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x07\x00\x05probe" >&3
    head -c 10 <&3 | od -An -tx1 | tr -d " \n"
  ' _ "$1" 2>/dev/null)" || return 1
  [[ "${out:8:8}" == "00000007" && ( "${out:16:4}" == "0000" || "${out:16:4}" == "0023" ) ]]
}

# PID from the component's pid file if that process is alive and is ours; else empty.
live_pid() {
  local f pid
  f="$(pidfile_of "$1")"
  [[ -f "$f" ]] || return 0
  pid="$(tr -dc '0-9' <"$f")"
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(cmd_pattern "$1")" || return 0
  fi
  echo "$pid"
}

healthy() {
  local port
  port="$(port_of "$1")"
  case "$1" in
    kafka|kafka-[0-9]) kafka_probe "$port" ;;
    ferretdb) port_open "$port" ;;
    *) curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null ;;
  esac
}

show_failure() {
  local c="$1" f
  err "$c did not become healthy; last 30 lines of its log(s):"
  for f in "$(log_of "$c")" ${2:+"$2"}; do
    [[ -f "$f" ]] || continue
    printf -- '----- %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2 || true
  done
}

# start_bg <component> <cmd...>: detached in its own session/process group.
start_bg() {
  local c="$1"; shift
  local pidf log
  pidf="$(pidfile_of "$c")"; log="$(log_of "$c")"
  rm -f "$pidf"
  printf '\n===== %s starting %s =====\n' "$(date -u +%FT%TZ)" "$c" >>"$log"
  # The inner shell records its own PID (== process group id after setsid), then execs.
  setsid bash -c 'echo $$ >"$1"; shift; exec nohup "$@"' _ "$pidf" "$@" \
    </dev/null >>"$log" 2>&1 &
  local i
  for i in $(seq 1 50); do [[ -s "$pidf" ]] && break; sleep 0.1; done
  [[ -s "$pidf" ]] || die "$c: no pid file written"
}

# wait_healthy <component> [extra log] [readiness-fn]
wait_healthy() {
  local c="$1" extra="${2:-}" ready="${3:-}" pid deadline
  pid="$(tr -dc '0-9' <"$(pidfile_of "$c")")"
  deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      err "$c (pid $pid) exited during startup"
      show_failure "$c" "$extra"; rm -f "$(pidfile_of "$c")"; exit 1
    fi
    if { [[ -z "$ready" ]] || "$ready"; } && healthy "$c"; then
      return 0
    fi
    sleep 0.25
  done
  err "$c not healthy after ${START_TIMEOUT}s (pid $pid); stopping it"
  show_failure "$c" "$extra"
  stop_one "$c" >&2
  exit 1
}

# ---------------------------------------------------------------- install

install_kafka() {
  local marker="$KAFKA_LIBS/.fetched" want
  want="$(sha "$KAFKA_SRC/pom.xml")"
  if [[ -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    say "install: kafka jars up to date ($KAFKA_LIBS)"
    return
  fi
  need "$(java_bin)" "Java 17+ is required"
  need "$(mvn_bin)" "Maven is required"
  say "install: fetching Kafka jars with Maven ..."
  local tmp="$KAFKA_HOME/libs.tmp"
  rm -rf "$tmp"; mkdir -p "$KAFKA_HOME"
  if ! "$(mvn_bin)" -B -q -Dstyle.color=never -f "$KAFKA_SRC/pom.xml" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$KAFKA_HOME/mvn.log" 2>&1; then
    tail -n 30 "$KAFKA_HOME/mvn.log" >&2
    die "maven failed (full log: $KAFKA_HOME/mvn.log)"
  fi
  rm -rf "$KAFKA_LIBS"; mv "$tmp" "$KAFKA_LIBS"
  echo "$want" >"$marker"
  say "install: kafka jars ready ($(ls "$KAFKA_LIBS" | grep -c '\.jar$') jars: $(cd "$KAFKA_LIBS" && ls kafka_2.13-*.jar log4j-core-*.jar | tr '\n' ' '))"
}

# FerretDB's module, downloaded and patched (deploy/local/ferretdb/patches/*.patch, applied
# in order); the build of deploy/local/ferretdb replaces the module with this copy.
# Patch 0001: the SQLite backend looked documents up by `_id` through an expression its
# `_id` index does not match, so every find/update/delete by `_id` scanned the table
# (an update by _id: 1.1 ms at 100 documents, 27.5 ms at 20,000), and it pushed `_id` down
# only when it was the filter's one condition. MongoDB serves both from its primary index.
# Patch 0002: update, findAndModify and delete read documents, then write them in another
# step, so concurrent updates of one document lost writes; a lock held from a statement's
# query to its last write (the document's for an `_id` equality, else the collection's)
# makes each atomic, as MongoDB's single-document writes are; each update statement's query
# is closed before the next (a bulk of ~100 updates no longer takes the whole pool).
# Patch 0003: a database's write transactions queue on a Go mutex before they take a
# connection, instead of colliding in SQLite, whose busy handler sleeps 1, 2, 5 ... 100 ms
# between tries (16 concurrent inserts: p99 138-182 ms, max 0.3-0.4 s; patched 19-23 ms).
# Patch 0004: every document iterator, cursor and connection was tracked for leak checks (a
# pprof profile entry with its stack, and a finalizer), in release builds too, and every
# stored integer and string was parsed by a JSON decoder of its own: a tenth and more of the
# CPU of reading a document, and every nested document was copied into a decoder's buffer
# before it was parsed. Tracking stays in debug builds; plain decimals and strings without
# escapes are taken directly, nested values unmarshalled in place (reading a document of 259
# counters: p50 5.5 -> 3.4 ms).
# Patch 0005: every SQL statement built its debug log lines, the inserted documents' JSON
# among the arguments, whatever the log level (a tenth of an insert's CPU); now only when
# debug logging is on. With 0004, a rebuild of 30,054 events: 554 -> 706 events/s, its
# writing 41.5 -> 30.1 s; report p99 17.3 -> 10.7 ms, as-of p99 25.2 -> 15.8 ms.
patched_ferretdb_module() {
  local go="$1" module dir build="$STATE/build/ferretdb-module" p
  module="$(awk '$1 == "require" && $2 == "github.com/FerretDB/FerretDB" {print $2 "@" $3}' "$FERRET_SRC/go.mod")"
  [[ -n "$module" ]] || die "github.com/FerretDB/FerretDB not required in $FERRET_SRC/go.mod"
  dir="$(cd "$FERRET_SRC" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go" mod download -json "$module" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$dir" ]] || die "could not download $module"
  rm -rf "$build" && mkdir -p "$(dirname "$build")"
  cp -R "$dir" "$build" && chmod -R u+w "$build"
  for p in "$FERRET_SRC"/patches/*.patch; do
    patch --quiet --forward -p1 -d "$build" <"$p" || die "patch $p does not apply to $module"
  done
  echo "$build"
}

install_ferretdb() {
  local marker="$STATE/bin/.ferretdb.hash" want go module work="$STATE/build/ferretdb-main"
  want="$(sha "$FERRET_SRC/main.go" "$FERRET_SRC/go.mod" "$FERRET_SRC/go.sum" "$FERRET_SRC"/patches/*.patch)"
  if [[ -x "$FERRET_BIN" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    say "install: ferretdb binary up to date ($FERRET_BIN)"
    return
  fi
  go="$(go_bin)"
  need "$go" "Go is required to build FerretDB"
  need patch "patch is required to build FerretDB"
  say "install: building ferretdb (first build takes about a minute) ..."
  mkdir -p "$STATE/bin"
  module="$(patched_ferretdb_module "$go")"
  rm -rf "$work" && mkdir -p "$work"
  cp "$FERRET_SRC/main.go" "$FERRET_SRC/go.mod" "$FERRET_SRC/go.sum" "$work/"
  echo "replace github.com/FerretDB/FerretDB => $module" >>"$work/go.mod"
  if ! (cd "$work" && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 \
      "$go" build -trimpath -o "$FERRET_BIN.tmp" . ) >"$STATE/bin/go-build.log" 2>&1; then
    tail -n 30 "$STATE/bin/go-build.log" >&2
    die "go build failed (full log: $STATE/bin/go-build.log)"
  fi
  mv -f "$FERRET_BIN.tmp" "$FERRET_BIN"
  echo "$want" >"$marker"
  say "install: ferretdb built"
}

cmd_install() {
  mark_state
  install_kafka
  install_ferretdb
}

# ---------------------------------------------------------------- kafka

# Where a Kafka component keeps its data and configuration: the single node in
# $KAFKA_HOME, a cluster's node n in $KAFKA_HOME/cluster/node-n.
node_home() { if [[ "$1" == kafka-* ]]; then echo "$KAFKA_HOME/cluster/node-$(node_of "$1")"; else echo "$KAFKA_HOME"; fi; }
node_log_dir() { if [[ "$1" == kafka-* ]]; then echo "$LOG_DIR/$1"; else echo "$LOG_DIR/kafka"; fi; }

write_kafka_props() {
  local c="$1" home node port cport voters="" quorum n
  home="$(node_home "$c")"; node="$(node_of "$c")"
  port="$(kafka_port_of "$c")"; cport="$(controller_port_of "$c")"
  mkdir -p "$home/data"
  if ((KAFKA_NODES > 1)); then
    for ((n = 1; n <= KAFKA_NODES; n++)); do
      voters+="${voters:+,}$n@127.0.0.1:$(controller_port_of "kafka-$n")"
    done
    # A static quorum of three voters: a majority (two) elects the active controller.
    quorum="controller.quorum.voters=$voters"
  else
    quorum="controller.quorum.bootstrap.servers=127.0.0.1:$cport"
  fi
  local rf=1 isr=1
  ((KAFKA_NODES > 1)) && rf=3 isr=2
  cat >"$home/server.properties" <<EOF
# Generated by deploy/local/stack.sh - edits are overwritten on every 'up'.
process.roles=broker,controller
node.id=$node
$quorum
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$home/data
num.partitions=6
default.replication.factor=$rf
min.insync.replicas=$isr
unclean.leader.election.enable=false
auto.create.topics.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=104857600
EOF
  if ((KAFKA_NODES > 1)); then
    # A broker that stops heartbeating is fenced (its partitions move) after 6 s, not 9.
    cat >>"$home/server.properties" <<EOF
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
EOF
  fi
}

kafka_server_log() { echo "$(node_log_dir "$1")/server.log"; }

# The server log's size when each node was last started: only lines after it count.
declare -A KAFKA_LOG_OFFSET=()
kafka_started_logged() {
  local c="$1" f; f="$(kafka_server_log "$c")"
  [[ -f "$f" ]] || return 1
  local size; size="$(stat -c %s "$f")"
  local offset="${KAFKA_LOG_OFFSET[$c]:-0}"
  local from=$((offset + 1))
  ((size >= offset)) || from=1   # rolled over
  tail -c "+$from" "$f" | grep -qE 'Kafka Server started|started \(kafka\.server\.KafkaRaftServer\)'
}

kafka_jvm_opts() {
  local heap=(-Xms256m -Xmx512m)
  ((KAFKA_NODES > 1)) && heap=(-Xms128m -Xmx384m)   # three JVMs on one machine
  KAFKA_JVM_OPTS=(
    "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2.xml" -Dkafka.logs.dir="$(node_log_dir "$1")"
  )
}
# One-shot tools (StorageTool): small heap, quick start, WARN+ logs on the console.
# KAFKA_TOOL_FULL_JIT=1 drops the C1-only flag (used for the perf tools).
kafka_java() {
  local jit=(-XX:TieredStopAtLevel=1)
  [[ "${KAFKA_TOOL_FULL_JIT:-0}" == 1 ]] && jit=()
  "$(java_bin)" -Xmx256m -XX:+UseSerialGC "${jit[@]}" -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2-tools.xml" -cp "$KAFKA_LIBS/*" "$@"
}

# The cluster id, generated once per state directory (every node of a cluster shares it).
kafka_cluster_id() {
  if [[ ! -s "$KAFKA_HOME/cluster.id" ]]; then
    local cid
    cid="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/kafka-format.log" | tail -n 1)"
    [[ -n "$cid" ]] || die "kafka: could not generate a cluster id (see $LOG_DIR/kafka-format.log)"
    echo "$cid" >"$KAFKA_HOME/cluster.id"
  fi
  cat "$KAFKA_HOME/cluster.id"
}

# Writes the node's configuration, formats its storage the first time, then starts it
# without waiting: a cluster's first node cannot finish starting before a majority of the
# quorum runs, so `up` starts every node before it waits for any.
start_kafka_node() {
  local c="$1" home cport ports_file cid
  need "$(java_bin)" "Java 17+ is required"
  home="$(node_home "$c")"; cport="$(controller_port_of "$c")"
  mkdir -p "$(node_log_dir "$c")"
  write_kafka_props "$c"
  ports_file="$home/formatted-ports"
  if [[ ! -f "$home/data/meta.properties" ]]; then
    cid="$(kafka_cluster_id)"
    say "$c: formatting storage (cluster id $cid)"
    local mode=(--standalone)
    ((KAFKA_NODES > 1)) && mode=()   # the voters are static (controller.quorum.voters)
    if ! kafka_java kafka.tools.StorageTool format "${mode[@]}" -t "$cid" -c "$home/server.properties" \
        --ignore-formatted >>"$(log_of "$c")" 2>&1; then
      show_failure "$c"; die "$c: storage format failed"
    fi
    echo "$cport" >"$ports_file"
  elif [[ -f "$ports_file" && "$(cat "$ports_file")" != "$cport" ]]; then
    die "$c: data was formatted with controller port $(cat "$ports_file"), now $cport; run 'stack.sh clean' first"
  fi
  local f; f="$(kafka_server_log "$c")"
  KAFKA_LOG_OFFSET[$c]=0; [[ -f "$f" ]] && KAFKA_LOG_OFFSET[$c]="$(stat -c %s "$f")"
  kafka_jvm_opts "$c"
  start_bg "$c" "$(java_bin)" "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$home/server.properties"
}

WAITING_FOR=""
kafka_node_started() { kafka_started_logged "$WAITING_FOR"; }
wait_kafka_node() {
  WAITING_FOR="$1"
  wait_healthy "$1" "$(kafka_server_log "$1")" kafka_node_started
}

# ---------------------------------------------------------------- ferretdb

up_ferretdb() {
  mkdir -p "$FERRET_DATA"
  start_bg ferretdb "$FERRET_BIN" -listen-addr "127.0.0.1:$MONGO_PORT" -data-dir "$FERRET_DATA"
  wait_healthy ferretdb "" ferret_ready_logged
}
# Only lines after the latest "===== ... starting" banner count.
# awk reads the whole log: a `tac | sed q | grep -q` pipeline dies of SIGPIPE under
# pipefail once the log is large, which reads as "not ready".
ferret_ready_logged() {
  awk '/^===== /{ready=0} /FerretDB ready/{ready=1} END{exit !ready}' "$(log_of ferretdb)"
}

# ---------------------------------------------------------------- secrets

SECRETS_DIR="$STATE/secrets"

# A random secret generated once (kept across restarts), readable by its owner only.
ensure_secret() {
  local f="$SECRETS_DIR/$1"
  [[ -s "$f" ]] && return 0
  (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n' >"$f.tmp" && mv "$f.tmp" "$f")
  say "secrets: generated $f"
}

ensure_secrets() {
  (umask 077 && mkdir -p "$SECRETS_DIR")
  ensure_secret jwt-secret
  ensure_secret pii-pepper
  # The key-encryption key of the volunteers' data keys (envelope encryption).
  if [[ ! -s "$SECRETS_DIR/volunteer-kek.json" ]]; then
    (cd "$ROOT" && "$PYTHON" -m muster_volunteer create-key-file "$SECRETS_DIR/volunteer-kek.json") \
      || die "could not create the key file $SECRETS_DIR/volunteer-kek.json"
  fi
}

# ---------------------------------------------------------------- services

up_service() {
  local c="$1" port
  port="$(port_of "$c")"
  [[ -x "$PYTHON" ]] || die "$c: $PYTHON not found; create the venv first (e.g. 'uv sync')"
  need curl "used for the /healthz check"
  ensure_secrets
  (
    cd "$ROOT"
    export MUSTER_JWT_SECRET="${MUSTER_JWT_SECRET:-$(cat "$SECRETS_DIR/jwt-secret")}"
    export MUSTER_PII_PEPPER="${MUSTER_PII_PEPPER:-$(cat "$SECRETS_DIR/pii-pepper")}"
    export MUSTER_KEK_FILE="${MUSTER_KEK_FILE:-$SECRETS_DIR/volunteer-kek.json}"
    export MUSTER_HTTP_PORT="$port"
    export MUSTER_KAFKA_BOOTSTRAP="${MUSTER_KAFKA_BOOTSTRAP:-$(kafka_bootstrap)}"
    # On a cluster, every topic a service creates has a replica on each of the 3 nodes.
    ((KAFKA_NODES == 1)) || export MUSTER_TOPIC_REPLICATION="${MUSTER_TOPIC_REPLICATION:-3}"
    export MUSTER_MONGO_URL="${MUSTER_MONGO_URL:-mongodb://127.0.0.1:$MONGO_PORT/}"
    export PYTHONUNBUFFERED=1
    # Spans as JSON lines, one file per service: `muster traces`, `muster trace <id>`.
    export MUSTER_TRACE_EXPORTER="${MUSTER_TRACE_EXPORTER:-file}"
    export MUSTER_TRACE_FILE="${MUSTER_TRACE_FILE:-$STATE/traces/$c.jsonl}"
    # The check-in QR code links to the volunteer page; the page forwards to the services.
    export MUSTER_VOLUNTEER_PAGE_URL="${MUSTER_VOLUNTEER_PAGE_URL:-http://127.0.0.1:$PAGES_PORT}"
    export MUSTER_VOLUNTEER_SERVICE_URL="${MUSTER_VOLUNTEER_SERVICE_URL:-http://127.0.0.1:$VOLUNTEER_PORT}"
    if [[ "$c" == pages ]]; then
      export MUSTER_DISPATCH_SERVICE_URL="${MUSTER_DISPATCH_SERVICE_URL:-http://127.0.0.1:$DISPATCH_PORT}"
      export MUSTER_NOTIFY_SERVICE_URL="${MUSTER_NOTIFY_SERVICE_URL:-http://127.0.0.1:$NOTIFY_PORT}"
      export MUSTER_REPORTING_SERVICE_URL="${MUSTER_REPORTING_SERVICE_URL:-http://127.0.0.1:$REPORTING_PORT}"
      # A development stack: the local sign-in page, unless an identity provider is named.
      [[ -n "${MUSTER_OIDC_ISSUER:-}" ]] || export MUSTER_DEV_MODE="${MUSTER_DEV_MODE:-1}"
    fi
    start_bg "$c" "$PYTHON" -m "muster_$c"
  )
  wait_healthy "$c"
}

# ---------------------------------------------------------------- up / down

COMPS=()
expand_components() {
  # Sets COMPS in canonical order; "infra" = kafka ferretdb; none = all.
  local want=() a c
  COMPS=()
  if (($# == 0)); then want=("${ALL_COMPONENTS[@]}"); fi
  for a in "$@"; do
    case "$a" in
      infra) want+=("${KAFKA_COMPONENTS[@]}" ferretdb) ;;
      services) want+=(volunteer dispatch reporting notify pages) ;;
      all) want+=("${ALL_COMPONENTS[@]}") ;;
      kafka) want+=("${KAFKA_COMPONENTS[@]}") ;;
      ferretdb|volunteer|dispatch|reporting|notify|pages) want+=("$a") ;;
      kafka-[0-9])
        ((KAFKA_NODES > 1)) || die "'$a' names a node of a cluster: set MUSTER_KAFKA_NODES=3"
        want+=("$a") ;;
      *) die "unknown component '$a' (kafka kafka-N ferretdb volunteer dispatch reporting notify pages infra services all)" ;;
    esac
  done
  for c in "${ALL_COMPONENTS[@]}"; do
    for a in "${want[@]}"; do
      if [[ "$a" == "$c" ]]; then COMPS+=("$c"); break; fi
    done
  done
  return 0
}

is_kafka() { [[ "$1" == kafka || "$1" == kafka-[0-9] ]]; }

# Kafka nodes this `up` started and has not yet seen healthy.
STARTING_KAFKA=()

up_one() {
  local c="$1" pid port
  pid="$(live_pid "$c")"
  if [[ -n "$pid" ]]; then
    if healthy "$c"; then
      say "$c: already running (pid $pid, $(address_of "$c"))"
      return
    fi
    # Alive but not (yet) healthy, e.g. still starting from another 'up': wait for it.
    say "$c: process $pid is running but not healthy yet; waiting up to ${START_TIMEOUT}s"
    wait_healthy "$c"
    say "$c: running (pid $pid, $(address_of "$c"))"
    return
  fi
  rm -f "$(pidfile_of "$c")"
  port="$(port_of "$c")"
  if port_open "$port"; then
    die "$c: port $port is already in use by another process (not started by this script)"
  fi
  if is_kafka "$c" && port_open "$(controller_port_of "$c")"; then
    die "$c: controller port $(controller_port_of "$c") is already in use by another process"
  fi
  local t0=$SECONDS
  say "$c: starting ..."
  case "$c" in
    kafka|kafka-[0-9]) start_kafka_node "$c"; STARTING_KAFKA+=("$c"); return ;;
    ferretdb) up_ferretdb ;;
    *) up_service "$c" ;;
  esac
  say "$c: running (pid $(live_pid "$c"), $(address_of "$c"), $((SECONDS - t0))s)"
}

cmd_up() {
  local comps c
  expand_components "$@"; comps=("${COMPS[@]}")
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  # Installs only what it starts (a Kafka of a test's own needs no FerretDB build).
  local kafka_wanted=0 ferretdb_wanted=0
  for c in "${comps[@]}"; do
    is_kafka "$c" && kafka_wanted=1
    [[ "$c" == ferretdb ]] && ferretdb_wanted=1
  done
  if ((kafka_wanted || ferretdb_wanted)); then mark_state; fi
  ((kafka_wanted)) && install_kafka
  ((ferretdb_wanted)) && install_ferretdb
  # Every Kafka node starts before any is waited for (a quorum needs a majority running).
  local t0=$SECONDS
  for c in "${comps[@]}"; do
    is_kafka "$c" && { mkdir -p "$KAFKA_HOME"; echo "$KAFKA_NODES" >"$KAFKA_HOME/nodes"; break; }
  done
  for c in "${comps[@]}"; do is_kafka "$c" && up_one "$c"; done
  for c in "${STARTING_KAFKA[@]}"; do
    wait_kafka_node "$c"
    say "$c: running (pid $(live_pid "$c"), $(address_of "$c"), $((SECONDS - t0))s)"
  done
  for c in "${comps[@]}"; do is_kafka "$c" || up_one "$c"; done
}

stop_one() {
  local c="$1" pid pgid target i
  local pidf; pidf="$(pidfile_of "$c")"
  pid="$(live_pid "$c")"
  if [[ -z "$pid" ]]; then
    [[ -f "$pidf" ]] && { rm -f "$pidf"; say "$c: not running (removed stale pid file)"; } \
      || say "$c: not running"
    return
  fi
  pgid="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')"
  if [[ "$pgid" == "$pid" ]]; then target="-$pid"; else target="$pid"; fi
  say "$c: stopping (pid $pid) ..."
  kill -TERM -- "$target" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$c: still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL -- "$target" 2>/dev/null || true
    sleep 0.5
  elif [[ "$target" == -* ]]; then
    kill -KILL -- "$target" 2>/dev/null || true   # leftovers in its group, if any
  fi
  rm -f "$pidf"
  say "$c: stopped"
}

cmd_down() {
  local comps i c kafka=()
  expand_components "$@"; comps=("${COMPS[@]}")
  for ((i = ${#comps[@]} - 1; i >= 0; i--)); do
    c="${comps[$i]}"
    if is_kafka "$c"; then kafka+=("$c"); else stop_one "$c"; fi
  done
  # A cluster's nodes stop together: one by one, the last would wait for a quorum that
  # is gone to shut down in a controlled way.
  if ((${#kafka[@]} > 1)); then
    for c in "${kafka[@]}"; do stop_one "$c" & done
    wait
  elif ((${#kafka[@]} == 1)); then
    stop_one "${kafka[0]}"
  fi
}

# ---------------------------------------------------------------- status / logs / clean

cmd_status() {
  local c pid state
  printf '%-10s %-8s %-10s %-30s %s\n' COMPONENT PID STATE ADDRESS LOG
  for c in "${ALL_COMPONENTS[@]}"; do
    pid="$(live_pid "$c")"
    if [[ -z "$pid" ]]; then state=stopped; pid=-
    elif healthy "$c"; then state=running
    else state=unhealthy; fi
    printf '%-10s %-8s %-10s %-30s %s\n' "$c" "$pid" "$state" "$(address_of "$c")" "$(log_of "$c")"
  done
}

cmd_logs() {
  (($# == 1)) || die "usage: stack.sh logs <component>"
  local c="$1" files=()
  port_of "$c" >/dev/null
  [[ -f "$(log_of "$c")" ]] && files+=("$(log_of "$c")")
  is_kafka "$c" && [[ -f "$(kafka_server_log "$c")" ]] && files+=("$(kafka_server_log "$c")")
  ((${#files[@]})) || die "no log yet for $c"
  if [[ -t 1 ]]; then exec tail -n 100 -F "${files[@]}"; else exec tail -n 100 "${files[@]}"; fi
}

cmd_clean() {
  local all=0
  [[ "${1:-}" == "--all" ]] && all=1
  cmd_down
  if ((all)); then
    if [[ -e "$STATE/.muster-state" || -z "$(ls -A "$STATE")" ]]; then
      rm -rf "$STATE"
      say "clean: removed $STATE"
    else
      die "clean --all: $STATE has no .muster-state marker; refusing to delete it"
    fi
  else
    rm -rf "$KAFKA_DATA" "$KAFKA_HOME/cluster" "$KAFKA_HOME/cluster.id" "$KAFKA_HOME/formatted-ports" \
      "$KAFKA_HOME/server.properties" "$FERRET_DATA" "$LOG_DIR" "$RUN_DIR"
    say "clean: removed kafka data, ferretdb data and logs (kept jars and binary; --all removes them too)"
  fi
}

cmd_kafka_tool() {
  (($# >= 1)) || die "usage: stack.sh kafka-tool <topics|console-producer|console-consumer|consumer-groups|producer-perf|consumer-perf|CLASS> [args]"
  [[ -f "$KAFKA_LIBS/.fetched" ]] || install_kafka >&2
  local cls
  case "$1" in
    topics) cls=org.apache.kafka.tools.TopicCommand ;;
    console-producer) cls=org.apache.kafka.tools.ConsoleProducer ;;
    console-consumer) cls=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    consumer-groups) cls=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    producer-perf) cls=org.apache.kafka.tools.ProducerPerformance; export KAFKA_TOOL_FULL_JIT=1 ;;
    consumer-perf) cls=org.apache.kafka.tools.ConsumerPerformance; export KAFKA_TOOL_FULL_JIT=1 ;;
    *) cls="$1" ;;
  esac
  shift
  # Tools log WARN+ to stderr only (no server.log writes).
  kafka_java "$cls" "$@"
}

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "${BASH_SOURCE[0]}"; }

main() {
  local cmd="${1:-}"
  (($#)) && shift
  case "$cmd" in
    install) cmd_install ;;
    up) cmd_up "$@" ;;
    down|stop) cmd_down "$@" ;;
    status|ps) cmd_status ;;
    logs) cmd_logs "$@" ;;
    clean) cmd_clean "$@" ;;
    kafka-tool) cmd_kafka_tool "$@" ;;
    bootstrap) kafka_bootstrap ;;
    -h|--help|help|"") usage ;;
    *) usage >&2; die "unknown command '$cmd'" ;;
  esac
}

main "$@"
