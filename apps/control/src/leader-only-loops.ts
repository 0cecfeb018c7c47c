/**
 * The loops that run only while this member leads: the controllers (controllers.ts, run by
 * LeaderLoops of @tugboat/controllers) and the node IPAM loop (node-ipam-loop.ts: pod CIDRs for
 * new Nodes). They follow leadership by themselves from start to stop, and reach the API like
 * any client, through a client of this member's own API: their writes take the same path
 * (admission, Raft) as everyone's.
 */
import type { Logger } from 'pino';
import { TugClient } from '@tugboat/client';
import { LeaderLoops } from '@tugboat/controllers';
import type { ControllerSettings } from '@tugboat/controllers';
import { controllers } from './controllers.ts';
import { NodeIpamLoop } from './node-ipam-loop.ts';

export interface LeaderOnlyLoopsOptions {
  /** apiAddress is where this member serves the API. */
  readonly apiAddress: string;
  /** isLeader tells whether this member leads now. */
  readonly isLeader: () => boolean;
  /** onLeadershipChange registers a listener called after any role or leader change; returns its remover. */
  readonly onLeadershipChange: (listener: () => void) => () => void;
  readonly log: Logger;
  /** Tunables of the controllers. Default: DEFAULT_CONTROLLER_SETTINGS. */
  readonly controllerSettings?: ControllerSettings | undefined;
}

/** RunningLoops are started leader-only loops; stop() ends them for good. */
export interface RunningLoops {
  stop(): Promise<void>;
}

/** startLeaderOnlyLoops starts the loops; they run whenever this member leads until stop(). */
export function startLeaderOnlyLoops(opts: LeaderOnlyLoopsOptions): RunningLoops {
  const { isLeader, onLeadershipChange, log } = opts;
  const client = new TugClient({ endpoints: [opts.apiAddress] });
  const nodeIpam = new NodeIpamLoop({ isLeader, onLeadershipChange, client, log: log.child({ loop: 'node-ipam' }) });
  nodeIpam.start();
  const loops = new LeaderLoops({
    controllers: controllers(),
    isLeader,
    onLeadershipChange,
    client,
    log: log.child({ part: 'control-loops' }),
    ...(opts.controllerSettings === undefined ? {} : { settings: opts.controllerSettings }),
  });
  loops.start();
  return {
    async stop() {
      await nodeIpam.stop();
      await loops.stop();
      client.close();
    },
  };
}
