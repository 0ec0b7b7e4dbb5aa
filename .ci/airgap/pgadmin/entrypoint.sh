#!/usr/bin/env bash
# Entrypoint of the pgAdmin stand-in, with the upstream image's interface:
#   PGADMIN_DEFAULT_EMAIL, PGADMIN_DEFAULT_PASSWORD (or _FILE)  first user, required on
#                                                    first start
#   PGADMIN_CONFIG_<NAME>=<python literal>          written to config_distro.py once
#   PGADMIN_CUSTOM_CONFIG_DISTRO_FILE                where that file is (default
#                                                    /pgadmin4/config_distro.py)
#   PGADMIN_SERVER_JSON_FILE                         servers to register on first start
#                                                    (default /pgadmin4/servers.json)
#   PGADMIN_REPLACE_SERVERS_ON_STARTUP=True          ...or on every start, replacing them
#   PGADMIN_PREFERENCES_JSON_FILE, PGPASS_FILE       preferences / .pgpass of that user
#   PGADMIN_LISTEN_ADDRESS ([::]), PGADMIN_LISTEN_PORT (80, or 443 with TLS),
#   PGADMIN_ENABLE_TLS (/certs/server.cert + .key), PGADMIN_ENABLE_SOCK,
#   GUNICORN_THREADS (25), GUNICORN_LIMIT_REQUEST_LINE (8190), GUNICORN_ACCESS_LOGFILE (-)
# PGADMIN_DISABLE_POSTFIX: this image has no Postfix to start; unset, it says so.
set -Eeo pipefail

APP=/pgadmin4
PY=/venv/bin/python3
DATA=/var/lib/pgadmin

log() { printf 'pgadmin-entrypoint: %s\n' "$*"; }
die() { printf 'pgadmin-entrypoint: error: %s\n' "$*" >&2; exit 1; }

# usage: from_file VAR -- VAR, or the content of the file VAR_FILE names; not both.
from_file() {
  local var=$1 file_var="${1}_FILE"
  if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
    die "both $var and $file_var are set (but are exclusive)"
  fi
  if [[ -z ${!var:-} && -n ${!file_var:-} ]]; then
    export "$var"="$(<"${!file_var}")"
  fi
}

from_file PGADMIN_DEFAULT_PASSWORD
[[ -z ${PGADMIN_CONFIG_CONFIG_DATABASE_URI_FILE:-} ]] || from_file PGADMIN_CONFIG_CONFIG_DATABASE_URI

# pgAdmin's config.py reads this path (evaluate_config.py).
export CONFIG_DISTRO_FILE_PATH=${PGADMIN_CUSTOM_CONFIG_DISTRO_FILE:-$APP/config_distro.py}
if [[ ! -s $CONFIG_DISTRO_FILE_PATH ]]; then
  {
    echo "CA_FILE = '/etc/ssl/certs/ca-certificates.crt'"
    echo "LOG_FILE = '/dev/null'"
    # The wheel's own distribution settings (its docs sit in docs/en_US/_build/html).
    echo "HELP_PATH = '../../docs/en_US/_build/html/'"
    echo "MINIFY_HTML = False"
    # Each PGADMIN_CONFIG_X=value becomes `X = value`: the value is Python ('text',
    # True, 123), exactly as given.
    while IFS= read -r name; do
      echo "${name#PGADMIN_CONFIG_} = ${!name}"
    done < <(compgen -e | grep '^PGADMIN_CONFIG_' | LC_ALL=C sort)
  } >"$CONFIG_DISTRO_FILE_PATH"
fi

server_mode() {
  [[ ${PGADMIN_CONFIG_SERVER_MODE:-True} != False ]]
}

# A pgAdmin command-line call (setup.py): as the first user in server mode.
setup_cli() {
  local command=$1
  shift
  if server_mode; then
    "$PY" "$APP/setup.py" "$command" "$@" --user "$PGADMIN_DEFAULT_EMAIL"
  else
    "$PY" "$APP/setup.py" "$command" "$@"
  fi
}

external_db=False
if [[ -n ${PGADMIN_CONFIG_CONFIG_DATABASE_URI:-} ]]; then
  external_db=$(cd "$APP/pgadmin/utils" && "$PY" -c \
    'import sys; from check_external_config_db import check_external_config_db as c; print(c(sys.argv[1]))' \
    "$PGADMIN_CONFIG_CONFIG_DATABASE_URI")
fi

