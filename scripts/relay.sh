#!/usr/bin/env bash
# A real, greylisting mail relay on loopback for the tests: Debian's postfix with postgrey in front of RCPT.
#
#   bash scripts/relay.sh install
#       installs postfix and postgrey (Debian, as root) when missing, and makes sure the system's own postfix
#       and postgrey are not running (this script never uses them: each `up` runs a private instance).
#   bash scripts/relay.sh up --port P --relay-to HOST:PORT --greylist-delay S [--dir D]
#       a private postfix listening on 127.0.0.1:P only, accepting mail from 127.0.0.0/8 and relaying all of it
#       to [HOST]:PORT (a test SMTP sink on loopback). On RCPT:
#         - a recipient whose local part starts with `unknown` is refused at once: 550 5.1.1 ... User unknown;
#         - every other recipient goes through a private postgrey (its own port, database and empty
#           whitelists, no auto-whitelisting): a new (client /24, sender, recipient) triplet gets
#           450 4.2.0 ... Greylisted until S seconds have passed since its first try.
#       D (default ${TMPDIR:-/tmp}/mail-dispatch-relay-P) holds everything: config, queue, data, postgrey's
#       database, and the logs (D/postfix.log, D/postgrey.log). Returns once P answers with 220.
#   bash scripts/relay.sh down --port P [--dir D]      stops that instance and removes D; idempotent.
#   bash scripts/relay.sh status --port P [--dir D]    says whether it runs; exit 0 when up, 3 when not.
#
# Only loopback addresses are used: the relay listens on 127.0.0.1 and relays only to a loopback host.
set -euo pipefail

MARKER=.mail-dispatch-relay
POSTFIX=/usr/sbin/postfix
POSTGREY=/usr/sbin/postgrey

die() { echo "relay: $*" >&2; exit 1; }

need_root() { [[ "$(id -u)" == 0 ]] || die "must run as root (postfix's master runs as root, with mail_owner = postfix)"; }

