#!/usr/bin/env bash
# Entrypoint of the airgap TimescaleDB stand-in: the official postgres image's interface
# (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA, POSTGRES_INITDB_ARGS,
# POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD, *_FILE variants,
# /docker-entrypoint-initdb.d) on Debian's PostgreSQL 17 + TimescaleDB.
#
# Differences from the official image, on purpose:
# - the init-time server listens on no TCP port and on a private socket directory, so
#   `pg_isready` (default socket /var/run/postgresql) answers only once the real server
#   is up: a healthcheck never passes during initialisation;
# - TCP from 127.0.0.1 needs the password too (pg_hba: local trust, host scram-sha-256);
# - an initialisation that failed half-way is not mistaken for a database on the next
#   start: the container refuses to start until the data directory is emptied.
set -Eeo pipefail

INIT_MARKER_NAME=.airgap-init-incomplete

log() { printf '%s: %s\n' "${0##*/}" "$*"; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# usage: file_env VAR [DEFAULT] -- VAR or VAR_FILE (the file's content), not both.
file_env() {
  local var=$1 fileVar="${1}_FILE" def=${2:-}
  if [[ -n ${!var:-} && -n ${!fileVar:-} ]]; then
    die "both $var and $fileVar are set (but are exclusive)"
  fi
  local val=$def
  if [[ -n ${!var:-} ]]; then
    val=${!var}
  elif [[ -n ${!fileVar:-} ]]; then
    val=$(<"${!fileVar}")
  fi
  export "$var"="$val"
  unset "$fileVar"
}

# postgres --help / --version and friends: no initialisation needed.
pg_wants_help() {
  local arg
  for arg; do
    case "$arg" in
      -'?' | --help | --describe-config | -V | --version) return 0 ;;
    esac
  done
  return 1
}

setup_env() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  : "${PGDATA:=/var/lib/postgresql/data}"
  export PGDATA
}

check_password() {
  if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
    cat >&2 <<'EOM'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.

       See PostgreSQL documentation about "trust":
       https://www.postgresql.org/docs/current/auth-trust.html
EOM
    exit 1
  fi
  if [[ $POSTGRES_HOST_AUTH_METHOD == trust ]]; then
    log "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every TCP connection is accepted without a password."
  fi
}

# As root: own the data and socket directories, then come back as postgres.
drop_privileges() {
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" || :
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  mkdir -p /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 03775 /var/run/postgresql
  if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 700 "$POSTGRES_INITDB_WALDIR"
  fi
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
}

init_database_dir() {
  mkdir -p "$PGDATA"
  chmod 00700 "$PGDATA" 2>/dev/null || :
  if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
    set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
  fi
  local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256} pwfile=
  if [[ -n $POSTGRES_PASSWORD ]]; then
    pwfile=$(mktemp /tmp/pg-init-pwfile.XXXXXX)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    set -- --pwfile="$pwfile" "$@"
  fi
  # POSTGRES_INITDB_ARGS is word-split with shell quoting, as in the official image.
  eval 'initdb --username="$POSTGRES_USER" --auth-local=trust --auth-host="$auth" '"$POSTGRES_INITDB_ARGS"' "$@"'
  [[ -z $pwfile ]] || rm -f "$pwfile"
  # initdb wrote entries for 127.0.0.1/::1 with $auth; every other address the same way.
  printf '\n# Added by docker-entrypoint.sh\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
  local encryption=scram-sha-256
  if [[ $auth == md5 ]]; then encryption=md5; fi
  printf "\npassword_encryption = '%s'\n" "$encryption" >> "$PGDATA/postgresql.conf"
}

# The init-time server: no TCP, private socket, the command's own -c options.
temp_server_start() {
  [[ ${1:-} == postgres ]] && shift
  INIT_SOCKET_DIR=$(mktemp -d /tmp/pg-init-socket.XXXXXX)
  INIT_PGPORT_WAS_SET=${PGPORT+yes}
  export PGHOST=$INIT_SOCKET_DIR
  export PGPORT=${PGPORT:-5432}
  set -- "$@" -c listen_addresses= -c "unix_socket_directories=$INIT_SOCKET_DIR" -p "$PGPORT"
  PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
  PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -m fast -w stop
  rm -rf "$INIT_SOCKET_DIR"
  unset PGHOST INIT_SOCKET_DIR
  [[ -n $INIT_PGPORT_WAS_SET ]] || unset PGPORT
}

