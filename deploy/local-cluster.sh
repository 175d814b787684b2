#!/usr/bin/env bash
# A PostgreSQL primary and a streaming replica on this machine, for development and tests.
#
#   deploy/local-cluster.sh start    # prints PRIMARY_URL=..., REPLICA_URL=..., CLUSTER_DIR=..., STATE_FILE=...
#   deploy/local-cluster.sh status   # exit 0 when both servers run and the replica streams, else 3
#   deploy/local-cluster.sh stop     # stops both servers and removes their folders
#
# `eval "$(deploy/local-cluster.sh start)"` sets the four variables in the calling shell.
#
# Environment:
#   DANGVIEN_CLUSTER_STATE    state file (default: ${TMPDIR:-/tmp}/dangvien-local-cluster.<uid>.state);
#                             give each concurrent cluster its own
#   DANGVIEN_CLUSTER_DIR      folder for the servers' data (default: a new temporary folder); it must
#                             be missing or empty, and `stop` removes it
#   DANGVIEN_CLUSTER_TIMEOUT  seconds to wait for each server to start and for the replica to
#                             stream (default: 60)
#   DANGVIEN_PG_BINDIR        folder of initdb, pg_ctl, psql, pg_basebackup (default: found from
#                             pg_config --bindir or /usr/lib/postgresql/*/bin, newest first)
#
# Both servers listen on 127.0.0.1 only, on free ports, with unix sockets inside the cluster folder.
# The application role `dangvien` (LOGIN CREATEDB, member of pg_monitor, allowed to pause and
# resume WAL replay on the replica) and the role `replicator` (REPLICATION) log in with random
# passwords. As root, the servers run as the `postgres` system user, created if missing, because
# PostgreSQL refuses to run as root. Exit status 69 means the PostgreSQL binaries are missing.
set -euo pipefail

readonly APP_ROLE=dangvien
readonly REPLICATION_ROLE=replicator
readonly SUPERUSER=postgres
readonly SYSTEM_USER=postgres
readonly SLOT=dangvien_replica
readonly REPLICA_NAME=dangvien_replica
readonly EX_UNAVAILABLE=69

STATE_FILE=${DANGVIEN_CLUSTER_STATE:-${TMPDIR:-/tmp}/dangvien-local-cluster.$(id -u).state}
TIMEOUT=${DANGVIEN_CLUSTER_TIMEOUT:-60}
# Connection settings from the caller's environment must not redirect our own psql calls.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE PGSERVICEFILE PGOPTIONS PGPASSFILE

AS_ROOT=no
[[ $(id -u) -eq 0 ]] && AS_ROOT=yes

# Set by start, or read back from the state file.
BINDIR=""
CLUSTER_DIR=""
REMOVE_DIR=""
PRIMARY_PORT=""
REPLICA_PORT=""
PRIMARY_URL=""
REPLICA_URL=""

say() { printf 'local-cluster: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: local-cluster.sh start|stop|status
  start   initdb a primary, pg_basebackup a streaming replica, start both, print their URLs
  status  show both servers and the replication state (exit 0 when both run and stream)
  stop    stop both servers and remove their folders
EOF
  exit 2
}

find_bindir() {
  local candidates=() folder
  if [[ -n ${DANGVIEN_PG_BINDIR:-} ]]; then
    candidates+=("$DANGVIEN_PG_BINDIR")
  fi
  # libpq-dev ships pg_config without the server, so its answer is only a candidate.
  if command -v pg_config >/dev/null 2>&1; then
    candidates+=("$(pg_config --bindir 2>/dev/null || true)")
  fi
  # Debian keeps the server off PATH, one folder per major version: newest first.
  while IFS= read -r folder; do
    candidates+=("$folder")
  done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -t/ -k5,5nr)
  if command -v initdb >/dev/null 2>&1; then
    candidates+=("$(dirname "$(command -v initdb)")")
  fi
  for folder in "${candidates[@]}"; do
    [[ -n $folder ]] || continue
    if [[ -x $folder/initdb && -x $folder/pg_ctl && -x $folder/psql && -x $folder/pg_basebackup ]]; then
      BINDIR=$folder
      return 0
    fi
  done
  say "PostgreSQL server binaries (initdb, pg_ctl, psql, pg_basebackup) not found;"
  say "install them (Debian/Ubuntu: apt-get install postgresql) or set DANGVIEN_PG_BINDIR"
  exit "$EX_UNAVAILABLE"
}

