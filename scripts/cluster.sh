#!/usr/bin/env bash
# A local three-node RabbitMQ cluster for the tests, without Docker: three Erlang VMs from the installed RabbitMQ
# (/usr/lib/rabbitmq/bin, run directly, so any user can run them), on loopback, next to (never instead of) the
# system broker on 5672.
#
#   bash scripts/cluster.sh up        (npm run cluster -- up)
#       starts the nodes mdc1@localhost, mdc2@localhost and mdc3@localhost (AMQP on 127.0.0.1:5681, 5682, 5683;
#       Erlang distribution on 127.0.0.1:25681, 25682, 25683; no plugins, so no management or prometheus port),
#       node 1 as the seed, then nodes 2 and 3 with stop_app, join_cluster mdc1@localhost, start_app. Returns once
#       `cluster_status` shows the three nodes running, and prints, as the only line on stdout:
#         AMQP_URL=amqp://guest:guest@127.0.0.1:5681,amqp://guest:guest@127.0.0.1:5682,amqp://guest:guest@127.0.0.1:5683
#       (so `export "$(bash scripts/cluster.sh up)"` works; progress goes to stderr). Idempotent: when the cluster
#       already runs it only prints that line; a node that is down (after `kill`) is started again first.
#   bash scripts/cluster.sh down      stops the three nodes (SIGKILL: their data goes anyway) and removes the
#       directory; idempotent.
#   bash scripts/cluster.sh kill N    kills node N's Erlang VM (its beam.smp, found from its pid file and checked
#       against its environment, never another beam) with SIGKILL; returns once its AMQP and distribution ports
#       are closed. Its data stays: `start N` brings it back. (`pgrep -af mdc` lists the nodes' VMs.)
#   bash scripts/cluster.sh start N   starts node N again on its own data directory (it rejoins the cluster by
#       itself) and returns once it answers `rabbitmqctl await_startup`; nothing to do when it runs. (A node the
#       cluster has forgotten meanwhile cannot come back on its old data: use `reset N`.)
#   bash scripts/cluster.sh status    one line per node, up or down, and the cluster's running nodes;
#       exit 0 when all three run, 3 otherwise.
#   bash scripts/cluster.sh ctl N ARGS...      rabbitmqctl -n mdcN@localhost ARGS... with the cluster's cookie
#   bash scripts/cluster.sh queues N ARGS...   rabbitmq-queues -n mdcN@localhost ARGS...
#   bash scripts/cluster.sh diag N ARGS...     rabbitmq-diagnostics -n mdcN@localhost ARGS...
#       e.g. `queues 1 quorum_status q`, `ctl 1 list_queues name type leader members`,
#       `ctl 1 forget_cluster_node mdc3@localhost`, `queues 1 grow mdc3@localhost all`.
#   bash scripts/cluster.sh reset N   "node N lost for good and replaced": stops node N if it runs, removes it from
#       the cluster with forget_cluster_node on a running node when it is still a member (so the caller may, but
#       need not, forget it first), wipes its data directory, starts it fresh and joins it to the cluster again.
#       Like a real replacement it comes back a member of the cluster but of no quorum queue: add it back with
#       `queues 1 grow mdcN@localhost all`. (forget_cluster_node also drops it from the quorum queues' members, but
#       only from those that still have a majority without it: reset one node at a time and grow it back before the
#       next. A queue that still lists the node afterwards is named in a warning on stderr.)
#
# Everything lives under ${TMPDIR:-/tmp}/mail-dispatch-cluster: home/.erlang.cookie (one cookie for the three nodes
# and every CLI call made here: HOME points there), and per node nodeN/{rabbitmq.conf, rabbitmq-env.conf,
# enabled_plugins, mnesia/, log/, stdout.log, nodeN.pid}. None of the system's files is read: not
# /etc/rabbitmq/rabbitmq.conf (its listener is 5672), not /etc/rabbitmq/rabbitmq-env.conf (its NODENAME is the system
# broker's), not /var/lib/rabbitmq/.erlang.cookie. The system broker is never touched; epmd (4369) is shared.
# ${TMPDIR:-/tmp}/mail-dispatch-cluster.lock serializes the commands that start or stop nodes (it stays after down).
set -euo pipefail

