// paths.ts: where tug-agent keeps its files under --data-dir.
//
//   DATA/pods/UID/volumes/NAME      a pod's volumes (emptyDir, configMap, secret files)
//   DATA/logs/NS_NAME_UID/          a pod's CRI log directory (the sandbox's log_directory)
//   DATA/logs/NS_NAME_UID/C/N.log   container C's log, attempt N (N = its restart count)
import { join } from 'node:path';

export function podsRoot(dataDir: string): string {
  return join(dataDir, 'pods');
}

export function podDir(dataDir: string, uid: string): string {
  return join(dataDir, 'pods', uid);
}

export function volumeDir(dataDir: string, uid: string, volume: string): string {
  return join(dataDir, 'pods', uid, 'volumes', volume);
}

export function logsRoot(dataDir: string): string {
  return join(dataDir, 'logs');
}

/** podLogDir is the CRI sandbox log_directory of a pod. */
export function podLogDir(dataDir: string, pod: { namespace: string; name: string; uid: string }): string {
  return join(dataDir, 'logs', `${pod.namespace}_${pod.name}_${pod.uid}`);
}

/** containerLogPath is the CRI container log_path, relative to the pod's log directory. */
export function containerLogPath(container: string, attempt: number): string {
  return `${container}/${attempt}.log`;
}
