// pki.ts: a local cluster's certificates, made by `up` before any process starts: the cluster
// CA in BASE/pki (its key 0600, on this host only), per node a certificate for tug-control
// (control nodes) and one for tug-agent, both naming the node's IP, and an admin certificate
// for `tug` (the cluster's context names it). Kept for the cluster's life: a restarted process
// (restart, chaos start-node) finds its files where they were.
import { basename, dirname } from 'node:path';
import { issueCertificate, loadTls, makeCa, writeKeyPair } from '@tugboat/pki';
import type { KeyPair, TlsFiles } from '@tugboat/pki';
import type { Security } from '@tugboat/proto';
import { clusterPkiPaths } from './plan.ts';
import type { ClusterPlan } from './plan.ts';

function write(files: TlsFiles, pair: KeyPair): void {
  const name = basename(files.certFile, '.crt');
  writeKeyPair(dirname(files.certFile), name, pair);
}

/** makeClusterPki makes the CA and every certificate of the plan (`up` makes a cluster only
 *  where nothing of one is left, so there is never a CA to keep). */
export async function makeClusterPki(plan: ClusterPlan): Promise<void> {
  const { pki } = plan;
  const ca = await makeCa(plan.name);
  writeKeyPair(pki.dir, 'ca', ca);
  write(pki.admin, await issueCertificate(ca, { role: 'admin', commonName: 'admin' }));
  for (const node of plan.nodes) {
    const addresses = { commonName: node.name, ipAddresses: [node.ip] };
    if (node.control) write(node.paths.controlTls, await issueCertificate(ca, { role: 'member', ...addresses }));
    write(node.paths.agentTls, await issueCertificate(ca, { role: 'agent', ...addresses }));
  }
}

/** adminSecurity is how `tug`, the demo and tests dial the cluster kept in baseDir. */
export function adminSecurity(baseDir: string): Security {
  return { tls: loadTls(clusterPkiPaths(baseDir).admin) };
}