ROOT=${TMPDIR:-/tmp}
ROOT=${ROOT%/}/mail-dispatch-cluster
MARKER=.mail-dispatch-cluster
RMQ_BIN=/usr/lib/rabbitmq/bin
# Short node names on "localhost": it resolves to 127.0.0.1 (as does `hostname -s` here, but localhost does
# everywhere), and it is what the system broker (rabbit@localhost) uses too.
NODE_HOST=localhost
NODES=(1 2 3)
# The CLI's own (hidden) Erlang node listens on a port of this range: not the default 35672-35682, which
# rabbitmqctl calls against the system broker use at the same time.
CTL_DIST_PORT_MIN=35690
CTL_DIST_PORT_MAX=35719
BOOT_TIMEOUT=${CLUSTER_BOOT_TIMEOUT:-120} # seconds a node may take to boot
# up, down, kill, start and reset take turns (two test files may share the cluster); the lock file stays after down.
LOCK=$ROOT.lock

die() { echo "cluster: $*" >&2; exit 1; }
lock() {
  exec 9>>"$LOCK"
  flock -w 900 9 || die "another scripts/cluster.sh command has held $LOCK for 15 minutes"
}
say() { echo "cluster: $*" >&2; }

node_name() { echo "mdc$1@$NODE_HOST"; }
amqp_port() { echo $((5680 + $1)); }
dist_port() { echo $((25680 + $1)); }
node_dir() { echo "$ROOT/node$1"; }
pid_file() { echo "$(node_dir "$1")/node$1.pid"; }
urls() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")"); done
  (IFS=,; echo "AMQP_URL=${out[*]}")
}

check_n() { [[ "${1:-}" =~ ^[123]$ ]] || die "node number must be 1, 2 or 3 (got '${1:-}')"; }

listening() { # port -> 0 when something listens on it (any address)
  [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# 0 when pid is node n's Erlang VM: a beam.smp started by this script for that node (its environment names the
# node and its data directory). The system broker's beam, or another cluster's, never matches.
is_node_beam() {
  local pid=$1 n=$2 env
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == beam.smp ]] || return 1
  env=$'\n'$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" || true)$'\n'
  [[ "$env" == *$'\n'"RABBITMQ_NODENAME=$(node_name "$n")"$'\n'* && "$env" == *$'\n'"RABBITMQ_MNESIA_BASE=$(node_dir "$n")/mnesia"$'\n'* ]]
}

node_pid() { # node n's beam.smp pid, or nothing
  local n=$1 pid
  pid=$(tr -dc 0-9 2>/dev/null <"$(pid_file "$n")" || true)
  if is_node_beam "$pid" "$n"; then echo "$pid"; return 0; fi
  # no pid file (yet, or it was lost): look for it among the beams
  for pid in $(pgrep -x beam.smp 2>/dev/null || true); do
    if is_node_beam "$pid" "$n"; then echo "$pid"; return 0; fi
  done
  return 0
}

node_running() { alive "$(node_pid "$1")" && listening "$(amqp_port "$1")"; }

# The environment of every process run here: the cluster's HOME (cookie) and no system rabbitmq-env.conf.
base_env() {
  echo "HOME=$ROOT/home"
  echo "ERL_EPMD_ADDRESS=127.0.0.1"
  echo "RABBITMQ_CTL_DIST_PORT_MIN=$CTL_DIST_PORT_MIN"
  echo "RABBITMQ_CTL_DIST_PORT_MAX=$CTL_DIST_PORT_MAX"
}
node_env() { # n -> VAR=value lines for node n's server
  local n=$1 d
  d=$(node_dir "$n")
  base_env
  echo "RABBITMQ_NODENAME=$(node_name "$n")"
  echo "RABBITMQ_USE_LONGNAME=false"
  echo "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
  echo "RABBITMQ_NODE_PORT=$(amqp_port "$n")"
  echo "RABBITMQ_DIST_PORT=$(dist_port "$n")"
  echo "RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf"
  echo "RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf"
  echo "RABBITMQ_CONFIG_FILES=$d/conf.d"
  echo "RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config"
  echo "RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins"
  echo "RABBITMQ_MNESIA_BASE=$d/mnesia"
  echo "RABBITMQ_MNESIA_DIR=$d/mnesia/$(node_name "$n")"
  echo "RABBITMQ_LOG_BASE=$d/log"
  echo "RABBITMQ_PID_FILE=$(pid_file "$n")"
  echo "RABBITMQ_MOTD_FILE=$d/motd"
  # The distribution on loopback only, as the system broker's (its rabbitmq-env.conf sets the same in ERL_FLAGS).
  # RabbitMQ 3.10 sets the node name from the environment, not on the command line: the unused flag
  # -mail_dispatch_cluster puts it there, so `pgrep -af mdc` and `ps` show which beam.smp is which node.
  echo "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1} -mail_dispatch_cluster $(node_name "$n")"
}

