#!/usr/bin/env bash
# Build local stand-ins for the stack's third-party images from Debian packages, for
# machines that can pull no container image (only the Debian mirror and PyPI reachable),
# then write .ci/airgap.env with the *_IMAGE overrides that point compose at them.
#
#   bash .ci/airgap-images.sh      # needs a running engine: bash .ci/docker-engine.sh
#
# Images (our names only, never an upstream one, so nothing can be mistaken for it):
#   llm-observatory-airgap/debian:trixie            debootstrap minbase (base of the rest)
#   llm-observatory-airgap/python:3.13              python:3.13-slim-trixie
#   llm-observatory-airgap/timescaledb:2.19.3-pg17  timescale/timescaledb (Apache-only build)
#   llm-observatory-airgap/redis:8.0                redis
#   llm-observatory-airgap/prometheus:2.53.3        prom/prometheus
#   llm-observatory-airgap/alertmanager:0.28.1      prom/alertmanager
#   llm-observatory-airgap/pgadmin:9.18             dpage/pgadmin4 (PyPI's pgadmin4 wheel)
# Build files: .ci/airgap/<name>/. Each image carries a hash of its directory (and of
# the base image) as a label; an image whose tag exists with the same hash is skipped,
# so a second run takes seconds. The base is built only when missing.
#
# Environment: AIRGAP_FORCE=1 rebuilds every derived image without build cache (fresh
# packages), AIRGAP_REBUILD_BASE=1 rebuilds the base (and so everything on it); AIRGAP_VERBOSE=1 streams build output (otherwise it goes to a log file that
# is printed on failure).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
airgap_dir=$here/airgap
env_file=$here/airgap.env

PREFIX=llm-observatory-airgap
BASE_IMAGE=$PREFIX/debian:trixie
HASH_LABEL=org.llm-observatory.airgap.hash

# name|tag|package whose upstream version the tag states|variable in airgap.env
# The package is a Debian one, or pip:NAME for a PyPI package installed in /venv at the
# tag's version (passed to the build as PACKAGE_VERSION).
IMAGES=(
  "python|3.13|python3.13|PYTHON_IMAGE"
  "timescaledb|2.19.3-pg17|postgresql-17-timescaledb|TIMESCALEDB_IMAGE"
  "redis|8.0|redis-server|REDIS_IMAGE"
  "prometheus|2.53.3|prometheus|PROMETHEUS_IMAGE"
  "alertmanager|0.28.1|prometheus-alertmanager|ALERTMANAGER_IMAGE"
  "pgadmin|9.18|pip:pgadmin4|PGADMIN_IMAGE"
)

