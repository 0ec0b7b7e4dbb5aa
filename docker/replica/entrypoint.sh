#!/usr/bin/env bash
# Entrypoint of timescaledb-replica: a streaming hot standby of the primary.
#
# On first start (no database in PGDATA) it copies the primary with pg_basebackup as
# DB_REPLICATION_USER (the role docker/init/01-init-timescaledb.sql creates, allowed
# in the primary's pg_hba.conf) into PGDATA, with its own physical replication slot
# REPLICA_SLOT_NAME, so the primary keeps the WAL this replica has not received yet
# (up to max_slot_wal_keep_size). `-R` leaves standby.signal and primary_conninfo: the
# server then starts as a hot standby, replays the primary's WAL and answers reads;
# after a primary restart its WAL receiver reconnects by itself. Later starts find the
# copy and only start the server, through the image's own entrypoint.
#
# Environment: PRIMARY_HOST, PRIMARY_PORT, DB_REPLICATION_USER, DB_REPLICATION_PASSWORD
# (or DB_REPLICATION_PASSWORD_FILE, a Docker secret), REPLICA_SLOT_NAME, PGDATA,
# REPLICA_WAIT_SECONDS (how long to wait for the primary on first start, default 600).
set -Eeuo pipefail

log() { printf '%s: %s\n' "replica-entrypoint" "$*" >&2; }
die() { log "error: $*"; exit 1; }

: "${PGDATA:=/var/lib/postgresql/data}"
: "${PRIMARY_HOST:=timescaledb}"
: "${PRIMARY_PORT:=5432}"
: "${DB_REPLICATION_USER:=llm_observatory_replication}"
: "${REPLICA_SLOT_NAME:=timescaledb_replica}"
: "${REPLICA_WAIT_SECONDS:=600}"

# The password from its file (Swarm secret) or the variable, never both.
if [[ -n ${DB_REPLICATION_PASSWORD_FILE:-} ]]; then
  [[ -z ${DB_REPLICATION_PASSWORD:-} ]] ||
    die "both DB_REPLICATION_PASSWORD and DB_REPLICATION_PASSWORD_FILE are set"
  DB_REPLICATION_PASSWORD=$(<"$DB_REPLICATION_PASSWORD_FILE")
fi
[[ -n ${DB_REPLICATION_PASSWORD:-} ]] || die "DB_REPLICATION_PASSWORD is not set"

# Slot names are [a-z0-9_]: Swarm's "replica_{{.Task.Slot}}" is one already.
slot=$(printf '%s' "$REPLICA_SLOT_NAME" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_' '_')

# As root: own the data directory, then run this script again as postgres (the
# upstream image has su-exec or gosu, the Debian stand-in setpriv).
if [[ $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA" "$(dirname "$PGDATA")"
  chmod 0700 "$PGDATA"
  mkdir -p /var/run/postgresql
  chown postgres:postgres /var/run/postgresql
  chmod 03775 /var/run/postgresql
  export DB_REPLICATION_PASSWORD
  unset DB_REPLICATION_PASSWORD_FILE
  if command -v su-exec >/dev/null; then
    exec su-exec postgres bash "${BASH_SOURCE[0]}" "$@"
  elif command -v gosu >/dev/null; then
    exec gosu postgres bash "${BASH_SOURCE[0]}" "$@"
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups bash "${BASH_SOURCE[0]}" "$@"
fi

basebackup() {
  # A copy that stopped half-way is no database: start from an empty directory.
  find "$PGDATA" -mindepth 1 -delete
  local out
  if out=$(copy --create-slot 2>&1); then
    return 0
  fi
  # The slot outlives a lost replica volume: reuse it.
  if [[ $out == *"already exists"* ]]; then
    find "$PGDATA" -mindepth 1 -delete
    out=$(copy 2>&1) && return 0
  fi
  log "pg_basebackup: ${out//$'\n'/ }"
  return 1
}

copy() {
  PGPASSWORD=$DB_REPLICATION_PASSWORD pg_basebackup \
    --dbname="host=$PRIMARY_HOST port=$PRIMARY_PORT user=$DB_REPLICATION_USER connect_timeout=5 application_name=$slot" \
    --pgdata="$PGDATA" --wal-method=stream --checkpoint=fast \
    --slot="$slot" --write-recovery-conf --no-password "$@"
}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  log "no database in $PGDATA: copying $PRIMARY_HOST:$PRIMARY_PORT (slot $slot)"
  deadline=$((SECONDS + REPLICA_WAIT_SECONDS))
  until basebackup; do
    ((SECONDS < deadline)) || die "no copy of $PRIMARY_HOST:$PRIMARY_PORT after ${REPLICA_WAIT_SECONDS}s"
    log "primary not ready for a copy yet; retrying in 3s"
    sleep 3
  done
  # Readable in pg_stat_replication as this slot's name.
  printf "\n# timescaledb-replica\ncluster_name = '%s'\n" "$slot" >>"$PGDATA/postgresql.auto.conf"
  log "copy complete; starting as a hot standby"
fi
[[ -e $PGDATA/standby.signal ]] || die "$PGDATA is not a standby (no standby.signal): refusing to start a second primary"

exec docker-entrypoint.sh "$@"