servers_file=${PGADMIN_SERVER_JSON_FILE:-$APP/servers.json}
if [[ ! -f $DATA/pgadmin4.db && $external_db == False ]]; then
  if [[ -z ${PGADMIN_DEFAULT_EMAIL:-} || -z ${PGADMIN_DEFAULT_PASSWORD:-} ]]; then
    die "set PGADMIN_DEFAULT_EMAIL and PGADMIN_DEFAULT_PASSWORD (or PGADMIN_DEFAULT_PASSWORD_FILE)"
  fi
  # pgAdmin's own check, with the settings given as PGADMIN_CONFIG_* (config.py's
  # defaults otherwise): a special-use domain such as .local needs
  # PGADMIN_CONFIG_ALLOW_SPECIAL_EMAIL_DOMAINS.
  if ! (cd "$APP/pgadmin/utils" && "$PY" - "$PGADMIN_DEFAULT_EMAIL" <<'PY'
import ast
import os
import sys

from validation_utils import validate_email

defaults = {
    "CHECK_EMAIL_DELIVERABILITY": False,
    "ALLOW_SPECIAL_EMAIL_DOMAINS": [],
    "GLOBALLY_DELIVERABLE": True,
}
settings = {
    name: ast.literal_eval(os.environ[f"PGADMIN_CONFIG_{name}"])
    if f"PGADMIN_CONFIG_{name}" in os.environ
    else default
    for name, default in defaults.items()
}
sys.exit(0 if validate_email(sys.argv[1], settings) else 1)
PY
  ); then
    die "'$PGADMIN_DEFAULT_EMAIL' is not a valid email address for pgAdmin: change PGADMIN_DEFAULT_EMAIL"
  fi
  log "first start: creating the configuration database and the user $PGADMIN_DEFAULT_EMAIL"
  (cd "$APP" && PGADMIN_SETUP_EMAIL=$PGADMIN_DEFAULT_EMAIL \
    PGADMIN_SETUP_PASSWORD=$PGADMIN_DEFAULT_PASSWORD "$PY" run_pgadmin.py)
  if [[ -f $servers_file ]]; then
    log "registering the servers of $servers_file"
    setup_cli load-servers "$servers_file"
  fi
  prefs_file=${PGADMIN_PREFERENCES_JSON_FILE:-$APP/preferences.json}
  if [[ -f $prefs_file ]]; then
    if server_mode; then
      user=$PGADMIN_DEFAULT_EMAIL
    else
      user=$(cd "$APP" && "$PY" -c 'import config; print(config.DESKTOP_USER)')
    fi
    "$PY" "$APP/setup.py" set-prefs "$user" --input-file "$prefs_file"
  fi
  if [[ -n ${PGPASS_FILE:-} && -f $PGPASS_FILE ]]; then
    if server_mode; then
      dir=$DATA/storage/${PGADMIN_DEFAULT_EMAIL//@/_}
    else
      dir=$DATA
    fi
    mkdir -p "$dir"
    install -m 0600 "$PGPASS_FILE" "$dir/.pgpass"
  fi
elif [[ ${PGADMIN_REPLACE_SERVERS_ON_STARTUP:-} == [Tt]rue && -f $servers_file ]]; then
  log "replacing the registered servers with those of $servers_file"
  setup_cli load-servers "$servers_file" --replace
fi

if [[ -z ${PGADMIN_DISABLE_POSTFIX:-} ]]; then
  log "this image has no mail server: password-reset mails need PGADMIN_CONFIG_MAIL_SERVER"
fi

# A request may last as long as a session (a long query): gunicorn's timeout follows it.
timeout=$(cd "$APP" && "$PY" -c 'import config; print(int(config.SESSION_EXPIRATION_TIME * 86400))')

tls_args=()
if [[ -n ${PGADMIN_ENABLE_TLS:-} ]]; then
  tls_args=(--keyfile /certs/server.key --certfile /certs/server.cert)
  port=${PGADMIN_LISTEN_PORT:-443}
else
  port=${PGADMIN_LISTEN_PORT:-80}
fi
if [[ -n ${PGADMIN_ENABLE_SOCK:-} ]]; then
  bind=unix:/run/pgadmin/pgadmin.sock
else
  bind=${PGADMIN_LISTEN_ADDRESS:-[::]}:$port
fi

# One worker: pgAdmin keeps sessions in the process; threads serve concurrent requests.
cd "$APP"
exec /venv/bin/gunicorn \
  --limit-request-line "${GUNICORN_LIMIT_REQUEST_LINE:-8190}" \
  --timeout "$timeout" \
  --bind "$bind" \
  --workers 1 \
  --threads "${GUNICORN_THREADS:-25}" \
  --access-logfile "${GUNICORN_ACCESS_LOGFILE:--}" \
  "${tls_args[@]}" \
  run_pgadmin:app