# rabbitmqctl / rabbitmq-queues / rabbitmq-diagnostics against node n, with the cluster's cookie.
cli() {
  local tool=$1 n=$2
  shift 2
  local -a envs
  mapfile -t envs < <(base_env)
  env "${envs[@]}" RABBITMQ_CONF_ENV_FILE="$ROOT/cli-env.conf" "$RMQ_BIN/$tool" -n "$(node_name "$n")" "$@"
}

# Runs a CLI call quietly; on failure shows what it said and fails.
cli_q() {
  local out
  if ! out=$(cli "$@" 2>&1); then
    echo "$out" >&2
    return 1
  fi
}

# ------------------------------------------------------------------------------------------------------------ prepare

prepare_root() {
  if [[ -e "$ROOT" && ! -f "$ROOT/$MARKER" ]]; then die "$ROOT exists and was not made by this script (no $MARKER): not touching it"; fi
  mkdir -p "$ROOT/home"
  chmod 700 "$ROOT/home"
  : >"$ROOT/$MARKER"
  if [[ ! -s "$ROOT/home/.erlang.cookie" ]]; then
    # 40 hex characters; Erlang refuses a cookie file that others can read
    head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$ROOT/home/.erlang.cookie"
    chmod 400 "$ROOT/home/.erlang.cookie"
  fi
  [[ -f "$ROOT/cli-env.conf" ]] || echo '# empty on purpose: the CLI calls of scripts/cluster.sh do not read /etc/rabbitmq/rabbitmq-env.conf' >"$ROOT/cli-env.conf"
}

write_node_files() {
  local n=$1 d
  d=$(node_dir "$n")
  mkdir -p "$d/log" "$d/mnesia" "$d/conf.d"
  cat >"$d/rabbitmq.conf" <<EOF
# node $(node_name "$n") of the test cluster made by scripts/cluster.sh; not the system broker
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
loopback_users.guest = true
log.file.level = info
log.console = false
EOF
  echo '[].' >"$d/enabled_plugins"
  echo '[].' >"$d/advanced.config"
  : >"$d/motd"
  # The same settings as the environment the server is started with, for anyone who runs the CLI by hand:
  #   RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf HOME=$ROOT/home /usr/lib/rabbitmq/bin/rabbitmqctl status
  node_env "$n" | grep -v '^RABBITMQ_CONF_ENV_FILE=' | sed -E 's/^([A-Z_]+)=(.*)$/\1="\2"/' >"$d/rabbitmq-env.conf"
}

# ------------------------------------------------------------------------------------------------------ start & stop

# Launches node n's server in the background, detached from the caller (its own session; every descriptor to a file,
# so a caller reading this script's output is not kept waiting). Returns at once.
launch_node() {
  local n=$1 d
  d=$(node_dir "$n")
  [[ -f "$d/rabbitmq.conf" ]] || write_node_files "$n"
  rm -f "$(pid_file "$n")"
  local -a envs
  mapfile -t envs < <(node_env "$n")
  # LOGNAME/USER stay the caller's; nothing else of the caller's environment matters to the server
  # (not fd 9 either: the server would hold the lock for its whole life)
  (cd "$d" && exec setsid env "${envs[@]}" "$RMQ_BIN/rabbitmq-server" </dev/null >>"$d/stdout.log" 2>&1 9>&-) &
  echo $! >"$d/wrapper.pid"
}

fail_boot() {
  local n=$1
  shift
  {
    echo "cluster: node $(node_name "$n") did not start: $*"
    local f
    for f in "$(node_dir "$n")/stdout.log" "$(node_dir "$n")/log/$(node_name "$n").log"; do
      [[ -s "$f" ]] && { echo "--- $f (last lines)"; tail -n 25 "$f"; }
    done
  } >&2
  exit 1
}

# Waits until node n listens on its AMQP port (the last step of its boot).
wait_listening() {
  local n=$1 port wrapper until
  port=$(amqp_port "$n")
  wrapper=$(cat "$(node_dir "$n")/wrapper.pid" 2>/dev/null || true)
  until=$((SECONDS + BOOT_TIMEOUT))
  while ! listening "$port"; do
    if ! alive "$wrapper" && ! alive "$(node_pid "$n")"; then fail_boot "$n" "its Erlang VM exited"; fi
    ((SECONDS < until)) || fail_boot "$n" "127.0.0.1:$port not listening after $BOOT_TIMEOUT s"
    sleep 0.2
  done
}

await_node() { # n -> returns once the node says it has booted
  wait_listening "$1"
  cli_q rabbitmqctl "$1" -q await_startup --timeout "$BOOT_TIMEOUT" || fail_boot "$1" "await_startup failed"
}