# Run a PostgreSQL binary, as the postgres system user when we are root. The working directory is
# the cluster folder because the system user may not be allowed into the caller's.
pg() {
  local tool=$1
  shift
  if [[ $AS_ROOT == yes ]]; then
    (cd "$CLUSTER_DIR" && runuser -u "$SYSTEM_USER" -- "$BINDIR/$tool" "$@")
  else
    (cd "$CLUSTER_DIR" && "$BINDIR/$tool" "$@")
  fi
}

# Same, with environment variables set for the tool only: pg_env VAR=value... -- tool args...
pg_env() {
  local settings=()
  while [[ $1 != -- ]]; do
    settings+=("$1")
    shift
  done
  shift
  local tool=$1
  shift
  if [[ $AS_ROOT == yes ]]; then
    (cd "$CLUSTER_DIR" && runuser -u "$SYSTEM_USER" -- env "${settings[@]}" "$BINDIR/$tool" "$@")
  else
    (cd "$CLUSTER_DIR" && env "${settings[@]}" "$BINDIR/$tool" "$@")
  fi
}

# Run statements as the superuser over the unix socket, printing bare values:
# sql PORT QUERY [--command=QUERY...], in the database SQL_DB (default postgres)
sql() {
  local port=$1 query=$2
  shift 2
  pg psql --no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 \
    --host="$CLUSTER_DIR/run" --port="$port" --username="$SUPERUSER" --dbname="${SQL_DB:-postgres}" \
    --command="$query" "$@"
}

ensure_system_user() {
  if ! id -u "$SYSTEM_USER" >/dev/null 2>&1; then
    say "creating the system user $SYSTEM_USER"
    useradd --system --user-group --no-create-home "$SYSTEM_USER"
  fi
}

random_password() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# A port nothing listens on; another program may still take it first, so start_server retries.
candidate_port() {
  local port
  while :; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
}

# Start the server in DATA on a free port; set STARTED_PORT. Retries when the port was taken.
start_server() {
  local data=$1 log=$2 attempt port
  for attempt in 1 2 3 4 5; do
    port=$(candidate_port)
    if pg pg_ctl start --wait --timeout="$TIMEOUT" --pgdata="$data" --log="$log" \
      --options="-p $port" >/dev/null; then
      STARTED_PORT=$port
      return 0
    fi
    if ! grep -q -i -E 'could not bind|address already in use|could not create any TCP/IP sockets' "$log" 2>/dev/null; then
      break
    fi
    say "port $port was taken (attempt $attempt); trying another"
  done
  cat "$log" >&2 2>/dev/null || true
  die "could not start the server in $data"
}

write_state() {
  local temp="$STATE_FILE.new"
  (
    umask 077
    cat >"$temp" <<EOF
BINDIR=$BINDIR
CLUSTER_DIR=$CLUSTER_DIR
REMOVE_DIR=$REMOVE_DIR
PRIMARY_PORT=$PRIMARY_PORT
REPLICA_PORT=$REPLICA_PORT
PRIMARY_URL=$PRIMARY_URL
REPLICA_URL=$REPLICA_URL
EOF
  )
  mv "$temp" "$STATE_FILE"
}

# Read the state file as data, never as code.
read_state() {
  local key value
  [[ -f $STATE_FILE ]] || return 1
  while IFS='=' read -r key value; do
    case $key in
      BINDIR) BINDIR=$value ;;
      CLUSTER_DIR) CLUSTER_DIR=$value ;;
      REMOVE_DIR) REMOVE_DIR=$value ;;
      PRIMARY_PORT) PRIMARY_PORT=$value ;;
      REPLICA_PORT) REPLICA_PORT=$value ;;
      PRIMARY_URL) PRIMARY_URL=$value ;;
      REPLICA_URL) REPLICA_URL=$value ;;
      *) ;;
    esac
  done <"$STATE_FILE"
  [[ -n $CLUSTER_DIR ]]
}

server_runs() { [[ -f $1/postmaster.pid ]] && pg pg_ctl status --pgdata="$1" >/dev/null 2>&1; }

stop_server() {
  local data=$1
  [[ -d $data ]] || return 0
  server_runs "$data" || return 0
  pg pg_ctl stop --wait --timeout="$TIMEOUT" --pgdata="$data" --mode=fast >/dev/null ||
    pg pg_ctl stop --wait --timeout="$TIMEOUT" --pgdata="$data" --mode=immediate >/dev/null
}

