# shellcheck shell=bash
# scripts/kafka-local-cluster.sh: the KAFKA_NODES=3 part of scripts/kafka-local
# (sourced by it, not run on its own): three KRaft nodes, each broker+controller,
# and the node commands for failover tests (kill-node, stop-node, start-node).
# See the header of scripts/kafka-local for the interface.

CLUSTER_NODES=3
CLUSTER_HEAP_DEFAULT="-Xms256m -Xmx384m"
CLUSTER_STOP_GRACE=10 # seconds between SIGTERM and SIGKILL when stopping the whole cluster

node_dir() { printf '%s\n' "$RUN_DIR/node$1"; }
node_props() { printf '%s\n' "$RUN_DIR/node$1/server.properties"; }
node_log() { printf '%s\n' "$RUN_DIR/node$1/node$1.out"; }
node_pid_file() { printf '%s\n' "$RUN_DIR/node$1/kafka.pid"; }
node_port() { echo $(($1 + 10 * ($2 - 1))); } # node_port BASE_PORT N

# node_pid N: the PID of node N if it runs (a kafka.Kafka of ours on its properties).
node_pid() { pid_from "$(node_pid_file "$1")" "$(node_props "$1")"; }

cluster_any_running() {
  local i
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    node_pid "$i" >/dev/null && return 0
  done
  return 1
}

cluster_brokers() { # cluster_brokers BASE_PORT: host:port,host:port,host:port
  local i out=""
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    out="$out${out:+,}127.0.0.1:$(node_port "$1" "$i")"
  done
  printf '%s\n' "$out"
}

cluster_voters() { # cluster_voters BASE_PORT: controller.quorum.voters
  local i out=""
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    out="$out${out:+,}$i@127.0.0.1:$(($(node_port "$1" "$i") + 1))"
  done
  printf '%s\n' "$out"
}

# cluster_write_env: $CLUSTER_ENV from the info file and the live PIDs (a node
# that is down gets an empty KAFKA_NODE<i>_PID).
cluster_write_env() {
  local base i pid
  base="$(info_get port)"
  {
    printf 'KAFKA_BROKERS=%s\n' "$(cluster_brokers "$base")"
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
      pid="$(node_pid "$i" || true)"
      printf 'KAFKA_NODE%s_PID=%s\nKAFKA_NODE%s_PORT=%s\n' "$i" "$pid" "$i" "$(node_port "$base" "$i")"
    done
  } >"$CLUSTER_ENV.tmp"
  mv "$CLUSTER_ENV.tmp" "$CLUSTER_ENV"
}

cluster_heap() { # the heap of each node: KAFKA_HEAP_OPTS if set, else the cluster default
  printf '%s\n' "${KAFKA_HEAP_OPTS_SET:-$CLUSTER_HEAP_DEFAULT}"
}

# cluster_kill_all PID...: used when the start fails: SIGKILL what we started.
cluster_kill_all() {
  local p
  for p in "$@"; do
    if is_our_broker "$p" "$(node_props_of_pid "$p")"; then kill -KILL "$p" 2>/dev/null || true; fi
  done
}
node_props_of_pid() { # the properties file of the node whose pid file holds PID
  local i
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    if [[ "$(tr -dc '0-9' <"$(node_pid_file "$i")" 2>/dev/null)" == "$1" ]]; then node_props "$i"; return; fi
  done
  echo /nonexistent
}

