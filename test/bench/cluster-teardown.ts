// cluster-teardown.ts: how a benchmark with a local cluster takes it down (bench:pods, bench:svc).
import { downCluster, leftovers } from '@tugboat/localcluster';

/** ClusterTeardown takes a benchmark's local cluster down once; `started` tells whether it began. */
export interface ClusterTeardown {
  (): Promise<void>;
  readonly started: boolean;
}

/**
 * clusterTeardown returns the function that takes local cluster `name` down (once, however
 * often it is called) and throws when anything of it is left.
 */
export function clusterTeardown(name: string): ClusterTeardown {
  let downing: Promise<void> | undefined;
  const down = (): Promise<void> => {
    downing ??= (async () => {
      console.log(`\ntaking cluster ${name} down`);
      const r = await downCluster(name);
      const left = [...new Set([...r.left, ...leftovers(name)])];
      if (left.length > 0) throw new Error(`cluster ${name} left: ${left.join('; ')}`);
      console.log(`cluster ${name} removed; nothing left`);
    })();
    return downing;
  };
  return Object.defineProperty(down, 'started', { get: () => downing !== undefined }) as ClusterTeardown;
}