# Stop whatever runs (replica first, so it does not spin reconnecting) and remove our folders.
teardown() {
  [[ -n $CLUSTER_DIR && -d $CLUSTER_DIR ]] || return 0
  stop_server "$CLUSTER_DIR/replica"
  stop_server "$CLUSTER_DIR/primary"
  if [[ $REMOVE_DIR == yes ]]; then
    rm -rf -- "$CLUSTER_DIR"
  else
    rm -rf -- "$CLUSTER_DIR/primary" "$CLUSTER_DIR/replica" "$CLUSTER_DIR/run" \
      "$CLUSTER_DIR/primary.log" "$CLUSTER_DIR/replica.log" "$CLUSTER_DIR/pgpass"
  fi
}

# Choose (and create if needed) the cluster folder; sets CLUSTER_DIR and REMOVE_DIR.
choose_folder() {
  if [[ -n ${DANGVIEN_CLUSTER_DIR:-} ]]; then
    if [[ -e $DANGVIEN_CLUSTER_DIR ]]; then
      [[ -d $DANGVIEN_CLUSTER_DIR ]] || die "DANGVIEN_CLUSTER_DIR=$DANGVIEN_CLUSTER_DIR is not a folder"
      [[ -z $(ls -A -- "$DANGVIEN_CLUSTER_DIR") ]] || die "DANGVIEN_CLUSTER_DIR=$DANGVIEN_CLUSTER_DIR is not empty"
      REMOVE_DIR=no
    else
      mkdir -p -- "$DANGVIEN_CLUSTER_DIR"
      REMOVE_DIR=yes
    fi
    CLUSTER_DIR=$(cd -- "$DANGVIEN_CLUSTER_DIR" && pwd -P)
  else
    CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dangvien-cluster.XXXXXX")
    REMOVE_DIR=yes
  fi
}

# Hand the folder to the user the servers run as.
own_folder() {
  chmod 700 "$CLUSTER_DIR"
  mkdir -m 700 "$CLUSTER_DIR/run"
  if [[ $AS_ROOT == yes ]]; then
    ensure_system_user
    chown "$SYSTEM_USER:" "$CLUSTER_DIR" "$CLUSTER_DIR/run"
    if ! runuser -u "$SYSTEM_USER" -- test -w "$CLUSTER_DIR"; then
      die "the $SYSTEM_USER user cannot reach $CLUSTER_DIR (a parent folder is closed to it); choose another DANGVIEN_CLUSTER_DIR"
    fi
  fi
}