# usage: sql_in DB [PSQL-ARGS...] -- psql as POSTGRES_USER; stops at the first error.
sql_in() {
  local db=$1
  shift
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname "$db" "$@"
}

# psql against POSTGRES_DB (the name the official image gives it).
docker_process_sql() { sql_in "$POSTGRES_DB" "$@"; }

setup_db() {
  local sql="SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS timescaledb CASCADE;"
  # Like the timescale image: the extension in template1 (new databases inherit it),
  # in postgres, and in POSTGRES_DB.
  log "creating extension timescaledb in template1 and postgres"
  sql_in template1 -q -c "$sql"
  sql_in postgres -q -c "$sql"
  if [[ $POSTGRES_DB != postgres ]]; then
    local exists
    exists=$(sql_in postgres --set db="$POSTGRES_DB" --tuples-only --no-align \
      <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
    if [[ -z $exists ]]; then
      log "creating database $POSTGRES_DB"
      sql_in postgres --set db="$POSTGRES_DB" -q <<<'CREATE DATABASE :"db";'
    fi
    log "creating extension timescaledb in $POSTGRES_DB"
    sql_in "$POSTGRES_DB" -q -c "$sql"
  fi
}

# usage: process_init_files FILE... -- .sh sourced (executed if executable), .sql and
# compressed .sql through psql; anything failing stops everything (set -e).
process_init_files() {
  local f
  for f; do
    case "$f" in
      *.sh)
        if [[ -x $f ]]; then
          log "running $f"
          "$f"
        else
          log "sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) log "running $f"; docker_process_sql -f "$f"; echo ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | docker_process_sql; echo ;;
      *.sql.xz) log "running $f"; xzcat "$f" | docker_process_sql; echo ;;
      *.sql.zst) log "running $f"; zstd -dc "$f" | docker_process_sql; echo ;;
      *) log "ignoring $f" ;;
    esac
  done
}

on_init_error() {
  local rc=$?
  printf '\n%s: error: initialisation of %s FAILED (exit %s); the database is NOT usable.\n' \
    "${0##*/}" "$PGDATA" "$rc" >&2
  printf '%s: empty %s (remove the volume) before starting again.\n' "${0##*/}" "$PGDATA" >&2
  exit "$rc"
}

main() {
  if [[ ${1:0:1} == - ]]; then
    set -- postgres "$@"
  fi

  if [[ $1 != postgres ]] || pg_wants_help "$@"; then
    exec "$@"
  fi

  setup_env

  if [[ $(id -u) == 0 ]]; then
    drop_privileges "$@"
  fi

  if [[ -e $PGDATA/$INIT_MARKER_NAME ]]; then
    die "an earlier initialisation of $PGDATA failed (see that run's log); empty the data directory (remove the volume) to initialise again"
  fi

  if [[ ! -s $PGDATA/PG_VERSION ]]; then
    check_password
    trap on_init_error ERR
    init_database_dir
    : > "$PGDATA/$INIT_MARKER_NAME"

    export POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB
    export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}
    # Init scripts that call plain psql reach the temp server, as POSTGRES_USER, in
    # POSTGRES_DB, unless they say otherwise.
    export PGUSER=${PGUSER:-$POSTGRES_USER} PGDATABASE=${PGDATABASE:-$POSTGRES_DB}
    temp_server_start "$@"
    setup_db
    shopt -s nullglob
    process_init_files /docker-entrypoint-initdb.d/*
    shopt -u nullglob
    temp_server_stop
    unset PGPASSWORD PGUSER PGDATABASE
    rm -f "$PGDATA/$INIT_MARKER_NAME"
    trap - ERR
    echo
    log "PostgreSQL init process complete; ready for start up."
    echo
  else
    log "PostgreSQL database directory appears to contain a database; skipping initialisation"
  fi

  exec "$@"
}

main "$@"