# SIGKILLs node n's VM and waits for its ports to close.
kill_node() {
  local n=$1 pid wrapper until
  pid=$(node_pid "$n")
  wrapper=$(cat "$(node_dir "$n")/wrapper.pid" 2>/dev/null || true)
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  until=$((SECONDS + 30))
  while alive "$pid" || listening "$(amqp_port "$n")" || listening "$(dist_port "$n")"; do
    ((SECONDS < until)) || die "node $(node_name "$n") (pid ${pid:-?}) still runs or its ports are still open 30 s after SIGKILL"
    sleep 0.05
  done
  # the rabbitmq-server shell that waited for the VM ends with it
  for _ in $(seq 50); do
    [[ "$(ps -p "${wrapper:-0}" -o args= 2>/dev/null || true)" == *rabbitmq-server* ]] || break
    sleep 0.05
  done
  rm -f "$(pid_file "$n")"
}

# The cluster as node n sees it: "disk_nodes" or "running_nodes", one name a line.
cluster_nodes() {
  local n=$1 key=$2 json
  json=$(cli rabbitmqctl "$n" -q cluster_status --formatter json 2>/dev/null) || return 1
  sed -nE "s/.*\"$key\":\[([^]]*)\].*/\1/p" <<<"$json" | tr -d '"' | tr ',' '\n' | grep -v '^$' || true
}

running_count() { # as the first running node sees it
  local n
  for n in "${NODES[@]}"; do
    if node_running "$n"; then
      cluster_nodes "$n" running_nodes | grep -c . || true
      return 0
    fi
  done
  echo 0
}

# A running node other than n (to join to, or to forget n on); nothing when none.
other_running() {
  local n=$1 m
  for m in "${NODES[@]}"; do
    [[ "$m" != "$n" ]] && node_running "$m" && { echo "$m"; return 0; }
  done
  return 0
}

join_node() { # n seed
  local n=$1 seed=$2
  say "joining $(node_name "$n") to $(node_name "$seed")"
  cli_q rabbitmqctl "$n" -q stop_app || die "stop_app on $(node_name "$n") failed"
  cli_q rabbitmqctl "$n" -q join_cluster "$(node_name "$seed")" || die "join_cluster $(node_name "$seed") on $(node_name "$n") failed"
  cli_q rabbitmqctl "$n" -q start_app || die "start_app on $(node_name "$n") failed"
}

wait_three_running() {
  local until=$((SECONDS + 60)) c
  for (( ; ; )); do
    c=$(running_count)
    [[ "$c" == 3 ]] && return 0
    ((SECONDS < until)) || die "cluster_status shows $c running nodes, not 3, after 60 s"
    sleep 0.5
  done
}

# --------------------------------------------------------------------------------------------------------- commands

cmd_up() {
  if [[ -f "$ROOT/$MARKER" ]] && node_running 1 && node_running 2 && node_running 3 && [[ "$(running_count)" == 3 ]]; then
    urls
    return 0
  fi
  prepare_root
  local n seed=1
  # the VMs boot in parallel: most of the time is theirs
  for n in "${NODES[@]}"; do
    if ! node_running "$n" && ! alive "$(node_pid "$n")"; then
      say "starting $(node_name "$n") on 127.0.0.1:$(amqp_port "$n")"
      launch_node "$n"
    fi
  done
  for n in "${NODES[@]}"; do await_node "$n"; done
  # nodes that are not members yet (a fresh start) join node 1
  local members
  members=$(cluster_nodes "$seed" disk_nodes) || die "cluster_status on $(node_name "$seed") failed"
  for n in 2 3; do
    grep -qxF "$(node_name "$n")" <<<"$members" || join_node "$n" "$seed"
  done
  wait_three_running
  say "up: $(node_name 1), $(node_name 2), $(node_name 3) running (dir $ROOT)"
  urls
}