cmd_start() {
  if read_state; then
    die "$STATE_FILE records a cluster in $CLUSTER_DIR: run stop first, or set DANGVIEN_CLUSTER_STATE"
  fi
  find_bindir
  choose_folder
  # From here on a failure must not leave servers or folders behind.
  trap 'rc=$?; if ((rc != 0)); then say "start failed; cleaning up"; teardown; rm -f -- "$STATE_FILE"; fi' EXIT
  own_folder

  local primary=$CLUSTER_DIR/primary replica=$CLUSTER_DIR/replica
  local app_password replication_password
  app_password=$(random_password)
  replication_password=$(random_password)

  say "initdb $primary"
  pg initdb --pgdata="$primary" --username="$SUPERUSER" --no-sync --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
  # A throw-away cluster: durability is not worth the fsyncs. wal_level=replica is the default in
  # 15, said here because streaming needs it.
  cat >>"$primary/postgresql.conf" <<EOF

# --- deploy/local-cluster.sh ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$CLUSTER_DIR/run'
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
hot_standby_feedback = on
fsync = off
EOF
  start_server "$primary" "$CLUSTER_DIR/primary.log"
  PRIMARY_PORT=$STARTED_PORT
  write_state

  sql "$PRIMARY_PORT" "CREATE ROLE $REPLICATION_ROLE LOGIN REPLICATION PASSWORD '$replication_password'" \
    --command="CREATE ROLE $APP_ROLE LOGIN CREATEDB PASSWORD '$app_password'" \
    --command="GRANT pg_monitor TO $APP_ROLE" >/dev/null
  # Function privileges live in each database: granted in template1, they reach every database
  # made afterwards, the application's and those the tests create, and replicate to the replica.
  SQL_DB=template1 sql "$PRIMARY_PORT" \
    "GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO $APP_ROLE" >/dev/null
  # Alone in its --command: CREATE DATABASE cannot run inside a transaction block.
  sql "$PRIMARY_PORT" "CREATE DATABASE $APP_ROLE OWNER $APP_ROLE" >/dev/null

  say "pg_basebackup $replica"
  local passfile=$CLUSTER_DIR/pgpass
  (
    umask 077
    printf '127.0.0.1:%s:*:%s:%s\n' "$PRIMARY_PORT" "$REPLICATION_ROLE" "$replication_password" >"$passfile"
  )
  [[ $AS_ROOT == no ]] || chown "$SYSTEM_USER:" "$passfile"
  # -R writes standby.signal and primary_conninfo; the slot keeps the WAL the replica still needs.
  pg_env "PGPASSFILE=$passfile" -- pg_basebackup --pgdata="$replica" --host=127.0.0.1 \
    --port="$PRIMARY_PORT" --username="$REPLICATION_ROLE" --no-password --wal-method=stream \
    --checkpoint=fast --write-recovery-conf --create-slot --slot="$SLOT" --no-sync
  cat >>"$replica/postgresql.auto.conf" <<EOF
primary_conninfo = 'host=127.0.0.1 port=$PRIMARY_PORT user=$REPLICATION_ROLE passfile=''$passfile'' application_name=$REPLICA_NAME'
primary_slot_name = '$SLOT'
EOF
  start_server "$replica" "$CLUSTER_DIR/replica.log"
  REPLICA_PORT=$STARTED_PORT
  PRIMARY_URL="postgresql://$APP_ROLE:$app_password@127.0.0.1:$PRIMARY_PORT/$APP_ROLE"
  REPLICA_URL="postgresql://$APP_ROLE:$app_password@127.0.0.1:$REPLICA_PORT/$APP_ROLE"
  write_state

  say "waiting for the replica to stream"
  local deadline=$((SECONDS + TIMEOUT))
  until [[ $(sql "$PRIMARY_PORT" "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$REPLICA_NAME' AND state = 'streaming'") == 1 &&
    $(sql "$REPLICA_PORT" "SELECT pg_is_in_recovery()") == t ]]; do
    if ((SECONDS >= deadline)); then
      cat "$CLUSTER_DIR/replica.log" >&2 || true
      die "the replica did not start streaming within ${TIMEOUT}s"
    fi
    sleep 0.2
  done
  trap - EXIT
  say "primary on port $PRIMARY_PORT, replica on port $REPLICA_PORT, streaming"
  printf 'PRIMARY_URL=%s\nREPLICA_URL=%s\nCLUSTER_DIR=%s\nSTATE_FILE=%s\n' \
    "$PRIMARY_URL" "$REPLICA_URL" "$CLUSTER_DIR" "$STATE_FILE"
}

cmd_stop() {
  if ! read_state; then
    say "no cluster recorded in $STATE_FILE"
    return 0
  fi
  [[ -n $BINDIR ]] || find_bindir
  teardown
  rm -f -- "$STATE_FILE"
  say "stopped and removed $CLUSTER_DIR"
}

cmd_status() {
  if ! read_state; then
    say "no cluster recorded in $STATE_FILE"
    return 3
  fi
  [[ -n $BINDIR ]] || find_bindir
  local healthy=yes streaming="" recovering=""
  if server_runs "$CLUSTER_DIR/primary"; then
    streaming=$(sql "$PRIMARY_PORT" "SELECT coalesce(max(state), 'none') FROM pg_stat_replication WHERE application_name = '$REPLICA_NAME'" || echo unknown)
    echo "primary: running on port $PRIMARY_PORT (replication: $streaming)"
    [[ $streaming == streaming ]] || healthy=no
  else
    echo "primary: not running"
    healthy=no
  fi
  if server_runs "$CLUSTER_DIR/replica"; then
    recovering=$(sql "$REPLICA_PORT" "SELECT pg_is_in_recovery()" || echo unknown)
    echo "replica: running on port $REPLICA_PORT (in recovery: $recovering)"
    [[ $recovering == t ]] || healthy=no
  else
    echo "replica: not running"
    healthy=no
  fi
  printf 'PRIMARY_URL=%s\nREPLICA_URL=%s\nCLUSTER_DIR=%s\nSTATE_FILE=%s\n' \
    "$PRIMARY_URL" "$REPLICA_URL" "$CLUSTER_DIR" "$STATE_FILE"
  [[ $healthy == yes ]] || return 3
}

main() {
  (($# == 1)) || usage
  case $1 in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) usage ;;
  esac
}

main "$@"
