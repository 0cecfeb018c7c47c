// workload.ts: what a chaos run keeps busy while faults hit the cluster, in its own namespace:
// a web Deployment behind a ClusterIP Service (asked over HTTP through the Service's VIP), a
// one-replica Deployment with the Recreate strategy (a set that allows one copy), and the
// ConfigMaps the API clients write.
import type { Deployment, Namespace, Pod, Service } from '@tugboat/api';
import type { TugClient } from '@tugboat/client';
import { fetchPage, isServing } from '@tugboat/localcluster';

export const WEB_IMAGES = ['tugboat.local/web:latest', 'tugboat.local/web:v2'] as const;

/** namespaceOf is the namespace of a scenario's workload. */
export function namespaceOf(scenario: string): string {
  return `chaos-${scenario}`.slice(0, 63).replace(/-+$/, '');
}

function webDeployment(namespace: string, name: string, replicas: number, strategy: Deployment['spec']['strategy']): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      strategy,
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [
            {
              name: 'web',
              image: WEB_IMAGES[0],
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [{ name: 'DRAIN_SECONDS', value: '2' }],
              readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 1 },
              resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
            },
          ],
        },
      },
    },
  } as Deployment;
}

/** createWorkload makes the namespace, the web Deployment and Service and the one-replica set. Returns the Service's VIP. */
export async function createWorkload(client: TugClient, namespace: string, replicas: number): Promise<string> {
  await client.namespaces.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } as Namespace);
  await client.deployments.create(webDeployment(namespace, 'web', replicas, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }));
  await client.deployments.create(webDeployment(namespace, 'solo', 1, { type: 'Recreate' }));
  const svc = await client.services.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  } as Service);
  const vip = svc.spec.clusterIP;
  if (vip === undefined || vip === '') throw new Error(`service ${namespace}/web got no ClusterIP`);
  return vip;
}

/** rollout starts a rolling update of the web Deployment to the other image; returns the image. */
export async function rollout(client: TugClient, namespace: string): Promise<string> {
  for (;;) {
    const d = await client.deployments.get(namespace, 'web');
    const container = d.spec.template.spec.containers[0]!;
    const image = container.image === WEB_IMAGES[0] ? WEB_IMAGES[1] : WEB_IMAGES[0];
    container.image = image;
    try {
      await client.deployments.update(d);
      return image;
    } catch (err) {
      if ((err as Error).name !== 'ConflictError') throw err;
    }
  }
}

/** WorkloadState is how far the workload is from what it should be. */
export interface WorkloadState {
  readonly desired: number;
  /** Ready web pods of the current template. */
  readonly ready: number;
  /** Whether both Deployments are complete: every replica updated, Ready and no old one left. */
  readonly complete: boolean;
}

function complete(d: Deployment): boolean {
  const s = d.status ?? {};
  const want = d.spec.replicas ?? 1;
  return (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) && s.updatedReplicas === want && s.readyReplicas === want && s.replicas === want && (s.availableReplicas ?? 0) === want;
}

/** workloadState reads both Deployments. */
export async function workloadState(client: TugClient, namespace: string): Promise<WorkloadState> {
  const [web, solo] = await Promise.all([client.deployments.get(namespace, 'web', { timeoutMs: 3_000 }), client.deployments.get(namespace, 'solo', { timeoutMs: 3_000 })]);
  return { desired: web.spec.replicas ?? 1, ready: web.status?.readyReplicas ?? 0, complete: complete(web) && complete(solo) };
}

/**
 * servingAnswers: every Ready web pod answers over HTTP at its own address from `netns`, so the
 * Deployment's status is not merely stale (a node restarted a moment ago has lost its pods
 * before anyone wrote it down).
 */
export async function servingAnswers(client: TugClient, namespace: string, netns: string): Promise<boolean> {
  const pods = (await client.pods.list({ namespace, labelSelector: 'app=web', timeoutMs: 3_000 })).items.filter(isServing);
  const answers = await Promise.all(pods.map((p) => fetchPage(netns, `http://${p.status?.podIP}:8080/`).then((page) => page === p.metadata.name, () => false)));
  return pods.length > 0 && answers.every((a) => a);
}

/** webPods lists the running web pods that are on a node. */
export async function webPods(client: TugClient, namespace: string): Promise<Pod[]> {
  const pods = (await client.pods.list({ namespace, labelSelector: 'app=web' })).items;
  return pods.filter((p) => p.metadata.deletionTimestamp === undefined && (p.spec.nodeName ?? '') !== '' && p.status?.phase === 'Running');
}