log() { printf '[airgap-images] %s\n' "$*" >&2; }
die() { printf '[airgap-images] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# Hash of a directory's files (relative names and contents), plus extra words.
dir_hash() {
  local dir=$1
  shift
  {
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    printf '%s\n' "$@"
  } | sha256sum | cut -c1-64
}

image_label() {
  docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# usage: run_logged NAME CMD... -- quiet unless it fails (or AIRGAP_VERBOSE=1).
run_logged() {
  local name=$1
  shift
  if [[ ${AIRGAP_VERBOSE:-0} == 1 ]]; then
    "$@"
    return
  fi
  local logfile=${TMPDIR:-/tmp}/airgap-build-$name.log
  if ! "$@" >"$logfile" 2>&1; then
    log "$name: FAILED; last lines of $logfile:"
    tail -n 80 "$logfile" >&2
    return 1
  fi
}

# --- preconditions ----------------------------------------------------------------
command -v docker >/dev/null 2>&1 || die "no docker client; run: bash .ci/docker-engine.sh"
timeout 10 docker info >/dev/null 2>&1 || die "the Docker engine does not answer; run: bash .ci/docker-engine.sh"

t_all=$(now)

# --- base: debootstrap'd trixie, built only when missing ----------------------------
build_base() {
  [[ $(id -u) == 0 ]] || die "building the base image needs root (debootstrap)"
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  [[ -e /usr/share/debootstrap/scripts/trixie ]] || die "this debootstrap does not know trixie"

  local rootfs
  rootfs=$(mktemp -d /var/tmp/airgap-rootfs.XXXXXX)
  # debootstrap mounts /proc etc. inside; never delete through a mount.
  # shellcheck disable=SC2317  # invoked by the trap
  cleanup_rootfs() {
    local m
    while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done < <(awk -v r="$rootfs" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r)
    rm -rf --one-file-system "$rootfs"
  }
  trap cleanup_rootfs EXIT

  local t old_id
  t=$(now)
  old_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
  log "base: debootstrap trixie into $rootfs"
  run_logged debian bash "$airgap_dir/debian/mkrootfs.sh" "$rootfs"
  log "base: rootfs ready in $(since "$t"); importing as $BASE_IMAGE"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c "LABEL $HASH_LABEL=$base_hash" \
    -c 'CMD ["bash"]' \
    - "$BASE_IMAGE" >/dev/null
  cleanup_rootfs
  trap - EXIT
  if [[ -n $old_id && $old_id != "$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  log "base: built $BASE_IMAGE in $(since "$t")"
}

base_hash=$(dir_hash "$airgap_dir/debian")
force_base=${AIRGAP_REBUILD_BASE:-0}
if [[ $force_base == 1 ]] || ! image_exists "$BASE_IMAGE"; then
  build_base
else
  log "base: $BASE_IMAGE present, kept"
  if [[ $(image_label "$BASE_IMAGE") != "$base_hash" ]]; then
    log "base: note: .ci/airgap/debian changed since it was built; AIRGAP_REBUILD_BASE=1 rebuilds it"
  fi
fi
base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")

# --- derived images -------------------------------------------------------------------
# Upstream version of a Debian version: no epoch, no revision, no +ds/+dfsg suffix.
upstream_version() {
  local v=${1#*:}
  v=${v%-*}
  printf '%s\n' "${v%%+*}"
}

# usage: check_version IMAGE TAG PACKAGE -- the tag's version must prefix the package's.
check_version() {
  local image=$1 tag=$2 pkg=$3 deb up want
  if [[ $pkg == pip:* ]]; then
    deb=$(docker run --rm --entrypoint /venv/bin/python "$image" -c \
      'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "${pkg#pip:}")
  else
    deb=$(docker run --rm --entrypoint dpkg-query "$image" -W -f '${Version}' "$pkg")
  fi
  up=$(upstream_version "$deb")
  want=${tag%%-*}
  if [[ $up != "$want" && $up != "$want".* ]]; then
    die "$image: Debian ships $pkg $deb (upstream $up), not $want; change the tag in $0"
  fi
  log "$image: $pkg $deb"
}

built=()
for spec in "${IMAGES[@]}"; do
  IFS='|' read -r name tag pkg _ <<<"$spec"
  image=$PREFIX/$name:$tag
  build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
  [[ $pkg == pip:* ]] && build_args+=(--build-arg "PACKAGE_VERSION=$tag")
  dir=$airgap_dir/$name
  [[ -f $dir/Dockerfile ]] || die "missing $dir/Dockerfile"
  hash=$(dir_hash "$dir" "$BASE_IMAGE" "$base_id")
  if [[ ${AIRGAP_FORCE:-0} != 1 && $(image_label "$image") == "$hash" ]]; then
    log "$name: $image up to date, skipped"
    continue
  fi
  t=$(now)
  old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  cache_opt=()
  [[ ${AIRGAP_FORCE:-0} == 1 ]] && cache_opt=(--no-cache)
  log "$name: building $image"
  run_logged "$name" docker build --pull=false "${cache_opt[@]}" "${build_args[@]}" \
    --label "$HASH_LABEL=$hash" \
    -t "$image" "$dir"
  if ! (check_version "$image" "$tag" "$pkg"); then
    docker image rm "$image" >/dev/null 2>&1 || true
    exit 1
  fi
  # The previous build, now untagged: removed unless a container still uses it.
  if [[ -n $old_id && $old_id != "$(docker image inspect -f '{{.Id}}' "$image")" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  built+=("$image")
  log "$name: built $image in $(since "$t")"
done

# --- self-check -------------------------------------------------------------------------
t=$(now)
selfcheck() {
  local what=$1
  shift
  local out
  if ! out=$(docker run --rm "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    die "self-check failed: $what"
  fi
  log "ok: $what: $(head -n 1 <<<"$out")"
}
selfcheck "python ssl+sqlite3+CA bundle" --entrypoint python "$PREFIX/python:3.13" -c '
import ssl, sqlite3, sys
n = ssl.create_default_context().cert_store_stats()["x509_ca"]
assert n > 0, "no CA certificates loaded"
print("Python %s, OpenSSL %s, SQLite %s, %d CAs" % (sys.version.split()[0], ssl.OPENSSL_VERSION.split()[1], sqlite3.sqlite_version, n))'
selfcheck "postgres --version" "$PREFIX/timescaledb:2.19.3-pg17" postgres --version
selfcheck "redis-server --version" "$PREFIX/redis:8.0" redis-server --version
selfcheck "promtool --version" --entrypoint promtool "$PREFIX/prometheus:2.53.3" --version
selfcheck "amtool --version" --entrypoint amtool "$PREFIX/alertmanager:0.28.1" --version
selfcheck "gunicorn --version (pgadmin)" --entrypoint /venv/bin/gunicorn "$PREFIX/pgadmin:9.18" --version
log "self-checks passed in $(since "$t")"

# --- airgap.env ----------------------------------------------------------------------------
tmp_env=$(mktemp "$env_file.XXXXXX")
{
  echo "# Written by .ci/airgap-images.sh: local stand-ins for the third-party images,"
  echo "# built from Debian trixie packages and PyPI (no registry needed). Not committed."
  for spec in "${IMAGES[@]}"; do
    IFS='|' read -r name tag _ var <<<"$spec"
    printf '%s=%s\n' "$var" "$PREFIX/$name:$tag"
  done
} >"$tmp_env"
chmod 0644 "$tmp_env"
mv -f "$tmp_env" "$env_file"
log "wrote $env_file"

if ((${#built[@]})); then
  log "built ${#built[@]} image(s): ${built[*]}"
fi
log "done in $(since "$t_all")"
