#!/usr/bin/env bash
# deploy/install.sh — install tugboat on this host as a node, as root, on Debian 12 or Ubuntu
# 22.04/24.04: containerd, runc, the CNI plugins, iptables, conntrack, Node 24 and tugboat, then
# containerd's config and the systemd units of tug-control and tug-agent, written by
# `tug host configure` (the same renderer `tug cluster up` uses). See docs/install.md.
# Idempotent: a second run with the same checkout changes nothing; running it from a newer
# checkout upgrades.
set -euo pipefail
SOURCE_DIR=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
APP_DIR=/opt/tugboat/app
STATE_FILE=/opt/tugboat/installed
LOG_PREFIX=install
# shellcheck source=deploy/lib/common.sh
. "$SOURCE_DIR/deploy/lib/common.sh"

usage() {
  cat <<'USAGE'
usage: sudo deploy/install.sh (--init | --join ADDR[,ADDR...] --token T --ca-hash H) [options]
       sudo deploy/install.sh --uninstall [--keep-data]

Install tugboat on this host and start it as a node: a control member and a worker, or with
--worker-only a worker.

  --init                    found a new cluster: this host makes the cluster CA and is its
                            first control member
  --join ADDR[,ADDR...]     join a running cluster through its members' API addresses
                            (HOST or HOST:PORT, port 7400)
  --token T                 with --join: a bootstrap token (on a control node:
                            tug token create --role member; for --worker-only --role agent)
  --ca-hash H               with --join: the CA hash that tug token create printed
  --encryption-key-file F   with --join, unless --worker-only: a copy of a control node's
                            /etc/tugboat/pki/encryption-keys.yaml (Secrets are sealed with it)
  --worker-only             run tug-agent only
  --node-name NAME          the node's name (default: the short host name)
  --address IP              the address other nodes reach this one at (default: the source
                            address of the default route)
  --cluster-name NAME       with --init: the CA's and tug context's name (default tugboat)
  --cgroup-driver DRIVER    auto, systemd or cgroupfs (default auto: systemd on cgroup v2)
  --uninstall               stop and remove everything this script made: services, units,
                            pods and their rules, /opt/tugboat, /etc/tugboat, /var/lib/tugboat
                            and the apt packages it installed
  --keep-data               with --uninstall: keep /etc/tugboat and /var/lib/tugboat
  -h, --help                show this help
USAGE
}

mode="" join="" token="" ca_hash="" key_file="" worker_only="" node_name="" address="" cluster_name=tugboat
cgroup_driver=auto keep_data=""
need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then
    printf 'install: %s needs a value\n' "$1" >&2
    exit 2
  fi
}
while [ "$#" -gt 0 ]; do
  case "$1" in
    --init) mode=init ;;
    --join) need_value "$@"; mode=join join=$2; shift ;;
    --token) need_value "$@"; token=$2; shift ;;
    --ca-hash) need_value "$@"; ca_hash=$2; shift ;;
    --encryption-key-file) need_value "$@"; key_file=$2; shift ;;
    --worker-only) worker_only=1 ;;
    --node-name) need_value "$@"; node_name=$2; shift ;;
    --address) need_value "$@"; address=$2; shift ;;
    --cluster-name) need_value "$@"; cluster_name=$2; shift ;;
    --cgroup-driver) need_value "$@"; cgroup_driver=$2; shift ;;
    --uninstall) mode=uninstall ;;
    --keep-data) keep_data=1 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'install: unknown option "%s"\n\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" -ne 0 ]; then
  echo "install: must run as root (it installs packages and system services); try: sudo $0" >&2
  exit 1
fi
[ -n "$mode" ] || { echo "install: give --init, --join ADDR or --uninstall" >&2; usage >&2; exit 2; }

