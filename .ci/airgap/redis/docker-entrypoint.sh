#!/usr/bin/env bash
# Entrypoint of the airgap redis stand-in, with the official image's behaviour:
# `docker run IMAGE --opt ...` or `IMAGE my.conf ...` runs redis-server; as root, /data
# is given to the redis user and the server runs as redis.
#
# The official image builds redis with protected mode off by default; Debian's binary
# has it on, which refuses clients from other containers when no password is set. So
# `--protected-mode no` is given first, where anything the command says wins over it:
#   redis-server [opts]           -> redis-server --protected-mode no [opts]
#   redis-server FILE.conf [opts] -> redis-server FILE.conf --protected-mode no [opts]
#                                    (not added if FILE.conf sets protected-mode itself)
#   redis-server --version|--help|--test-memory|--check-system|- ...: left alone
set -eo pipefail

# first arg is `-f` or `--some-option`, or `something.conf`
if [[ ${1#-} != "$1" || ${1%.conf} != "$1" ]]; then
  set -- redis-server "$@"
fi

if [[ $1 == redis-server && $(id -u) == 0 ]]; then
  find /data \! -user redis -exec chown redis:redis '{}' +
  export HOME=/var/lib/redis
  exec setpriv --reuid=redis --regid=redis --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ $1 == redis-server ]]; then
  case ${2:-} in
    # Only understood as the first argument: nothing goes before them.
    -v | --version | -h | --help | --test-memory | --check-system | -) ;;
    -*) set -- "$1" --protected-mode no "${@:2}" ;;
    '') set -- "$1" --protected-mode no ;;
    *)
      # A config file comes first: insert after it, unless it decides itself.
      if ! grep -Eqi '^[[:space:]]*protected-mode[[:space:]]' "$2" 2>/dev/null; then
        set -- "$1" "$2" --protected-mode no "${@:3}"
      fi
      ;;
  esac

  # set an appropriate umask (if one isn't set already)
  if [[ $(umask) == 0022 ]]; then
    umask 0077
  fi
fi

exec "$@"
