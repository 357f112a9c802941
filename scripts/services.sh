#!/usr/bin/env bash
# Make sure the backing services of mail-dispatch (RabbitMQ and MariaDB/MySQL) answer on TCP.
#
#   scripts/services.sh ensure   # start what is down, wait for it, exit 1 if still down
#   scripts/services.sh status   # print up/down per service, exit 1 if any is down
#
# Addresses come from AMQP_URL (default amqp://guest:guest@127.0.0.1:5672) and DATABASE_URL
# (default mysql://root@127.0.0.1:3306/mail_dispatch). SERVICES_WAIT_SECONDS (default 60) bounds
# the wait after a start. For a service that is down, `ensure` tries, in order:
#   1. a local install (rabbitmq-server / mariadbd), if the host is 127.0.0.1/localhost;
#   2. Docker (docker/compose.yaml), if the host is local and a Docker engine answers;
#   3. apt-get install + start, if the host is local, the port is the default one, and we are
#      root on Debian/Ubuntu;
# and otherwise fails with a message saying what to install. Nothing is ever stopped.
# It only checks that the port accepts a connection, not credentials. Passwords are never printed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"
DATABASE_URL="${DATABASE_URL:-mysql://root@127.0.0.1:3306/mail_dispatch}"
WAIT="${SERVICES_WAIT_SECONDS:-60}"
LOG_DIR="${TMPDIR:-/tmp}"
APT_UPDATED=0

log() { printf '%s\n' "$*"; }
err() { printf '%s\n' "$*" >&2; }

# Replace the password in scheme://user:password@host with *** (up to the last '@' of the authority).
mask_url() { sed -E 's|^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^/?#]*@|\1:***@|' <<<"$1"; }

# parse_url URL DEFAULT_PORT -> sets HOST and PORT (handles user:pass@, [ipv6], /path, ?query).
parse_url() {
  local rest="${1#*://}"
  rest="${rest%%[/?#]*}"          # drop path / query / fragment
  rest="${rest##*@}"              # drop user:password@ (a password may contain '@' only encoded)
  if [[ "$rest" =~ ^\[([^]]+)\](:([0-9]+))?$ ]]; then
    HOST="${BASH_REMATCH[1]}"; PORT="${BASH_REMATCH[3]:-$2}"
  else
    HOST="${rest%%:*}"; PORT="$2"
    [[ "$rest" == *:* ]] && PORT="${rest##*:}"
  fi
  HOST="${HOST:-127.0.0.1}"; PORT="${PORT:-$2}"
}

# True if host:port accepts a TCP connection within 1 s (host/port go in as arguments, not code).
# shellcheck disable=SC2016
port_up() { timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

is_local() { [[ "$1" == 127.0.0.1 || "$1" == localhost || "$1" == ::1 ]]; }

wait_port() { # wait_port NAME HOST PORT
  local deadline=$((SECONDS + WAIT))
  log "$1: waiting up to ${WAIT}s for $2:$3 ..."
  until port_up "$2" "$3"; do
    ((SECONDS >= deadline)) && return 1
    sleep 1
  done
  log "$1: up at $2:$3"
}

# Start the locally installed server (returns 1 if no local install exists).
start_local() {
  case "$1" in
    rabbitmq)
      command -v rabbitmq-server >/dev/null || return 1
      # A node that is already running (e.g. still booting) must not be launched twice.
      if pgrep -f 'beam.*-s rabbit boot' >/dev/null; then log "rabbitmq: node already running"; return 0; fi
      log "rabbitmq: starting local rabbitmq-server (log: $LOG_DIR/rabbitmq-start.log)"
      rabbitmq-server -detached >"$LOG_DIR/rabbitmq-start.log" 2>&1 || true ;;
    database)
      local bin; bin="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
      [[ -x "$bin" ]] && command -v start-stop-daemon >/dev/null || return 1
      # /run/mysqld is a tmpfs dir that disappears on reboot; mariadbd needs it for its socket.
      if [[ ! -d /run/mysqld && $(id -u) == 0 ]]; then install -d -o mysql -g mysql /run/mysqld || true; fi
      log "database: starting local mariadbd"
      start-stop-daemon --start --oknodo --background --exec "$bin" ;;
  esac
}