# --- uninstall --------------------------------------------------------------------------------
if [ "$mode" = uninstall ]; then
  for unit in tug-agent tug-control; do
    if [ -f "/etc/systemd/system/$unit.service" ]; then
      systemctl disable --now "$unit" >/dev/null 2>&1 || true
      rm -f "/etc/systemd/system/$unit.service"
      log "stopped and removed $unit.service"
    fi
  done
  systemctl daemon-reload
  if [ -x /usr/local/bin/tug ] && systemctl is-active --quiet containerd; then
    # Pods outlive the agent; remove them through the runtime (their network too) and the
    # agent's iptables chains.
    /usr/local/bin/tug host reset || log "host reset failed; pods may be left in containerd"
  fi
  rm -f /usr/local/bin/tug /etc/modules-load.d/tugboat.conf /etc/sysctl.d/90-tugboat.conf
  if [ -f /etc/containerd/config.toml.before-tugboat ]; then
    mv /etc/containerd/config.toml.before-tugboat /etc/containerd/config.toml
  elif [ -f /etc/containerd/config.toml ] && grep -q 'tugboat.local/pause' /etc/containerd/config.toml; then
    rm -f /etc/containerd/config.toml
  fi
  packages=()
  if [ -f "$STATE_FILE" ]; then read -r -a packages < <(sed -n 's/^packages=//p' "$STATE_FILE"); fi
  rm -rf /opt/tugboat
  if [ -z "$keep_data" ]; then
    rm -rf /etc/tugboat /var/lib/tugboat /etc/cni/net.d/10-tugboat.conflist
    log "removed /etc/tugboat and /var/lib/tugboat"
  else
    log "kept /etc/tugboat and /var/lib/tugboat (--keep-data)"
  fi
  if [ "${#packages[@]}" -gt 0 ]; then
    log "removing the apt packages install.sh installed: ${packages[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" >/dev/null
  fi
  log "uninstalled"
  exit 0
fi

# --- install ----------------------------------------------------------------------------------
# shellcheck source=/dev/null
. /etc/os-release
case "${ID}:${VERSION_ID:-}" in
  debian:12 | ubuntu:22.04 | ubuntu:24.04) ;;
  *) echo "install: ${PRETTY_NAME:-this system} is not Debian 12 or Ubuntu 22.04/24.04, which install.sh supports" >&2; exit 1 ;;
esac
if [ "$mode" = join ] && { [ -z "$token" ] || [ -z "$ca_hash" ]; }; then
  echo "install: --join needs --token and --ca-hash (tug token create on a control node prints both)" >&2
  exit 2
fi
[ -n "$node_name" ] || node_name=$(hostname -s)
if [ -z "$address" ]; then
  address=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  [ -n "$address" ] || { echo "install: cannot tell this host's address (no default route): give --address" >&2; exit 2; }
fi

INSTALLED_PACKAGES=()
install_packages ca-certificates iproute2 iptables conntrack containerd runc containernetworking-plugins busybox-static
ensure_node
# The packages this script installed, so --uninstall removes those and no others.
mkdir -p /opt/tugboat
previous=""
if [ -f "$STATE_FILE" ]; then previous=$(sed -n 's/^packages=//p' "$STATE_FILE"); fi
if [ "${#INSTALLED_PACKAGES[@]}" -gt 0 ]; then
  printf 'packages=%s\n' "$(echo "$previous ${INSTALLED_PACKAGES[*]}" | xargs)" >"$STATE_FILE"
elif [ ! -f "$STATE_FILE" ]; then
  printf 'packages=\n' >"$STATE_FILE"
fi

# Kernel: pod traffic is forwarded and bridged traffic goes through iptables (service rules).
modules=$'overlay\nbr_netfilter'
if [ "$(cat /etc/modules-load.d/tugboat.conf 2>/dev/null)" != "$modules" ]; then
  printf '%s\n' "$modules" >/etc/modules-load.d/tugboat.conf
  log "wrote /etc/modules-load.d/tugboat.conf"
fi
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
  log "cannot load kernel module overlay here (a container?); the host must have it"
