/**
 * The CNI network configuration list containerd's CRI plugin reads from its conf dir
 * (containerd 1.6 loads the lexically first file, `max_conf_num = 1` by default).
 *
 * Chain: `bridge` (bridge `tug0`, the node's pod-CIDR gateway, masquerade for traffic leaving
 * the pod network, hairpin so a pod can reach itself through a service VIP) with
 * `host-local` IPAM on the node's pod CIDR, then `portmap` for hostPort mappings.
 *
 * `loopback` is NOT in the list: containerd's CRI plugin loads CNI with go-cni's
 * `WithLoNetwork`, which sets up `lo` in every sandbox itself (it still needs the `loopback`
 * binary in the CNI bin dir, shipped by containernetworking-plugins in /usr/lib/cni).
 */
import { parseCidr, formatCidr, gatewayOf, NODE_POD_PREFIX, POD_NETWORK, cidrsOverlap } from './cidr.ts';

/** File name of the config, chosen to sort before any distribution default ("87-podman..."). */
export const CNI_CONF_FILE = '10-tugboat.conflist';
/** Name of the network (the conflist's `name`). */
export const CNI_NETWORK_NAME = 'tugboat';
/** The node bridge every pod's veth is attached to. */
export const CNI_BRIDGE = 'tug0';

export interface CniOptions {
  /** The node's pod CIDR, e.g. "10.244.3.0/24" (must be a /24 inside 10.244.0.0/16). */
  podCIDR: string;
  /** host-local's state dir; a per-node dir for local clusters. Default: /var/lib/cni/networks. */
  dataDir?: string;
  /** Bridge MTU; omitted (kernel default) when absent. */
  mtu?: number;
}

/** The rendered config: the file name to write into the CNI conf dir, and its JSON text. */
export interface CniConfigFile {
  fileName: string;
  json: string;
}

/** Build the conflist object (useful for tests and inspection). Throws on a bad pod CIDR. */
export function cniConfigList(opts: CniOptions): Record<string, unknown> {
  const cidr = parseCidr(opts.podCIDR);
  if (cidr.prefix !== NODE_POD_PREFIX || !cidrsOverlap(cidr, parseCidr(POD_NETWORK))) {
    throw new Error(`pod CIDR ${opts.podCIDR} must be a /${NODE_POD_PREFIX} inside ${POD_NETWORK}`);
  }
  if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 576 || opts.mtu > 65535)) {
    throw new Error(`invalid MTU ${opts.mtu}: must be an integer 576-65535`);
  }
  const subnet = formatCidr(cidr);
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet, gateway: gatewayOf(cidr) }]],
    routes: [{ dst: '0.0.0.0/0' }],
    dataDir: opts.dataDir ?? '/var/lib/cni/networks',
  };
  const bridge: Record<string, unknown> = {
    type: 'bridge',
    bridge: CNI_BRIDGE,
    isGateway: true,
    ipMasq: true,
    hairpinMode: true,
    ipam,
  };
  if (opts.mtu !== undefined) bridge.mtu = opts.mtu;
  return {
    cniVersion: '1.0.0',
    name: CNI_NETWORK_NAME,
    plugins: [bridge, { type: 'portmap', capabilities: { portMappings: true }, snat: true }],
  };
}

/** Render the conflist as pretty JSON text (trailing newline) with its file name. */
export function renderCniConfig(opts: CniOptions): CniConfigFile {
  return { fileName: CNI_CONF_FILE, json: JSON.stringify(cniConfigList(opts), null, 2) + '\n' };
}
