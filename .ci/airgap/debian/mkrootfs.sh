#!/usr/bin/env bash
# Build a minimal Debian trixie root filesystem in $1 (an empty or missing directory),
# ready for `docker import`. Called by .ci/airgap-images.sh; run as root.
#
# What the official debian:trixie-slim image does, from Debian packages only:
# debootstrap minbase, no recommends, no docs/man/locales, no apt lists, and the
# host's CA bundle (the egress path here has its own CA) so HTTPS works inside.
set -euo pipefail

rootfs=${1:?usage: mkrootfs.sh ROOTFS}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
host_ca=/etc/ssl/certs/ca-certificates.crt

[[ -s $host_ca ]] || { echo "mkrootfs: host CA bundle $host_ca missing" >&2; exit 1; }

debootstrap --variant=minbase --include=ca-certificates trixie "$rootfs" "$mirror"

# --- apt: deb822 sources, plain http, no recommends, keep no caches --------------
rm -f "$rootfs/etc/apt/sources.list"
cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC

cat > "$rootfs/etc/apt/apt.conf.d/90airgap-no-recommends" <<'CONF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
CONF

# Same idea as the official images' docker-clean: no .deb or pkgcache left behind.
cat > "$rootfs/etc/apt/apt.conf.d/90airgap-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
CONF

# --- dpkg: never install docs, man pages or translations ---------------------------
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/90airgap-excludes" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CONF
find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/groff/* \
  "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true

# --- services never start inside image builds ---------------------------------------
cat > "$rootfs/usr/sbin/policy-rc.d" <<'SH'
#!/bin/sh
exit 101
SH
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

# --- CA bundle: the host's, kept by update-ca-certificates -------------------------
install -m 644 "$host_ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
install -d -m 755 "$rootfs/usr/local/share/ca-certificates"
install -m 644 "$host_ca" "$rootfs/usr/local/share/ca-certificates/airgap-host-bundle.crt"

# --- leftovers ---------------------------------------------------------------------
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/var/tmp/* \
  "$rootfs"/debootstrap
mkdir -p "$rootfs/var/lib/apt/lists/partial" "$rootfs/var/cache/apt/archives/partial"
: > "$rootfs/etc/resolv.conf"
: > "$rootfs/etc/machine-id" 2>/dev/null || true
echo localhost > "$rootfs/etc/hostname"
