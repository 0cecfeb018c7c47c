// libs/images/src/build.ts: writes tugboat's offline images as OCI image-layout tarballs.
//
//   node libs/images/src/build.ts --out DIR [--busybox /bin/busybox]
//
// Writes DIR/pause.tar, DIR/web.tar and DIR/web-v2.tar (import with `ctr -n k8s.io images import FILE`) and
// prints each image's name and manifest digest. Output is deterministic: two builds from the
// same busybox give identical files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_BUSYBOX, buildTugboatImages } from './images.ts';

const { values } = parseArgs({
  options: { out: { type: 'string' }, busybox: { type: 'string', default: DEFAULT_BUSYBOX } },
  strict: true,
});
if (values.out === undefined) {
  console.error('usage: node libs/images/src/build.ts --out DIR [--busybox PATH]');
  process.exit(2);
}
const out = resolve(values.out);
let images;
try {
  images = buildTugboatImages(values.busybox);
} catch (err) {
  console.error(`build: cannot build images from ${values.busybox} (install busybox-static): ${(err as Error).message}`);
  process.exit(1);
}
mkdirSync(out, { recursive: true });
for (const [file, image] of [['pause.tar', images.pause], ['web.tar', images.web], ['web-v2.tar', images.webV2]] as const) {
  writeFileSync(join(out, file), image.archive);
  console.log(`${image.name} ${image.manifestDigest} ${join(out, file)}`);
}