listening() { # port -> 0 when something listens on it (any address)
  [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------------------- install

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

stop_system_services() {
  local pid
  # The default instance (config /etc/postfix): Debian's package may have started it (it does where no
  # policy-rc.d forbids starting services). Nothing of it may run: it would listen on port 25.
  if [[ -x $POSTFIX ]] && "$POSTFIX" status >/dev/null 2>&1; then
    "$POSTFIX" stop >/dev/null 2>&1 || true
    pid=$(head -n1 /var/spool/postfix/pid/master.pid 2>/dev/null | tr -d ' ' || true)
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  # The system's postgrey (started by /etc/init.d/postgrey, port 10023). Ours always carry --dbdir=; it never does.
  local args
  while read -r pid args; do
    # shown as "postgrey --pidfile=... --daemonize --inet=10023" (it sets its process name) or "perl /usr/sbin/postgrey ..."
    [[ -n "$pid" && "$args" =~ ^([^[:space:]]*/)?postgrey([[:space:]]|$)|[[:space:]]$POSTGREY([[:space:]]|$) && "$args" != *--dbdir=* ]] || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  done < <(ps -eo pid=,args= 2>/dev/null || true)
  rm -f /run/postgrey.pid /var/run/postgrey.pid 2>/dev/null || true
  # Refuse to report success while a postfix master or a postgrey still listens on the system services' ports.
  local who
  for port in 25 10023; do
    who=$(ss -Hltnp "sport = :$port" 2>/dev/null | tr -s ' ' || true)
    if [[ "$who" == *'"master"'* || "$who" == *postgrey* ]]; then
      die "the system's postfix/postgrey still listens on port $port after being stopped: $who"
    elif [[ -n "$who" ]]; then
      echo "relay install: note: port $port is in use by something else: $who" >&2
    fi
  done
}

cmd_install() {
  need_root
  command -v apt-get >/dev/null || die "no apt-get: install postfix and postgrey by other means"
  local missing=() log
  for p in postfix postgrey; do installed "$p" || missing+=("$p"); done
  if ((${#missing[@]})); then
    log=$(mktemp)
    printf '%s\n' 'postfix postfix/main_mailer_type select Local only' 'postfix postfix/mailname string localhost' \
      | debconf-set-selections
    # Update the package lists only when apt does not know the packages, or the first try fails (stale lists).
    if [[ "$(apt-cache policy "${missing[@]}" 2>/dev/null | grep -c 'Candidate: (none)\|Candidate: $' || true)" != 0 ]] \
       || ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
      apt-get update -qq -o DPkg::Lock::Timeout=120 >>"$log" 2>&1 || true
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
      apt-get update -qq -o DPkg::Lock::Timeout=120 >>"$log" 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
        || { tail -n 30 "$log" >&2; rm -f "$log"; die "apt-get install ${missing[*]} failed"; }
    fi
    rm -f "$log"
  fi
  stop_system_services
  echo "relay install: postfix $(dpkg-query -W -f='${Version}' postfix), postgrey $(dpkg-query -W -f='${Version}' postgrey) installed; the system's own instances are not running"
}

# ------------------------------------------------------------------------------------------------------ instance args

PORT='' RELAY_TO='' DELAY='' DIR=''
parse() {
  while (($#)); do
    case "$1" in
      --port) PORT=${2:-}; shift 2 ;;
      --port=*) PORT=${1#*=}; shift ;;
      --relay-to) RELAY_TO=${2:-}; shift 2 ;;
      --relay-to=*) RELAY_TO=${1#*=}; shift ;;
      --greylist-delay) DELAY=${2:-}; shift 2 ;;
      --greylist-delay=*) DELAY=${1#*=}; shift ;;
      --dir) DIR=${2:-}; shift 2 ;;
      --dir=*) DIR=${1#*=}; shift ;;
      *) die "unknown argument: $1" ;;
    esac
  done
  [[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || die "--port P is required (1-65535)"
  DIR=${DIR:-${TMPDIR:-/tmp}/mail-dispatch-relay-$PORT}
  DIR=${DIR%/}
  [[ "$DIR" == /* ]] || DIR="$PWD/$DIR"
}

# The instance's processes, from its own files: the postfix master and postgrey.
master_pid() { head -n1 "$DIR/spool/pid/master.pid" 2>/dev/null | tr -d ' ' || true; }
postgrey_pid() {
  local pid
  pid=$(cat "$DIR/postgrey.pid" 2>/dev/null || true)
  # only when that pid still is our postgrey (a pid can be reused)
  [[ -n "$pid" ]] && ps -p "$pid" -o args= 2>/dev/null | grep -qF -- "--dbdir=$DIR/postgrey" && echo "$pid" || true
}
postfix_running() { [[ -f "$DIR/etc/main.cf" ]] && "$POSTFIX" -c "$DIR/etc" status >/dev/null 2>&1; }

smtp_greeting() { # port -> prints the first line the server sends, within 2 s
  local line=''
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  IFS= read -r -t 2 line <&3 || true
  printf 'QUIT\r\n' >&3 2>/dev/null || true
  exec 3<&- 3>&-
  printf '%s' "${line%$'\r'}"
}

free_port() { # a port nobody listens on, other than $1
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 30000))
    [[ "$p" != "$1" ]] && ! listening "$p" && { echo "$p"; return; }
  done
  die "found no free port for postgrey"
}

# --------------------------------------------------------------------------------------------------------------- down

stop_instance() {
  local mpid gpid children=()
  mpid=$(master_pid)
  gpid=$(postgrey_pid)
  # Both get their signal first and are then waited for together: each takes a second or two to exit.
  alive "$gpid" && kill "$gpid" 2>/dev/null || true # postgrey is one process (Net::Server::Multiplex)
  if alive "$mpid"; then
    mapfile -t children < <(ps -o pid= --ppid "$mpid" 2>/dev/null | tr -d ' ' || true)
    "$POSTFIX" -c "$DIR/etc" stop >/dev/null 2>&1 || kill "$mpid" 2>/dev/null || true
  fi
  for pid in "$mpid" "${children[@]}" "$gpid"; do
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  done
  return 0
}

cmd_down() {
  need_root
  parse "$@"
  if [[ ! -e "$DIR" ]]; then
    echo "relay down: nothing at $DIR (port $PORT)"
    return 0
  fi
  [[ -f "$DIR/$MARKER" ]] || die "$DIR was not made by this script (no $MARKER): not touching it"
  stop_instance
  rm -rf -- "$DIR"
  echo "relay down: port $PORT stopped, $DIR removed"
}

# ------------------------------------------------------------------------------------------------------------- status

cmd_status() {
  parse "$@"
  local greet
  if [[ -f "$DIR/$MARKER" ]] && postfix_running && alive "$(postgrey_pid)" && greet=$(smtp_greeting "$PORT") && [[ "$greet" == 220* ]]; then
    # shellcheck disable=SC1091
    source "$DIR/instance.env"
    echo "relay up: smtp://127.0.0.1:$PORT (greylist $GREYLIST_DELAY s, relaying to $RELAY_TO; postfix master $(master_pid), postgrey $(postgrey_pid) on 127.0.0.1:$POSTGREY_PORT; dir $DIR)"
    return 0
  fi
  echo "relay down: port $PORT (dir $DIR)"
  return 3
}

# ----------------------------------------------------------------------------------------------------------------- up

write_config() {
  local relay_host=$1 relay_port=$2 gport=$3
  local etc=$DIR/etc

  # Recipients refused for good: local part starting with "unknown". postfix answers
  # "550 5.1.1 <unknown-x@example.com>: Recipient address rejected: User unknown".
  cat >"$etc/recipient_access" <<'EOF'
/^unknown[^@]*@/    550 5.1.1 User unknown
EOF

  cat >"$etc/main.cf" <<EOF
# Private test relay made by scripts/relay.sh; not the system's postfix. Everything lives under $DIR.
compatibility_level = 3.6
config_directory = $etc
queue_directory = $DIR/spool
data_directory = $DIR/data
mail_owner = postfix
setgid_group = postdrop

# logs to a file (no syslog on these machines)
maillog_file = $DIR/postfix.log
maillog_file_prefixes = $DIR

myhostname = relay.localhost
mydomain = localhost
myorigin = localhost
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP mail-dispatch test relay (Postfix)

# loopback only, IPv4
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks_style = host
mynetworks = 127.0.0.0/8

# everything goes to the test sink
relayhost = [$relay_host]:$relay_port
default_transport = smtp
relay_transport = smtp
smtp_tls_security_level = none
smtp_sasl_auth_enable = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
smtp_connect_timeout = 2s
smtp_helo_timeout = 10s

# deliver (and retry) fast
queue_run_delay = 1s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
delay_warning_time = 0
in_flow_delay = 0

# RCPT: the "unknown" recipients fail for good first, then postgrey greylists every other recipient.
# The policy check stands before permit_mynetworks, so loopback clients are greylisted too (postgrey's
# DEFER_IF_PERMIT turns into 450 once permit_mynetworks permits).
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
    check_recipient_access regexp:$etc/recipient_access,
    check_policy_service inet:127.0.0.1:$gport,
    permit_mynetworks,
    reject_unauth_destination
smtpd_policy_service_timeout = 10s
smtpd_delay_reject = yes
# a test may refuse many recipients on one connection: no tarpit, no disconnect
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
EOF

  # Nothing chrooted (the private queue directory has no etc/ to chroot into); smtpd on 127.0.0.1:P only.
  cat >"$etc/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
$PORT     inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

  # postgrey's own whitelists, empty: the Debian defaults (/etc/postgrey/whitelist_*) would exempt clients and
  # recipients by name, and --whitelist-* given replaces them (and their .local files) entirely.
  printf '# empty on purpose: nothing is exempt from greylisting in the test relay\n' >"$DIR/whitelist_clients"
  printf '# empty on purpose: nothing is exempt from greylisting in the test relay\n' >"$DIR/whitelist_recipients"
}

fail_up() {
  {
    echo "relay: could not start the relay on 127.0.0.1:$PORT: $*"
    for f in "$DIR/postfix-start.log" "$DIR/postfix.log" "$DIR/postgrey.log"; do
      [[ -s "$f" ]] && { echo "--- $f (last lines)"; tail -n 20 "$f"; }
    done
  } >&2
  stop_instance
  rm -rf -- "$DIR"
  exit 1
}

cmd_up() {
  need_root
  parse "$@"
  [[ -x $POSTFIX && -x $POSTGREY ]] || die "postfix/postgrey are not installed: run 'bash scripts/relay.sh install' first"
  [[ "$DELAY" =~ ^[0-9]+$ ]] && ((DELAY >= 1)) || die "--greylist-delay S is required, in whole seconds, at least 1 (postgrey reads 0 as its default, 300)"
  [[ "$RELAY_TO" =~ ^(.+):([0-9]+)$ ]] || die "--relay-to HOST:PORT is required"
  local relay_host=${BASH_REMATCH[1]} relay_port=${BASH_REMATCH[2]}
  relay_host=${relay_host#[}; relay_host=${relay_host%]}
  [[ "$relay_host" == localhost ]] && relay_host=127.0.0.1
  [[ "$relay_host" =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--relay-to must be a loopback address (127.x.x.x), not $relay_host"

  # A previous instance on this port (or a crashed one's leftovers) goes first: each `up` starts afresh,
  # with an empty queue and greylist database.
  if [[ -e "$DIR" ]]; then
    [[ -f "$DIR/$MARKER" ]] || die "$DIR exists and was not made by this script: not touching it"
    stop_instance
    rm -rf -- "$DIR"
  fi
  listening "$PORT" && die "port $PORT is in use: $(ss -Hltnp "sport = :$PORT" | tr -s ' ')"

  local gport
  gport=$(free_port "$PORT")
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  : >"$DIR/$MARKER"
  mkdir -p "$DIR/etc" "$DIR/spool" "$DIR/data" "$DIR/postgrey"
  chmod 755 "$DIR/etc" "$DIR/spool"
  chown postfix:postfix "$DIR/data"
  chmod 700 "$DIR/data"
  chown postgrey:postgrey "$DIR/postgrey"
  chmod 700 "$DIR/postgrey"
  write_config "$relay_host" "$relay_port" "$gport"
  cat >"$DIR/instance.env" <<EOF
PORT=$PORT
RELAY_TO=$relay_host:$relay_port
GREYLIST_DELAY=$DELAY
POSTGREY_PORT=$gport
EOF

  # postgrey in the foreground of its own session, so its log goes to a file (with --daemonize it logs to
  # syslog only, and writes --pidfile only then): this script keeps its pid file itself. It takes a few seconds
  # to load, so postfix starts meanwhile; neither is used before both are ready.
  setsid "$POSTGREY" --inet="127.0.0.1:$gport" --delay="$DELAY" --dbdir="$DIR/postgrey" \
    --whitelist-clients="$DIR/whitelist_clients" --whitelist-recipients="$DIR/whitelist_recipients" \
    --auto-whitelist-clients=0 --max-age=1 --retry-window=1 --hostname=relay.localhost \
    </dev/null >>"$DIR/postgrey.log" 2>&1 &
  echo $! >"$DIR/postgrey.pid"

  # `postfix -c` works for root without listing the directory in /etc/postfix/main.cf's
  # alternate_config_directories: that check applies to unprivileged callers (sendmail, postqueue) only.
  "$POSTFIX" -c "$DIR/etc" check >"$DIR/postfix-start.log" 2>&1 || fail_up "postfix check failed"
  "$POSTFIX" -c "$DIR/etc" start </dev/null >>"$DIR/postfix-start.log" 2>&1 || fail_up "postfix start failed"

  for _ in $(seq 150); do
    alive "$(postgrey_pid)" || fail_up "postgrey exited"
    listening "$gport" && break
    sleep 0.1
  done
  listening "$gport" || fail_up "postgrey did not listen on 127.0.0.1:$gport within 15 s"

  local greet=''
  for _ in $(seq 100); do
    greet=$(smtp_greeting "$PORT" || true)
    [[ "$greet" == 220* ]] && break
    sleep 0.1
  done
  [[ "$greet" == 220* ]] || fail_up "127.0.0.1:$PORT did not greet with 220 within 10 s (got: ${greet:-nothing})"
  echo "relay up: smtp://127.0.0.1:$PORT (greylist $DELAY s, relaying to $relay_host:$relay_port)"
}

# --------------------------------------------------------------------------------------------------------------- main

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) echo "usage: bash scripts/relay.sh install | up --port P --relay-to HOST:PORT --greylist-delay S [--dir D] | down --port P [--dir D] | status --port P [--dir D]" >&2; exit 2 ;;
esac
