// pki.ts: a local cluster's certificates and keys, made by `up` before any process starts: the
// cluster CA in BASE/pki (its key 0600, on this host only; every tug-control reads it with
// --ca-key-file to sign the certificates of joining nodes and renewals), per node a certificate
// for tug-control (control nodes) and one for tug-agent, both naming the node's IP, an admin
// certificate for `tug` (the cluster's context names it), and the key file every tug-control
// seals Secrets at rest with (BASE/pki/encryption-keys.yaml, 0600, one key). Kept for the
// cluster's life: a restarted process (restart, chaos start-node) finds its files where they were.
import { issueAdmin, issueNodeCertificates, loadTls, makeCa, newEncryptionKey, writeEncryptionKeys, writeKeyPair, writeKeyPairFiles } from '@tugboat/pki';
import type { Security } from '@tugboat/proto';
import { clusterPkiPaths } from './plan.ts';
import type { ClusterPlan } from './plan.ts';

/** makeClusterPki makes the CA, every certificate of the plan and the Secrets' encryption key
 *  (`up` makes a cluster only where nothing of one is left, so there is never a CA to keep). */
export async function makeClusterPki(plan: ClusterPlan): Promise<void> {
  const { pki } = plan;
  const ca = await makeCa(plan.name);
  writeKeyPair(pki.dir, 'ca', ca);
  writeKeyPairFiles(pki.admin, await issueAdmin(ca));
  writeEncryptionKeys(pki.encryptionKeyFile, [newEncryptionKey('key-1')]);
  for (const node of plan.nodes) {
    const certificates = await issueNodeCertificates(ca, { name: node.name, ipAddresses: [node.ip], control: node.control });
    if (certificates.member !== undefined) writeKeyPairFiles(node.paths.controlTls, certificates.member);
    writeKeyPairFiles(node.paths.agentTls, certificates.agent);
  }
}

/** adminSecurity is how `tug`, the demo and tests dial the cluster kept in baseDir. */
export function adminSecurity(baseDir: string): Security {
  return { tls: loadTls(clusterPkiPaths(baseDir).admin) };
}
