#!/usr/bin/env bash
# deploy/setup.sh — make this machine ready to build, run and test tugboat.
# Idempotent; run as root on Debian 12. Installs the apt packages tugboat uses, Node 24 LTS when
# the machine's Node is missing or older than 22.18 (the first release that runs .ts files by
# type stripping without a flag), the npm dependencies, the generated protocol code if it is
# missing, and tug-netdelay (tools/netdelay) when it is missing or older than its source. A second
# run changes nothing and needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."

NETDELAY_SOURCE=tools/netdelay/netdelay.c
NETDELAY_BIN=/opt/tugboat/bin/tug-netdelay
# etcd-server: only the store benchmark's same-run peer (bench:store starts its own members).
# gcc, libc6-dev, libnetfilter-queue-dev: to compile tug-netdelay, the packet delayer
# `tug chaos netem --delay` runs where the kernel has no netem qdisc.
# For the static checks of deploy/ and the Vagrantfile (test/integration/deploy-static.test.ts):
# ShellCheck; vagrant and vagrant-libvirt (a provider to validate against); systemd-analyze.
# debootstrap, systemd-container (systemd-nspawn): the three-machine test (test/machines).
APT_PACKAGES=(ca-certificates git iproute2 iptables conntrack procps psmisc etcd-server containerd runc containernetworking-plugins busybox-static
  gcc libc6-dev libnetfilter-queue-dev shellcheck vagrant vagrant-libvirt systemd debootstrap systemd-container)
LOG_PREFIX=setup
# shellcheck source=deploy/lib/common.sh
. deploy/lib/common.sh

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (it installs apt packages and Node); try: sudo $0" >&2
  exit 1
fi

# Judge and use the same Node that ./run uses: ./run puts /usr/local/bin, where setup links the Node
# it installs, first in PATH. Without this, a PATH that lacks /usr/local/bin (or lists it after
# /usr/bin, where Debian's nodejs 18 lives) would make every run re-link Node and report it again.
export PATH="/usr/local/bin:$PATH"
install_packages "${APT_PACKAGES[@]}"
ensure_node

# npm ci when node_modules is missing or older than package-lock.json (npm writes
# node_modules/.package-lock.json at the end of every install).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Generated code is committed, and the test suite checks that it matches proto/; so setup makes it
# only when it is missing and never rewrites it (that would hide a stale commit from CI).
if [ ! -d libs/proto/src/gen ]; then
  log "generating protocol code"
  npm run --silent gen
fi
# Under sudo, hand what setup made in the checkout back to the user who owns it.
if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
  owner="$SUDO_UID:${SUDO_GID:-$SUDO_UID}"
  for d in node_modules libs/proto/src/gen; do
    if [ -d "$d" ] && [ -n "$(find "$d" -maxdepth 0 -user 0)" ]; then chown -R "$owner" "$d"; fi
  done
fi
# tug-netdelay is compiled when it is missing or older than its source.
if [ ! -x "$NETDELAY_BIN" ] || [ "$NETDELAY_SOURCE" -nt "$NETDELAY_BIN" ]; then
  log "compiling $NETDELAY_BIN from $NETDELAY_SOURCE"
  mkdir -p "$(dirname "$NETDELAY_BIN")"
  gcc -O2 -Wall -Wextra -o "$NETDELAY_BIN.tmp" "$NETDELAY_SOURCE" -lnetfilter_queue
  mv "$NETDELAY_BIN.tmp" "$NETDELAY_BIN"
fi
# Put the programs on PATH, as links to this checkout (Node runs their sources directly).
for prog in tug:apps/cli/src/main.ts tug-control:apps/control/src/main.ts tug-agent:apps/agent/src/main.ts; do
  target="$PWD/${prog#*:}" link="/usr/local/bin/${prog%%:*}"
  if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
    ln -sf "$target" "$link"
    log "linked $link -> $target"
  fi
done
log "ready: node $(node --version)"