docker_up() { # docker_up NAME COMPOSE_SERVICE
  command -v docker >/dev/null && docker info >/dev/null 2>&1 || return 1
  log "$1: starting '$2' with docker compose"
  docker compose -f "$ROOT/docker/compose.yaml" up -d "$2" || return 1
  log "$1: note: the compose services use user 'mail' (see docker/compose.yaml); set AMQP_URL/DATABASE_URL accordingly"
}

apt_install() { # apt_install PACKAGE
  [[ -f /etc/debian_version && $(id -u) == 0 ]] && command -v apt-get >/dev/null || return 1
  if ((APT_UPDATED == 0)); then apt-get update && APT_UPDATED=1; fi
  log "installing $1 with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" </dev/null
}

# ensure_one NAME URL_VAR URL DEFAULT_PORT PACKAGE COMPOSE_SERVICE
ensure_one() {
  local name="$1" var="$2" url="$3" dport="$4" pkg="$5" svc="$6"
  parse_url "$url" "$dport"
  local host="$HOST" port="$PORT"
  if port_up "$host" "$port"; then log "$name: up at $host:$port"; return 0; fi
  log "$name: down at $host:$port"
  if ! is_local "$host"; then
    err "$name: $host is not a local host, so it cannot be started from here ($var=$(mask_url "$url"))."
    err "$name: start it on $host, or point $var at a reachable server."
    return 1
  fi
  if start_local "$name" || docker_up "$name" "$svc" \
     || { [[ "$port" == "$dport" ]] && apt_install "$pkg" && start_local "$name"; }; then
    wait_port "$name" "$host" "$port" && return 0
    err "$name: still down at $host:$port after ${WAIT}s ($var=$(mask_url "$url"))."
    [[ "$name" == rabbitmq ]] && err "$name: see $LOG_DIR/rabbitmq-start.log and /var/log/rabbitmq/"
    return 1
  fi
  err "$name: down at $host:$port and there is no way to start it here."
  err "$name: install $pkg (Debian/Ubuntu: sudo apt-get install $pkg), or install Docker and run"
  err "       docker compose -f docker/compose.yaml up -d $svc, or set $var to a running server."
  return 1
}

status_one() { # status_one NAME URL DEFAULT_PORT
  parse_url "$2" "$3"
  if port_up "$HOST" "$PORT"; then log "$1: up at $HOST:$PORT"; else log "$1: down at $HOST:$PORT"; return 1; fi
}

AMQP_PORT=5672; [[ "$AMQP_URL" == amqps://* ]] && AMQP_PORT=5671

# AMQP_URL may list a cluster's nodes, separated by commas: one that answers is enough (the app fails over); when none
# does, the first is the one brought up.
amqp_node_up() {
  local node
  IFS=',' read -ra nodes <<<"$AMQP_URL"
  for node in "${nodes[@]}"; do
    parse_url "${node// /}" "$AMQP_PORT"
    if port_up "$HOST" "$PORT"; then log "rabbitmq: up at $HOST:$PORT"; return 0; fi
  done
  return 1
}

case "${1:-}" in
  ensure)
    rc=0
    amqp_node_up || ensure_one rabbitmq AMQP_URL "${AMQP_URL%%,*}" "$AMQP_PORT" rabbitmq-server rabbitmq || rc=1
    ensure_one database DATABASE_URL "$DATABASE_URL" 3306 mariadb-server mysql || rc=1
    exit "$rc" ;;
  status)
    rc=0
    amqp_node_up || status_one rabbitmq "${AMQP_URL%%,*}" "$AMQP_PORT" || rc=1
    status_one database "$DATABASE_URL" 3306 || rc=1
    exit "$rc" ;;
  *)
    err "usage: $0 ensure|status"
    exit 2 ;;
esac
