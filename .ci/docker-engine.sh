#!/usr/bin/env bash
# Install (if missing) and start a Docker engine with Compose v2 on Debian 12.
# Idempotent: a machine that already has a running engine returns in under a second.
#
# Why trixie: bookworm's docker.io (20.10) has no `docker compose` plugin and an old
# BuildKit. Trixie's engine 26.1 + Compose 2.26 + buildx run fine on bookworm's libc as
# long as runc/containerd stay at bookworm's builds (trixie's runc needs a newer libc),
# so bookworm's docker.io goes in first and trixie is pinned low.
set -euo pipefail

log() { printf '[docker-engine] %s\n' "$*" >&2; }

engine_up() { timeout 5 docker info >/dev/null 2>&1; }

if engine_up && docker compose version >/dev/null 2>&1; then
  log "engine already running: $(docker version --format '{{.Server.Version}}'), $(docker compose version --short)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive

need_install=0
command -v dockerd >/dev/null 2>&1 || need_install=1
dockerd_version=$(dockerd --version 2>/dev/null | sed -E 's/.*version ([0-9]+)\..*/\1/' || true)
[[ "${dockerd_version:-0}" -ge 26 ]] || need_install=1
[[ -x /usr/libexec/docker/cli-plugins/docker-compose ]] || need_install=1

if [[ $need_install == 1 ]]; then
  log "installing docker.io from bookworm (containerd, runc, tini, iptables for this libc)"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates debootstrap >/dev/null

  log "adding trixie at priority 100 for engine 26 + compose v2"
  cat > /etc/apt/sources.list.d/trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat > /etc/apt/preferences.d/trixie-low <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends -t trixie \
    docker.io docker-cli docker-compose docker-buildx >/dev/null
fi

# The host may carry another docker client earlier on PATH (e.g. /usr/local/bin/docker
# without the compose plugin); the Debian one knows where its plugins live.
if ! docker compose version >/dev/null 2>&1 && [[ -x /usr/bin/docker ]]; then
  log "an older docker client shadows /usr/bin/docker on PATH: $(command -v docker)"
  ln -sf /usr/bin/docker "$(command -v docker)"
fi

if ! engine_up; then
  log "starting dockerd (log: /var/log/dockerd.log)"
  mkdir -p /etc/docker
  [[ -f /etc/docker/daemon.json ]] || echo '{"features": {"buildkit": true}}' > /etc/docker/daemon.json
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    engine_up && break
    sleep 1
  done
  engine_up || { log "dockerd did not answer within 60 s; last log lines:"; tail -n 30 /var/log/dockerd.log >&2; exit 1; }
fi

log "engine $(docker version --format '{{.Server.Version}}'), compose $(docker compose version --short), buildx $(docker buildx version | awk '{print $2}')"
