// init.ts: a new cluster's certificates, as `tug cluster init` (a hand-run or installed cluster)
// and `tug cluster up` (a local one) make them: the CA, an admin certificate for `tug`, and for
// each node that is set up with them a certificate for its agent and, on a control node, one
// for its tug-control, both naming the node's addresses. Nodes added later join with a
// bootstrap token instead (the cluster signs their requests).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { newEncryptionKey, writeEncryptionKeys } from './encryption-keys.ts';
import { writeCertificate, writeKeyPairFiles, writePrivateKey } from './files.ts';
import type { TlsFiles } from './files.ts';
import { issueCertificate, makeCa } from './pki.ts';
import type { KeyPair } from './pki.ts';

/** NodeIdentity is a node as its certificates name it. */
export interface NodeIdentity {
  readonly name: string;
  readonly ipAddresses: readonly string[];
  /** control: the node runs a tug-control member too. */
  readonly control: boolean;
}

/** NodeCertificates are a node's certificates: its agent's, and its member's on a control node. */
export interface NodeCertificates {
  readonly agent: KeyPair;
  readonly member?: KeyPair;
}

/** issueNodeCertificates issues a node's certificates, signed by ca, valid validDays (default a year). */
export async function issueNodeCertificates(ca: KeyPair, node: NodeIdentity, validDays?: number): Promise<NodeCertificates> {
  const names = { commonName: node.name, ipAddresses: node.ipAddresses, ...(validDays === undefined ? {} : { validDays }) };
  const agent = await issueCertificate(ca, { role: 'agent', ...names });
  return node.control ? { agent, member: await issueCertificate(ca, { role: 'member', ...names }) } : { agent };
}

/** issueAdmin issues the certificate of `tug` for the cluster's administrator. */
export function issueAdmin(ca: KeyPair, validDays?: number): Promise<KeyPair> {
  return issueCertificate(ca, { role: 'admin', commonName: 'admin', ...(validDays === undefined ? {} : { validDays }) });
}

/** InitializedPki are the files `tug cluster init` writes into its folder. */
export interface InitializedPki {
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly admin: TlsFiles;
  readonly member: TlsFiles;
  readonly agent: TlsFiles;
  /** encryptionKeyFile: tug-control's --encryption-key-file, the key Secrets are sealed with at rest. */
  readonly encryptionKeyFile: string;
  readonly caPem: string;
}

/** pkiFolderFiles are the files of a `tug cluster init` folder. */
export function pkiFolderFiles(dir: string): Omit<InitializedPki, 'caPem'> {
  const caFile = join(dir, 'ca.crt');
  const pair = (name: string): TlsFiles => ({ caFile, certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) });
  return {
    caFile,
    caKeyFile: join(dir, 'ca.key'),
    admin: pair('admin'),
    member: pair('control'),
    agent: pair('agent'),
    encryptionKeyFile: join(dir, 'encryption-keys.yaml'),
  };
}

/**
 * initPkiFolder makes a new cluster CA in dir (ca.crt, ca.key 0600) and the certificates of its
 * first node, a control node (control.crt/.key for tug-control, agent.crt/.key for tug-agent),
 * of its administrator (admin.crt/.key), and the key Secrets are sealed with at rest
 * (encryption-keys.yaml, 0600, for every tug-control). A folder that has a CA already is left alone:
 * the caller is told so (undefined), since a second CA would split the cluster.
 */
export async function initPkiFolder(
  dir: string,
  opts: { clusterName: string; node: Omit<NodeIdentity, 'control'>; validDays?: number | undefined },
): Promise<InitializedPki | undefined> {
  const files = pkiFolderFiles(dir);
  if (existsSync(files.caFile) || existsSync(files.caKeyFile)) return undefined;
  const ca = await makeCa(opts.clusterName);
  const node = await issueNodeCertificates(ca, { ...opts.node, control: true }, opts.validDays);
  writeKeyPairFiles(files.admin, await issueAdmin(ca, opts.validDays));
  writeKeyPairFiles(files.member, node.member!);
  writeKeyPairFiles(files.agent, node.agent);
  writeEncryptionKeys(files.encryptionKeyFile, [newEncryptionKey('key-1')]);
  // The CA last: a folder interrupted before this holds no CA and can be made again.
  writePrivateKey(files.caKeyFile, ca.keyPem);
  writeCertificate(files.caFile, ca.certPem);
  return { ...files, caPem: ca.certPem };
}
