// build.test.ts: the offline images are well-formed OCI layouts and builds are deterministic.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { buildTugboatImages, PAUSE_IMAGE, WEB_IMAGE, WEB_V2_IMAGE } from './images.ts';
import { sha256, untar } from './oci.ts';

it('builds deterministic, well-formed OCI image layouts', () => {
  const a = buildTugboatImages();
  const b = buildTugboatImages();
  for (const [img, again, name, entry] of [
    [a.pause, b.pause, PAUSE_IMAGE, 'pause.sh'],
    [a.web, b.web, WEB_IMAGE, 'web.sh'],
    [a.webV2, b.webV2, WEB_V2_IMAGE, 'web.sh'],
  ] as const) {
    assert.equal(img.name, name);
    assert.equal(sha256(img.archive), sha256(again.archive), 'same bytes twice');
    const files = new Map(untar(img.archive).map((r) => [r.path, r]));
    assert.deepEqual(JSON.parse(files.get('oci-layout')!.data.toString()), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(files.get('index.json')!.data.toString());
    assert.equal(index.manifests[0].digest, img.manifestDigest);
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], name);
    const blob = (d: string) => files.get(`blobs/sha256/${d.slice(7)}`)!.data;
    for (const d of [img.manifestDigest, img.configDigest, img.layerDigest]) assert.equal(sha256(blob(d)), d);
    const manifest = JSON.parse(blob(img.manifestDigest).toString());
    assert.equal(manifest.config.digest, img.configDigest);
    assert.equal(manifest.layers[0].digest, img.layerDigest);
    const config = JSON.parse(blob(img.configDigest).toString());
    assert.deepEqual(config.rootfs.diff_ids, [img.diffId]);
    assert.deepEqual(config.config.Entrypoint, ['/bin/sh', `/${entry}`]);
    const layer = gunzipSync(blob(img.layerDigest));
    assert.equal(sha256(layer), img.diffId);
    const rootfs = new Map(untar(layer).map((r) => [r.path, r]));
    assert.equal(rootfs.get('bin/busybox')?.type, '0');
    for (const applet of ['sh', 'sleep', 'wget', 'httpd', 'hostname']) {
      assert.equal(rootfs.get(`bin/${applet}`)?.linkname, 'busybox', applet);
    }
    assert.ok(rootfs.has(entry));
  }
});