cluster_start() {
  local t0="$1" base="$KAFKA_PORT" heap i port ports=() ready=() pids=() cid deadline n_ready seen="" count
  heap="$(cluster_heap)"
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    port="$(node_port "$base" "$i")"
    ports+=("$port" "$((port + 1))")
  done
  check_ports_free "KAFKA_NODES=3 needs ports $(printf '%s ' "${ports[@]}")for its 3 nodes: client port and controller port each" "${ports[@]}"

  fetch_libs

  rm -rf "$RUN_DIR"
  mkdir -p "$RUN_DIR"
  write_log_configs
  # shellcheck disable=SC2034 # read by write_server_props in scripts/kafka-local
  EXTRA_LISTENERS="" EXTRA_PROTOCOLS=""
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    mkdir -p "$(node_dir "$i")/data" "$(node_dir "$i")/logs"
    port="$(node_port "$base" "$i")"
    write_server_props "$(node_props "$i")" "$i" "$port" "$((port + 1))" "$(cluster_voters "$base")" \
      "$(node_dir "$i")/data" 3 2
    cat >>"$(node_props "$i")" <<EOF2
unclean.leader.election.enable=false
# Faster failure detection than the defaults (2000/9000): a killed node is
# fenced (out of every ISR, its leaderships moved) and may register again
# after 6 s, instead of 9.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
EOF2
  done

  # One cluster id for all; the three formats run in parallel.
  cid="$(cluster_id)"
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    format_storage "$(node_props "$i")" "$cid" "$(node_dir "$i")/format.log" &
    pids+=($!)
  done
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    wait "${pids[i - 1]}" ||
      die "formatting the KRaft storage of node $i in $(node_dir "$i")/data failed (kafka.tools.StorageTool format; output above)"
  done

  printf 'version=%s\nport=%s\ncontroller_port=%s\nnodes=%s\nsecurity=0\nbrokers=%s\nheap_opts=%s\njava_opts=%s\n' \
    "$KAFKA_VERSION" "$base" "$((base + 1))" "$CLUSTER_NODES" "$(cluster_brokers "$base")" \
    "$heap" "$KAFKA_LOCAL_JAVA_OPTS" >"$INFO_FILE"
  pids=()
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    launch_broker "$(node_props "$i")" "$(node_log "$i")" "$(node_dir "$i")/logs" "$heap" "$KAFKA_LOCAL_JAVA_OPTS"
    pids+=("$LAUNCHED_PID")
    printf '%s\n' "$LAUNCHED_PID" >"$(node_pid_file "$i")"
    ready+=("")
    log "starting node $i of $CLUSTER_NODES: Kafka $KAFKA_VERSION (PID $LAUNCHED_PID) on 127.0.0.1:$(node_port "$base" "$i") (controller :$(($(node_port "$base" "$i") + 1))), heap $heap; log: $(node_log "$i")"
  done
  cluster_write_env

  deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    n_ready=0
    for ((i = 1; i <= CLUSTER_NODES; i++)); do
      if [[ -n "${ready[i - 1]}" ]]; then n_ready=$((n_ready + 1)); continue; fi
      if ! pid_alive "${pids[i - 1]}"; then
        tail_log "$(node_log "$i")"
        log "stopping the other nodes"
        cluster_kill_all "${pids[@]}"
        rm -f "$(node_pid_file "$i")"
        die "node $i of the Kafka $KAFKA_VERSION cluster (PID ${pids[i - 1]}, 127.0.0.1:$(node_port "$base" "$i")) exited during startup (log tail above)"
      fi
      if started_since "$(node_log "$i")" 0 && port_open "$(node_port "$base" "$i")"; then
        ready[i - 1]=1
        n_ready=$((n_ready + 1))
        log "node $i ready after $(elapsed "$t0") s"
      fi
    done
    # Every node up; the cluster is ready once every broker's metadata lists
    # all of them (a broker learns of the others' unfencing a moment later).
    if ((n_ready == CLUSTER_NODES)); then
      seen="" n_ready=0
      for ((i = 1; i <= CLUSTER_NODES; i++)); do
        count="$(metadata_broker_count "$(node_port "$base" "$i")" || echo '?')"
        seen="$seen $count"
        [[ "$count" == "$CLUSTER_NODES" ]] && n_ready=$((n_ready + 1))
      done
      ((n_ready == CLUSTER_NODES)) && break
    fi
    if ((SECONDS >= deadline)); then
      for ((i = 1; i <= CLUSTER_NODES; i++)); do
        [[ -n "${ready[i - 1]}" ]] || tail_log "$(node_log "$i")"
      done
      log "stopping the cluster that did not become ready"
      cluster_kill_all "${pids[@]}"
      local late=""
      for ((i = 1; i <= CLUSTER_NODES; i++)); do
        [[ -n "${ready[i - 1]}" ]] || late="$late node $i (127.0.0.1:$(node_port "$base" "$i"))"
      done
      [[ -n "$late" ]] || late=" none, but the brokers' metadata listed$seen brokers instead of $CLUSTER_NODES each"
      die "the Kafka $KAFKA_VERSION cluster was not ready within ${KAFKA_START_TIMEOUT} s; nodes not ready:$late (log tails above)"
    fi
    sleep 0.5
  done

  local version_line
  version_line="$(grep -m 1 -o 'Kafka version: [^ ]*' "$(node_log 1)" || true)"
  log "cluster ready: ${version_line:-Kafka version: unknown}, $CLUSTER_NODES nodes (PIDs ${pids[*]}), each broker's metadata lists all $CLUSTER_NODES brokers; start took $(elapsed "$t0") s"
  log "node PIDs and ports: $CLUSTER_ENV"
  printf 'KAFKA_BROKERS=%s\n' "$(cluster_brokers "$base")"
}

