/** @tugboat/netconf: pure node-networking logic (CIDRs, CNI config, host-gw routes, service iptables rules). */
export * from './cidr.ts';
export * from './cni.ts';
export * from './routes.ts';
export * from './iptables.ts';
