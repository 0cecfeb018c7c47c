// catalog.ts: what the cluster DNS server knows of Services and Endpoints. Every lookup is
// answered from memory, synchronously: a query never waits for the API.
//
// informerCatalog reads the watch caches of a Services and an Endpoints informer
// (@tugboat/client) and adds two indexes of its own over the Services, kept up to date by the
// informer's handlers: ClusterIP -> service keys, for reverse (PTR) lookups in O(1), and
// namespace -> number of services, for "does NS.svc.DOMAIN exist". The indexes hold keys only;
// objects are always read from the informer's cache, so an answer never shows an object the
// cache no longer has. Until the informers have synced the catalog is simply empty (the names
// of the cluster do not exist yet): the caller decides whether to serve before that.
import type { Endpoints, Service } from '@tugboat/api';
import { objectKey, splitKey } from '@tugboat/client';
import type { Informer } from '@tugboat/client';

/** DnsCatalog is the DNS server's read-only view of the cluster. Its methods run on every
 *  query: they must answer from memory, at once, and not throw. Objects returned are shared:
 *  never change them. */
export interface DnsCatalog {
  /** service is the Service namespace/name, or undefined. */
  service(namespace: string, name: string): Service | undefined;
  /** endpoints are the Endpoints of the service namespace/name, or undefined. */
  endpoints(namespace: string, name: string): Endpoints | undefined;
  /** serviceByClusterIP is the Service that has ip (dotted quad) among its ClusterIPs. */
  serviceByClusterIP(ip: string): Service | undefined;
  /** hasNamespace tells whether the namespace has at least one Service: then the name
   *  NS.svc.DOMAIN exists (without records), else it is NXDOMAIN. */
  hasNamespace(namespace: string): boolean;
}

/** clusterIPsOf lists a service's ClusterIPs (spec.clusterIP, then spec.clusterIPs), without
 *  "None", empty strings and repeats: empty for a headless service. */
export function clusterIPsOf(service: Service): string[] {
  const ips = [service.spec.clusterIP, ...(service.spec.clusterIPs ?? [])];
  return [...new Set(ips.filter((ip): ip is string => ip !== undefined && ip !== '' && ip !== 'None'))];
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

/** staticCatalog is a catalog of fixed objects (tests, fixed configurations). */
export function staticCatalog(services: readonly Service[], endpoints: readonly Endpoints[] = []): DnsCatalog {
  const svcs = new Map(services.map((s) => [objectKey(s), s]));
  const eps = new Map(endpoints.map((e) => [objectKey(e), e]));
  const byIP = new Map<string, Service>();
  for (const s of services) for (const ip of clusterIPsOf(s)) if (!byIP.has(ip)) byIP.set(ip, s);
  const namespaces = new Set(services.map((s) => s.metadata.namespace ?? ''));
  return {
    service: (namespace, name) => svcs.get(key(namespace, name)),
    endpoints: (namespace, name) => eps.get(key(namespace, name)),
    serviceByClusterIP: (ip) => byIP.get(ip),
    hasNamespace: (namespace) => namespaces.has(namespace),
  };
}

/** informerCatalog is the catalog over two informers' caches (see the module comment). It
 *  neither starts nor stops the informers. close() stops keeping the indexes: after it, reverse
 *  lookups find nothing and namespaces are empty. */
export function informerCatalog(services: Informer<Service>, endpoints: Informer<Endpoints>): DnsCatalog & { close(): void } {
  return new InformerCatalog(services, endpoints);
}

class InformerCatalog implements DnsCatalog {
  readonly #services: Informer<Service>;
  readonly #endpoints: Informer<Endpoints>;
  /** #byIP: ClusterIP -> keys of the services claiming it (one, unless the cache briefly holds
   *  a deleted service and its successor with the same address). */
  readonly #byIP = new Map<string, Set<string>>();
  /** #indexed: service key -> the ClusterIPs it was indexed under. */
  readonly #indexed = new Map<string, readonly string[]>();
  /** #namespaces: namespace -> how many services of it are indexed. */
  readonly #namespaces = new Map<string, number>();
  readonly #removeHandler: () => void;

  constructor(services: Informer<Service>, endpoints: Informer<Endpoints>) {
    this.#services = services;
    this.#endpoints = endpoints;
    const reindex = (k: string): void => this.#reindex(k);
    this.#removeHandler = services.addHandler(reindex);
    // A handler added after the informer synced is not told of what the cache already holds.
    for (const k of services.keys()) this.#reindex(k);
  }

  service(namespace: string, name: string): Service | undefined {
    return this.#services.getByName(namespace, name);
  }

  endpoints(namespace: string, name: string): Endpoints | undefined {
    return this.#endpoints.getByName(namespace, name);
  }

  serviceByClusterIP(ip: string): Service | undefined {
    for (const k of this.#byIP.get(ip) ?? []) {
      const svc = this.#services.get(k);
      if (svc !== undefined && clusterIPsOf(svc).includes(ip)) return svc;
    }
    return undefined;
  }

  hasNamespace(namespace: string): boolean {
    return (this.#namespaces.get(namespace) ?? 0) > 0;
  }

  close(): void {
    this.#removeHandler();
    this.#byIP.clear();
    this.#indexed.clear();
    this.#namespaces.clear();
  }

  /** #reindex brings the indexes in line with what the cache holds under k (level-triggered:
   *  it does not matter whether k was added, updated or deleted). */
  #reindex(k: string): void {
    const before = this.#indexed.get(k);
    for (const ip of before ?? []) {
      const keys = this.#byIP.get(ip);
      keys?.delete(k);
      if (keys?.size === 0) this.#byIP.delete(ip);
    }
    const svc = this.#services.get(k);
    const { namespace } = splitKey(k);
    if (svc === undefined) {
      if (before !== undefined) {
        this.#indexed.delete(k);
        const left = (this.#namespaces.get(namespace) ?? 1) - 1;
        if (left > 0) this.#namespaces.set(namespace, left);
        else this.#namespaces.delete(namespace);
      }
      return;
    }
    if (before === undefined) this.#namespaces.set(namespace, (this.#namespaces.get(namespace) ?? 0) + 1);
    const ips = clusterIPsOf(svc);
    for (const ip of ips) {
      const keys = this.#byIP.get(ip) ?? new Set<string>();
      keys.add(k);
      this.#byIP.set(ip, keys);
    }
    this.#indexed.set(k, ips);
  }
}
