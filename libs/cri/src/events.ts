// events.ts: ContainerdEvents, containerd's own event stream (not part of CRI) on the same
// socket as its CRI plugin, reduced to what an agent acts on: a sandbox or container whose
// process exited. The CRI plugin names containerd containers by the ids of the CRI sandboxes
// and containers it made, so an exit's id is a CRI id.
import { fromBinary } from '@bufbuild/protobuf';
import { containerdEvents, createClient, isGrpcError, Status } from '@tugboat/proto';
import type { ServiceClient } from '@tugboat/proto';
import { CriError } from './client.ts';

/** CRI_NAMESPACE is the containerd namespace the CRI plugin keeps its sandboxes and containers in. */
export const CRI_NAMESPACE = 'k8s.io';

/** EXIT_TOPIC is containerd's topic of a task's process exiting. */
const EXIT_TOPIC = '/tasks/exit';

/** RuntimeExit is a CRI sandbox or container whose process exited. */
export interface RuntimeExit {
  /** id is the CRI sandbox or container id. */
  id: string;
  /** atMs is when containerd published it (ms since the epoch). */
  atMs: number;
}

/** ContainerdEvents subscribes to containerd's event service. */
export class ContainerdEvents {
  readonly address: string;
  readonly #client: ServiceClient<typeof containerdEvents.Events>;

  constructor(address: string) {
    this.address = address.startsWith('/') ? `unix://${address}` : address;
    this.#client = createClient(containerdEvents.Events, this.address);
  }

  close(): void {
    this.#client.close();
  }

  /**
   * exits yields the sandboxes and containers of the CRI namespace whose own process exits, as
   * containerd publishes it (the processes of execs are left out), until signal is aborted
   * (then it ends quietly) or the stream breaks (then it throws a CriError; UNIMPLEMENTED means
   * the runtime has no such service). Exits while no subscription was open are not replayed.
   */
  async *exits(signal: AbortSignal): AsyncGenerator<RuntimeExit> {
    const filters = [`namespace==${CRI_NAMESPACE},topic==${JSON.stringify(EXIT_TOPIC)}`];
    try {
      for await (const envelope of this.#client.subscribe({ filters }, { signal })) {
        const payload = envelope.event?.value;
        if (envelope.topic !== EXIT_TOPIC || payload === undefined) continue;
        const exit = fromBinary(containerdEvents.TaskExitSchema, payload);
        if (exit.containerId === '' || exit.id !== exit.containerId) continue;
        const at = envelope.timestamp;
        const atMs = at === undefined ? Date.now() : Number(at.seconds) * 1000 + Math.floor(at.nanos / 1e6);
        yield { id: exit.containerId, atMs };
      }
    } catch (err) {
      if (signal.aborted) return;
      const code = isGrpcError(err) ? err.code : Status.UNKNOWN;
      throw new CriError('Subscribe', 'containerd events', code, err instanceof Error ? err.message : String(err), { cause: err });
    }
  }
}