[ -d /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null ||
  log "cannot load kernel module br_netfilter here (a container?); the host must have it"

# tugboat itself: the checkout's files (not .git, node_modules or local state) in APP_DIR, with
# its npm dependencies; both only when they changed.
source_hash=$(cd "$SOURCE_DIR" && find . \( -name .git -o -name node_modules -o -name .vagrant \) -prune -o -type f -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ "$(cat "$APP_DIR/.source-hash" 2>/dev/null)" != "$source_hash" ]; then
  log "copying tugboat from $SOURCE_DIR to $APP_DIR"
  mkdir -p "$APP_DIR"
  (cd "$SOURCE_DIR" && tar --exclude=./.git --exclude=./node_modules --exclude=./.vagrant -cf - .) | (cd "$APP_DIR" && tar -xf -)
  echo "$source_hash" >"$APP_DIR/.source-hash"
fi
if [ ! -d "$APP_DIR/node_modules" ] || [ "$APP_DIR/package-lock.json" -nt "$APP_DIR/node_modules/.package-lock.json" ]; then
  log "installing npm dependencies in $APP_DIR"
  (cd "$APP_DIR" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
fi
tug_cmd=(node "$APP_DIR/apps/cli/src/main.ts")
wrapper=$'#!/bin/sh\nexec node '"$APP_DIR"$'/apps/cli/src/main.ts "$@"'
if [ "$(cat /usr/local/bin/tug 2>/dev/null)" != "$wrapper" ]; then
  rm -f /usr/local/bin/tug
  printf '%s\n' "$wrapper" >/usr/local/bin/tug && chmod 755 /usr/local/bin/tug
  log "wrote /usr/local/bin/tug"
fi

# containerd's own config is kept once, for --uninstall.
if [ -f /etc/containerd/config.toml ] && [ ! -f /etc/containerd/config.toml.before-tugboat ] && ! grep -q 'tugboat.local/pause' /etc/containerd/config.toml; then
  cp -p /etc/containerd/config.toml /etc/containerd/config.toml.before-tugboat
fi

args=(--node-name "$node_name" --address "$address" --cgroup-driver "$cgroup_driver")
if [ "$mode" = init ]; then
  args+=(--init --cluster-name "$cluster_name")
else
  args+=(--join "$join" --token "$token" --ca-hash "$ca_hash")
  [ -z "$key_file" ] || args+=(--encryption-key-file "$key_file")
fi
[ -z "$worker_only" ] || args+=(--worker-only)
report=$("${tug_cmd[@]}" host configure "${args[@]}")
printf '%s\n' "$report" | sed "s/^/$LOG_PREFIX: /"

wrote() { printf '%s\n' "$report" | grep -q "^wrote $1"; }
if wrote /etc/systemd/system/; then systemctl daemon-reload; fi
systemctl enable --quiet containerd
if wrote /etc/containerd/config.toml || ! systemctl is-active --quiet containerd; then
  log "restarting containerd"
  systemctl restart containerd
fi
for _ in $(seq 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.2; done
for tar in /var/lib/tugboat/images/*.tar; do
  ctr --address /run/containerd/containerd.sock -n k8s.io images import "$tar" >/dev/null
done

# restart_if UNIT PATTERN...: start UNIT, or restart it when a file it reads was written.
restart_if() {
  local unit=$1 p
  shift
  systemctl enable --quiet "$unit"
  for p in "$@"; do
    if wrote "$p"; then
      log "restarting $unit"
      systemctl restart "$unit"
      return
    fi
  done
  systemctl is-active --quiet "$unit" || { log "starting $unit"; systemctl start "$unit"; }
}
if [ -z "$worker_only" ]; then
  restart_if tug-control /etc/systemd/system/tug-control.service /opt/tugboat/bin/tug-control.mjs /etc/tugboat/pki/
fi
restart_if tug-agent /etc/systemd/system/tug-agent.service /opt/tugboat/bin/tug-agent.mjs /etc/tugboat/pki/ /etc/containerd/config.toml
log "done: $node_name ($address) runs $([ -n "$worker_only" ] && echo tug-agent || echo tug-control and tug-agent); see: tug get nodes"
