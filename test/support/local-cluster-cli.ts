// local-cluster-cli.ts: the global flags with which `tug` reaches a local cluster that tests
// brought up with upCluster (no context is written for it): its endpoints and admin certificate.
import type { ClusterInfo } from '@tugboat/localcluster';

export function localClusterFlags(info: ClusterInfo): string[] {
  return [
    '--endpoints', info.endpoints.join(','),
    '--certificate-authority', info.tls.caFile,
    '--client-certificate', info.tls.certFile,
    '--client-key', info.tls.keyFile,
  ];
}
