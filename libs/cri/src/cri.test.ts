// cri.test.ts: CriClient against a private containerd (needs root, containerd, runc and
// busybox-static: deploy/setup.sh installs them). Builds the offline images, imports them
// with ctr, and runs a host-network pod with the web image through the CRI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname as nodeHostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cri } from '@tugboat/proto';
import { buildTugboatImages, WEB_IMAGE } from '@tugboat/images';
import { ContainerdEvents, CriClient, CriError, isCriError } from './index.ts';
import type { RuntimeExit } from './index.ts';
import { PrivateContainerd, which } from './containerd.ts';

describe('CriClient on a private containerd', () => {
  let cd: PrivateContainerd | undefined;
  let client: CriClient | undefined;
  let work: string | undefined;
  let events: ContainerdEvents | undefined;
  let collecting: Promise<void> | undefined;
  const exits: RuntimeExit[] = [];
  const stopEvents = new AbortController();

  /** waitForExit tells whether an exit of id arrives within ms. */
  const waitForExit = async (id: string, ms: number): Promise<boolean> => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((res) => setTimeout(res, 50))) {
      if (exits.some((e) => e.id === id)) return true;
    }
    return exits.some((e) => e.id === id);
  };
  const untilExit = async (id: string): Promise<void> => {
    assert.ok(await waitForExit(id, 15_000), `an exit event of ${id} within 15 s; got ${JSON.stringify(exits)}`);
  };
  /** untilSubscribed starts containers that exit at once until the exit of one is reported:
   *  from then on the subscription delivers (the stream says nothing before its first event). */
  const untilSubscribed = async (c: CriClient, podId: string, sandboxConfig: Parameters<CriClient['createContainer']>[2]): Promise<void> => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const probe = await c.createContainer(podId, { metadata: { name: `probe-${attempt}` }, image: { image: WEB_IMAGE }, command: ['true'] }, sandboxConfig);
      try {
        await c.startContainer(probe);
        if (await waitForExit(probe, 3000)) return;
      } finally {
        // containerd publishes the exit before its CRI plugin has recorded it: wait for that.
        for (let i = 0; i < 200 && (await c.containerStatus(probe)).status?.state === cri.ContainerState.CONTAINER_RUNNING; i++) {
          await new Promise((res) => setTimeout(res, 50));
        }
        await c.removeContainer(probe);
      }
    }
    assert.fail(`no exit event in 5 attempts; got ${JSON.stringify(exits)}`);
  };

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'this test runs as root (it starts containerd)');
    for (const p of ['containerd', 'ctr', 'runc']) {
      assert.ok(which(p) !== undefined, `${p} is missing: run deploy/setup.sh (installs containerd, runc, busybox-static)`);
    }
    work = mkdtempSync(join(tmpdir(), 'tug-cri-test-'));
    const images = buildTugboatImages();
    writeFileSync(join(work, 'pause.tar'), images.pause.archive);
    writeFileSync(join(work, 'web.tar'), images.web.archive);
    cd = await PrivateContainerd.start();
    cd.ctr(['images', 'import', join(work, 'pause.tar')]);
    cd.ctr(['images', 'import', join(work, 'web.tar')]);
    client = new CriClient(cd.address, { timeoutMs: 30_000 });
    events = new ContainerdEvents(cd.address);
    const subscription = events.exits(stopEvents.signal);
    collecting = (async () => {
      for await (const e of subscription) exits.push(e);
    })();
  });

  after(async () => {
    stopEvents.abort();
    await collecting;
    events?.close();
    client?.close();
    await cd?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('runs a host-network pod with the web image', { timeout: 120_000 }, async () => {
    assert.ok(client !== undefined && cd !== undefined);
    const c = client;
    const v = await c.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
    const st = await c.status();
    const ready = st.status?.conditions.find((x) => x.type === 'RuntimeReady');
    assert.equal(ready?.status, true, 'RuntimeReady');

    const imgs = await c.listImages();
    assert.ok(imgs.some((i) => i.repoTags.includes(WEB_IMAGE)), `web image listed: ${JSON.stringify(imgs.map((i) => i.repoTags))}`);
    const img = await c.imageStatus(WEB_IMAGE);
    assert.ok(img !== undefined && img.size > 0n);

    const port = 20000 + Math.floor(Math.random() * 40000);
    // A host-network pod shares the node's UTS namespace, so it may not set a hostname
    // (runc refuses); the pod's hostname is the node's.
    const hostname = nodeHostname();
    const sandboxConfig = {
      metadata: { name: 'web', namespace: 'default', uid: `uid-${port}`, attempt: 0 },
      logDirectory: join(cd.dir, 'logs', 'pod'),
      linux: { securityContext: { namespaceOptions: { network: cri.NamespaceMode.NODE } } },
    };
    const podId = await c.runPodSandbox(sandboxConfig);
    let webId = '';
    try {
      const ps = await c.podSandboxStatus(podId);
      assert.equal(ps.status?.state, cri.PodSandboxState.SANDBOX_READY);
      assert.ok((await c.listPodSandbox()).some((p) => p.id === podId));

      const id = await c.createContainer(
        podId,
        {
          metadata: { name: 'web' },
          image: { image: WEB_IMAGE },
          envs: [{ key: 'PORT', value: String(port) }],
          logPath: 'web.log',
        },
        sandboxConfig,
      );
      await c.startContainer(id);
      webId = id;

      // The server needs a moment to bind; retry briefly.
      let out = '';
      for (let i = 0; i < 50; i++) {
        const r = await c.execSync(id, ['wget', '-qO-', `http://127.0.0.1:${port}/`], 5);
        out = r.stdout.toString();
        if (r.exitCode === 0) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(out.trim(), hostname);

      const cs = await c.containerStatus(id);
      assert.equal(cs.status?.state, cri.ContainerState.CONTAINER_RUNNING);
      const list = await c.listContainers({ podSandboxId: podId });
      assert.deepEqual(list.map((x) => x.id), [id]);
      const stats = await c.containerStats(id);
      assert.equal(stats.attributes?.id, id);
      const listed = await c.listContainerStats({ podSandboxId: podId });
      assert.deepEqual(listed.map((x) => x.attributes?.id), [id]);
      assert.ok((listed[0]?.memory?.workingSetBytes?.value ?? 0n) > 0n, 'a running container has a working set');
      // The agent's UsageSampler relies on this time being wall-clock nanoseconds.
      const readAtMs = Number((listed[0]?.cpu?.timestamp ?? 0n) / 1_000_000n);
      assert.ok(Math.abs(readAtMs - Date.now()) < 60_000, `a CPU reading carries its wall-clock time in ns (got ${readAtMs} ms)`);

      // containerd's exit events: once the subscription provably delivers (a container that
      // exits at once is seen), an exec's exit is not reported and the container's own is.
      await c.execSync(id, ['true'], 5);
      await untilSubscribed(c, podId, sandboxConfig);
      const t0 = Date.now();
      await c.stopContainer(id, 10);
      const stopMs = Date.now() - t0;
      assert.ok(stopMs < 2000, `StopContainer took ${stopMs} ms`);
      const exited = await c.containerStatus(id);
      assert.equal(exited.status?.state, cri.ContainerState.CONTAINER_EXITED);
      assert.equal(exited.status?.exitCode, 0);
      await c.removeContainer(id);

      // Errors name what they concern.
      await assert.rejects(c.containerStatus(id), (err: unknown) => {
        assert.ok(isCriError(err) && err instanceof CriError);
        assert.equal(err.name, 'CriError');
        assert.match(err.message, /ContainerStatus container .*default\/web\/web/);
        return true;
      });
    } finally {
      const t0 = Date.now();
      await c.stopPodSandbox(podId);
      assert.ok(Date.now() - t0 < 5000, `StopPodSandbox took ${Date.now() - t0} ms`);
      await c.removePodSandbox(podId);
    }
    assert.ok(!(await c.listPodSandbox()).some((p) => p.id === podId));
    // One subscription delivers in order: the sandbox's exit came after everything before it.
    await untilExit(podId);
    assert.equal(exits.filter((e) => e.id === webId).length, 1, `one exit of the web container, none of its exec: ${JSON.stringify(exits)}`);
  });
});