cmd_down() {
  if [[ ! -e "$ROOT" ]]; then
    say "down: nothing at $ROOT"
    return 0
  fi
  [[ -f "$ROOT/$MARKER" ]] || die "$ROOT was not made by this script (no $MARKER): not touching it"
  local n pid pids=()
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    alive "$pid" && pids+=("$pid")
  done
  # their data goes with the directory: no need for a graceful stop
  ((${#pids[@]})) && kill -KILL "${pids[@]}" 2>/dev/null || true
  for n in "${NODES[@]}"; do kill_node "$n"; done
  rm -rf -- "$ROOT"
  say "down: the three nodes stopped, $ROOT removed"
}

cmd_kill() {
  check_n "${1:-}"
  local n=$1
  alive "$(node_pid "$n")" || say "$(node_name "$n") is not running"
  kill_node "$n"
  say "killed $(node_name "$n"); 127.0.0.1:$(amqp_port "$n") and :$(dist_port "$n") are closed"
}

cmd_start() {
  check_n "${1:-}"
  local n=$1
  [[ -f "$ROOT/$MARKER" && -d "$(node_dir "$n")/mnesia" ]] || die "no cluster at $ROOT: run 'up' first"
  if ! alive "$(node_pid "$n")"; then
    say "starting $(node_name "$n") on 127.0.0.1:$(amqp_port "$n")"
    launch_node "$n"
  fi
  await_node "$n"
  say "$(node_name "$n") is running"
}

cmd_reset() {
  check_n "${1:-}"
  local n=$1 other members
  [[ -f "$ROOT/$MARKER" ]] || die "no cluster at $ROOT: run 'up' first"
  if alive "$(node_pid "$n")"; then kill_node "$n"; fi
  other=$(other_running "$n")
  [[ -n "$other" ]] || die "no other node runs: cannot join $(node_name "$n") to the cluster again"
  members=$(cluster_nodes "$other" disk_nodes) || die "cluster_status on $(node_name "$other") failed"
  if grep -qxF "$(node_name "$n")" <<<"$members"; then
    say "forgetting $(node_name "$n") on $(node_name "$other")"
    cli_q rabbitmqctl "$other" -q forget_cluster_node "$(node_name "$n")" || die "forget_cluster_node on $(node_name "$other") failed"
  fi
  rm -rf -- "$(node_dir "$n")/mnesia"
  write_node_files "$n"
  say "starting $(node_name "$n") afresh"
  launch_node "$n"
  await_node "$n"
  join_node "$n" "$other"
  warn_stale_members "$n" "$other"
  say "$(node_name "$n") is a new member of the cluster (of no quorum queue yet: 'queues 1 grow $(node_name "$n") all')"
}

# Quorum queues that still list node n as a member after it was forgotten (they had no majority to drop it): the new
# node n has no replica of theirs, and `grow` skips them since it is "already" a member.
warn_stale_members() {
  local n=$1 other=$2 vhost out name type members
  while IFS= read -r vhost; do
    [[ -n "$vhost" ]] || continue
    out=$(cli rabbitmqctl "$other" -q list_queues -p "$vhost" name type members --no-table-headers 2>/dev/null || true)
    while IFS=$'\t' read -r name type members; do
      if [[ "$type" == quorum && "$members" == *"$(node_name "$n")"* ]]; then
        say "warning: quorum queue '$name' (vhost $vhost) still lists $(node_name "$n") as a member: it had no majority without it when the node was forgotten"
      fi
    done <<<"$out"
  done < <(cli rabbitmqctl "$other" -q list_vhosts name --no-table-headers 2>/dev/null || true)
}

cmd_status() {
  local n pid all=0
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    if alive "$pid" && listening "$(amqp_port "$n")"; then
      echo "$(node_name "$n") up: amqp://127.0.0.1:$(amqp_port "$n") (pid $pid)"
    else
      echo "$(node_name "$n") down"
      all=3
    fi
  done
  for n in "${NODES[@]}"; do
    if node_running "$n"; then
      echo "running nodes (as $(node_name "$n") sees it): $(cluster_nodes "$n" running_nodes | tr '\n' ' ')"
      break
    fi
  done
  return "$all"
}

cmd_cli() {
  local tool=$1
  shift
  check_n "${1:-}"
  local n=$1
  shift
  [[ -f "$ROOT/home/.erlang.cookie" ]] || die "no cluster at $ROOT: run 'up' first"
  cli "$tool" "$n" "$@"
}

# ------------------------------------------------------------------------------------------------------------- main

case "${1:-}" in
  up) lock; cmd_up ;;
  down) lock; cmd_down ;;
  kill) shift; lock; cmd_kill "$@" ;;
  start) shift; lock; cmd_start "$@" ;;
  reset) shift; lock; cmd_reset "$@" ;;
  status) cmd_status ;;
  ctl) shift; cmd_cli rabbitmqctl "$@" ;;
  queues) shift; cmd_cli rabbitmq-queues "$@" ;;
  diag) shift; cmd_cli rabbitmq-diagnostics "$@" ;;
  *) echo "usage: bash scripts/cluster.sh up | down | status | kill N | start N | reset N | ctl N ARGS... | queues N ARGS... | diag N ARGS...  (N: 1, 2 or 3)" >&2; exit 2 ;;
esac
