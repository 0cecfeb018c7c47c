/**
 * tug-control: one control-plane member: a Raft member whose state machine is the object store,
 * serving the tug.v1 API (proto/tug/v1/api.proto) to `tug`, the agents and the other members.
 * See `--help` (flags.ts) and control-plane.ts.
 *
 * A new member either founds a cluster (`--initial-cluster`, the same list on every founding
 * member) or joins a running one (`--join APIADDR`: it learns the cluster id and the members'
 * peer addresses from that member's ClusterService.Status, starts, and asks to be added with
 * AddMember, which the cluster forwards to its leader). A member restarted on its data dir
 * recovers from disk and ignores both flags; a join that did not finish is retried.
 *
 * Exit status: 0 after SIGTERM/SIGINT (graceful: leadership handed over, watches ended, API
 * server closed, LevelDB closed), 1 on a startup or fatal error, 2 on bad flags.
 *
 * With TUG_EXIT_ON_STDIN_EOF=1 in the environment the member also shuts down when its stdin
 * closes: a test harness passes a pipe, so members never outlive it, even if it is SIGKILLed.
 */
import type { Logger } from 'pino';
import { TugClient, isAlreadyExists } from '@tugboat/client';
import type { ClusterStatus } from '@tugboat/client';
import { loadCaKey, loadEncryptionKeys } from '@tugboat/pki';
import type { EncryptionKey } from '@tugboat/pki';
import { hasCertificate } from '@tugboat/proto';
import type { Security } from '@tugboat/proto';
import { ControlPlane } from './control-plane.ts';
import type { Flags } from './flags.ts';
import { exitWith, retryJoinTarget, runMember } from './startup.ts';

/** clusterStatusOf asks the member at `address` for the cluster's status, retrying until `timeoutMs`. */
async function clusterStatusOf(address: string, security: Security, timeoutMs: number, log: Logger, stopped: () => boolean): Promise<ClusterStatus> {
  const client = new TugClient({ endpoints: [address], security, attemptTimeoutMs: 2_000, retryBudgetMs: 2_500 });
  try {
    return await retryJoinTarget(address, timeoutMs, log, stopped, () => client.cluster.status());
  } finally {
    client.close();
  }
}

/** askToJoin makes the cluster add this member (through any member; it forwards to the leader). */
async function askToJoin(flags: Flags, via: string, security: Security, log: Logger): Promise<void> {
  const client = new TugClient({ endpoints: [via], security, attemptTimeoutMs: 30_000, retryBudgetMs: 60_000 });
  try {
    await client.cluster.addMember({ name: flags.name, peerAddress: flags.advertisePeer, apiAddress: flags.advertiseApi });
    log.info({ via }, 'joined the cluster');
  } catch (err) {
    if (isAlreadyExists(err)) throw new Error(`cannot join through ${via}: ${(err as Error).message}`, { cause: err });
    throw err;
  } finally {
    client.close();
  }
}

/**
 * secretKeysOf loads --encryption-key-file (a PkiError names the file and the problem: exit
 * status 1), or warns that Secrets are stored in clear without it.
 */
function secretKeysOf(flags: Flags, log: Logger): readonly EncryptionKey[] {
  const file = flags.encryptionKeyFile;
  if (file === undefined) {
    log.warn('no --encryption-key-file: Secrets are stored in clear in the Raft log and snapshots; anyone who can read the data dir can read them');
    return [];
  }
  const keys = loadEncryptionKeys(file);
  log.info({ keyFile: file, sealWith: keys[0]!.name, keys: keys.map((k) => k.name) }, 'Secrets are sealed at rest (AES-256-GCM)');
  return keys;
}

/** main runs tug-control with `argv` (without the node and script paths); resolves to the exit status. */
export function main(argv: readonly string[]): Promise<number> {
  return runMember(
    argv,
    { status: clusterStatusOf, addSelf: askToJoin },
    (opts, flags, secretKeys) =>
      ControlPlane.start({
        ...opts,
        ...(flags.caKeyFile !== undefined && hasCertificate(opts.security) ? { certificateAuthority: { ...loadCaKey(flags.caKeyFile, opts.security.tls.ca), validDays: flags.certificateDays } } : {}),
        ...('tls' in flags.transport ? { certificateFiles: flags.transport.tls } : {}),
        secretKeys,
        controllerSettings: { nodeMonitorGraceSeconds: flags.nodeMonitorGraceSeconds, defaultEvictionSeconds: flags.defaultEvictionSeconds },
        enabledLoops: (loop) => flags.controllers.has(loop),
        maxObjectsPerNamespace: flags.maxObjectsPerNamespace,
        clientLimits: { requestsPerSecond: flags.maxRequestsPerClient, burst: 2 * flags.maxRequestsPerClient, watchesPerClient: flags.maxWatchesPerClient },
      }),
    secretKeysOf,
  );
}

/** run runs main and exits the process with its status. */
export function run(argv: readonly string[]): void {
  exitWith(main(argv));
}
