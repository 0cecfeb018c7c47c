/**
 * The loops that run only while this member leads: the controllers (controllers.ts, run by
 * LeaderLoops of @tugboat/controllers) and the node IPAM loop (node-ipam-loop.ts: pod CIDRs for
 * new Nodes). They follow leadership by themselves from start to stop, and reach the API like
 * any client, through a client of this member's own API: their writes take the same path
 * (admission, Raft) as everyone's. The client calls the member's handlers in process (no
 * loopback channel, HTTP/2 or protobuf in between): these loops run only where they are served.
 */
import type { Logger } from 'pino';
import { TugClient } from '@tugboat/client';
import type { InProcessApi } from '@tugboat/client';
import { LeaderLoops } from '@tugboat/controllers';
import type { ControllerSettings } from '@tugboat/controllers';
import { NODE_IPAM, controllers } from './controllers.ts';
import { NodeIpamLoop } from './node-ipam-loop.ts';

export interface LeaderOnlyLoopsOptions {
  /** api is this member's own API, called in process. */
  readonly api: InProcessApi;
  /** isLeader tells whether this member leads now. */
  readonly isLeader: () => boolean;
  /** onLeadershipChange registers a listener called after any role or leader change; returns its remover. */
  readonly onLeadershipChange: (listener: () => void) => () => void;
  readonly log: Logger;
  /** enabled tells which loops run, by name (LOOP_NAMES). Default: all. */
  readonly enabled?: ((name: string) => boolean) | undefined;
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
  const enabled = opts.enabled ?? (() => true);
  const client = new TugClient({ inProcess: opts.api });
  const nodeIpam = enabled(NODE_IPAM) ? new NodeIpamLoop({ isLeader, onLeadershipChange, client, log: log.child({ loop: NODE_IPAM }) }) : undefined;
  nodeIpam?.start();
  const loops = new LeaderLoops({
    controllers: controllers(enabled),
    isLeader,
    onLeadershipChange,
    client,
    log: log.child({ part: 'control-loops' }),
    ...(opts.controllerSettings === undefined ? {} : { settings: opts.controllerSettings }),
  });
  loops.start();
  return {
    async stop() {
      await nodeIpam?.stop();
      await loops.stop();
      client.close();
    },
  };
}
