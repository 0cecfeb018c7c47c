#!/usr/bin/env bash
# deploy/vagrant-provision.sh — what each machine of the Vagrantfile runs (and each machine of
# the machine test, test/machines): deploy/install.sh, founding the cluster on the first machine
# and joining it on the others, with the join token passed through a folder every machine sees.
#
#   vagrant-provision.sh NAME ADDRESS FIRST_ADDRESS [SHARED_DIR]
#
# On the first machine (ADDRESS = FIRST_ADDRESS) it installs with --init, then writes into
# SHARED_DIR (default /vagrant/.vagrant/tugboat): join.env (a member join token valid 24 h and
# the CA hash), the cluster CA, the admin certificate and key (for tug on the host) and the
# Secrets' encryption key file (every control member needs it). A token is made only when
# join.env has none that is still valid, so a second run changes nothing. The other machines
# join with what is there. Keys in SHARED_DIR are readable by root only on the machines; on the
# host the folder is the project's .vagrant/, which stays on that machine.
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 NAME ADDRESS FIRST_ADDRESS [SHARED_DIR]" >&2
  exit 2
fi
name=$1 address=$2 first=$3 shared=${4:-/vagrant/.vagrant/tugboat}
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
install=(bash "$here/install.sh" --node-name "$name" --address "$address")

if [ "$address" = "$first" ]; then
  "${install[@]}" --init --cluster-name vagrant
  export PATH="/usr/local/bin:$PATH"
  for _ in $(seq 60); do tug --context vagrant get nodes >/dev/null 2>&1 && break; sleep 1; done
  mkdir -p "$shared"
  token_id=""
  if [ -f "$shared/join.env" ]; then token_id=$(sed -n 's/^TOKEN=\([a-z0-9]*\)\..*/\1/p' "$shared/join.env"); fi
  if [ -z "$token_id" ] || ! tug --context vagrant token list | grep -Eq "^$token_id +member .* valid"; then
    made=$(tug --context vagrant token create --role member --ttl 24h --description "vagrant machines")
    new_token=$(printf '%s\n' "$made" | sed -n 's/^token: *//p')
    new_hash=$(printf '%s\n' "$made" | sed -n 's/^ca-hash: *//p')
    umask 077
    printf 'TOKEN=%s\nCA_HASH=%s\nJOIN=%s:7400\n' "$new_token" "$new_hash" "$first" >"$shared/join.env.tmp"
    mv "$shared/join.env.tmp" "$shared/join.env"
    echo "provision: wrote a member join token to $shared/join.env"
  fi
  for f in ca.crt admin.crt admin.key encryption-keys.yaml; do
    if ! cmp -s "/etc/tugboat/pki/$f" "$shared/$f"; then
      install -m 0600 "/etc/tugboat/pki/$f" "$shared/$f"
      echo "provision: copied $f to $shared"
    fi
  done
else
  for _ in $(seq 120); do [ -f "$shared/join.env" ] && break; sleep 1; done
  [ -f "$shared/join.env" ] || { echo "provision: no $shared/join.env: provision the first machine ($first) first" >&2; exit 1; }
  # shellcheck source=/dev/null
  . "$shared/join.env"
  "${install[@]}" --join "$JOIN" --token "$TOKEN" --ca-hash "$CA_HASH" --encryption-key-file "$shared/encryption-keys.yaml"
fi