# cluster_already_running: `start` found this cluster running already.
cluster_already_running() {
  local i down=""
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    node_pid "$i" >/dev/null || down="$down $i"
  done
  [[ -z "$down" ]] ||
    die "the 3-node cluster in $RUN_DIR is running, but node(s)$down are down; bring them back with '$0 start-node N', or '$0 stop' first"
  log "the Kafka $KAFKA_VERSION cluster is already running ($(cluster_brokers "$KAFKA_PORT"))"
  printf 'KAFKA_BROKERS=%s\n' "$(cluster_brokers "$KAFKA_PORT")"
}

cluster_stop() {
  local i pid t0 pids=() nodes=() jobs=() failed=""
  t0="$(now)"
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    if pid="$(node_pid "$i")"; then
      pids+=("$pid")
      nodes+=("$i")
    else
      rm -f "$(node_pid_file "$i")"
    fi
  done
  if [[ ${#pids[@]} -eq 0 ]]; then
    log "no cluster node to stop (none of the pid files in $RUN_DIR/node*/ names a running node)"
    [[ -f "$INFO_FILE" ]] && cluster_write_env
    return 0
  fi
  log "stopping the Kafka $(info_get version) cluster: node(s) ${nodes[*]} (PIDs ${pids[*]})"
  # All at once, with a short grace: whichever node is last cannot finish its
  # controlled shutdown once the other controllers are gone (no quorum), and
  # may wait for it (Kafka 4.x does) until SIGKILL. Harmless here: the next
  # `start` wipes the data anyway.
  for pid in "${pids[@]}"; do
    stop_pid "$pid" "$CLUSTER_STOP_GRACE" &
    jobs+=($!)
  done
  for ((i = 0; i < ${#jobs[@]}; i++)); do
    wait "${jobs[i]}" || failed="$failed ${pids[i]}"
  done
  for i in "${nodes[@]}"; do
    node_pid "$i" >/dev/null || rm -f "$(node_pid_file "$i")"
  done
  cluster_write_env
  [[ -z "$failed" ]] || die "could not stop PID(s)$failed"
  log "stopped in $(elapsed "$t0") s"
}

cluster_status() {
  local base i pid port up=0 lines=()
  base="$(info_get port)"
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    port="$(node_port "$base" "$i")"
    if pid="$(node_pid "$i")"; then
      up=$((up + 1))
      if port_open "$port"; then
        lines+=("node $i: running, PID $pid, PLAINTEXT 127.0.0.1:$port, controller 127.0.0.1:$((port + 1))")
      else
        lines+=("node $i: starting or unresponsive, PID $pid, port $port not accepting connections")
      fi
    else
      lines+=("node $i: not running (PLAINTEXT 127.0.0.1:$port, controller 127.0.0.1:$((port + 1)))")
    fi
  done
  if ((up == 0)); then
    echo "not running (3-node cluster in $RUN_DIR, all nodes down)"
  elif ((up < CLUSTER_NODES)); then
    echo "degraded: Kafka $(info_get version) 3-node cluster, $up of $CLUSTER_NODES nodes running, KAFKA_BROKERS=$(cluster_brokers "$base")"
  else
    echo "running: Kafka $(info_get version) 3-node cluster, KAFKA_BROKERS=$(cluster_brokers "$base")"
  fi
  printf '  %s\n' "${lines[@]}"
  ((up > 0)) || return 3
}

cluster_logs() { # cluster_logs LINES FOLLOW NODE
  local n="$1" follow="$2" node="$3" i files=()
  if [[ -n "$node" ]]; then
    cluster_node_arg "$node"
    files=("$(node_log "$node")")
  else
    for ((i = 1; i <= CLUSTER_NODES; i++)); do files+=("$(node_log "$i")"); done
  fi
  for i in "${files[@]}"; do
    [[ -f "$i" ]] || die "no broker log at $i (has the cluster been started?)"
  done
  if [[ -n "$follow" ]]; then exec tail -n "$n" -f "${files[@]}"; fi
  tail -n "$n" "${files[@]}"
}

# cluster_node_arg N: N must be a node number of the running cluster's layout.
cluster_node_arg() {
  [[ "$1" =~ ^[0-9]+$ && "$1" -ge 1 && "$1" -le "$CLUSTER_NODES" ]] ||
    die "node must be a number from 1 to $CLUSTER_NODES, got '$1'"
}

# require_cluster CMD N: the state dir must hold a KAFKA_NODES=3 cluster.
require_cluster() {
  [[ $# -eq 2 ]] || die "usage: $PROG $1 N (N = 1..$CLUSTER_NODES)"
  [[ -f "$INFO_FILE" ]] || die "no cluster started by this script in $RUN_DIR (no $INFO_FILE); start one with: KAFKA_NODES=3 $0 start"
  [[ "$(running_mode)" == cluster ]] ||
    die "'$1' is for a cluster started with KAFKA_NODES=3; the broker in $RUN_DIR is a single node"
  cluster_node_arg "$2"
}

cmd_kill_node() {
  require_cluster kill-node "$@"
  local n="$1" pid t0 i
  t0="$(now)"
  if ! pid="$(node_pid "$n")"; then
    log "node $n is not running; nothing to kill"
    rm -f "$(node_pid_file "$n")"
    cluster_write_env
    return 0
  fi
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then die "node $n (PID $pid) is still there 10 s after SIGKILL"; fi
  rm -f "$(node_pid_file "$n")"
  cluster_write_env
  log "node $n (PID $pid, 127.0.0.1:$(node_port "$(info_get port)" "$n")) killed (SIGKILL) in $(elapsed "$t0") s"
}

cmd_stop_node() {
  require_cluster stop-node "$@"
  local n="$1" pid t0
  t0="$(now)"
  if ! pid="$(node_pid "$n")"; then
    log "node $n is not running; nothing to stop"
    rm -f "$(node_pid_file "$n")"
    cluster_write_env
    return 0
  fi
  log "stopping node $n (PID $pid) with SIGTERM"
  stop_pid "$pid" || die "could not stop node $n (PID $pid)"
  rm -f "$(node_pid_file "$n")"
  cluster_write_env
  log "node $n stopped in $(elapsed "$t0") s"
}

# node_sees_cluster PORT: the broker on PORT lists at least as many brokers in
# its metadata as there are running nodes (itself included).
node_sees_cluster() {
  local i running=0 count
  for ((i = 1; i <= CLUSTER_NODES; i++)); do
    node_pid "$i" >/dev/null && running=$((running + 1))
  done
  count="$(metadata_broker_count "$1")" || return 1
  ((count >= running))
}

cmd_start_node() {
  require_cluster start-node "$@"
  local n="$1" pid t0 base port heap jopts offset deadline out
  t0="$(now)"
  if pid="$(node_pid "$n")"; then
    log "node $n is already running (PID $pid)"
    printf 'KAFKA_NODE%s_PID=%s\n' "$n" "$pid"
    return 0
  fi
  # The cluster's recorded settings, not the environment's.
  KAFKA_VERSION="$(info_get version)"
  base="$(info_get port)"
  port="$(node_port "$base" "$n")"
  heap="${KAFKA_HEAP_OPTS_SET:-$(info_get heap_opts)}"
  jopts="$(info_get java_opts)"
  [[ -n "$KAFKA_VERSION" && -n "$base" ]] || die "$INFO_FILE lacks the version or port of the cluster; restart it with '$0 stop' and 'KAFKA_NODES=3 $0 start'"
  [[ -d "$(node_dir "$n")/data" && -f "$(node_props "$n")" ]] ||
    die "node $n has no data or configuration in $(node_dir "$n"); restart the cluster"
  [[ -f "$KAFKA_LOCAL_DIR/$KAFKA_VERSION/libs/.complete" ]] ||
    die "the Kafka $KAFKA_VERSION jars are missing from $KAFKA_LOCAL_DIR/$KAFKA_VERSION/libs"
  find_java
  check_ports_free "node $n needs $port for clients and $((port + 1)) for its controller" "$port" "$((port + 1))"

  out="$(node_log "$n")"
  printf '[%s] ----- scripts/kafka-local start-node %s -----\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$n" >>"$out"
  offset="$(log_size "$out")"
  launch_broker "$(node_props "$n")" "$out" "$(node_dir "$n")/logs" "$heap" "$jopts"
  pid=$LAUNCHED_PID
  printf '%s\n' "$pid" >"$(node_pid_file "$n")"
  cluster_write_env
  log "starting node $n again (PID $pid) on 127.0.0.1:$port with its existing data; log: $out"

  deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if ! pid_alive "$pid"; then
      tail_log "$out"
      rm -f "$(node_pid_file "$n")"
      cluster_write_env
      die "node $n (PID $pid) exited during startup (log tail above)"
    fi
    if started_since "$out" "$offset" && port_open "$port" && node_sees_cluster "$port"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      tail_log "$out"
      log "stopping node $n, which did not become ready"
      stop_pid "$pid" || true
      rm -f "$(node_pid_file "$n")"
      cluster_write_env
      die "node $n (PID $pid) was not ready on 127.0.0.1:$port within ${KAFKA_START_TIMEOUT} s (log tail above)"
    fi
    sleep 0.5
  done
  log "node $n ready (PID $pid, 127.0.0.1:$port); restart took $(elapsed "$t0") s"
  printf 'KAFKA_NODE%s_PID=%s\n' "$n" "$pid"
}
