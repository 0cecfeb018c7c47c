// images.ts: the offline images (pause, web) built from busybox-static, kept as OCI tarballs
// under /var/lib/tugboat/images, and imported into the nodes' containerds.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildTugboatImages } from '@tugboat/images';
import { writeIfChanged } from './files.ts';

/** ensureImageTars builds the pause, web and web:v2 images (a fraction of a second: the builds are
 *  deterministic) and writes each tarball unless the one on disk has the same bytes, so an
 *  image changed by a newer checkout replaces the old one. Returns the tarballs' paths. */
export function ensureImageTars(cacheDir: string): string[] {
  const tars = [join(cacheDir, 'pause.tar'), join(cacheDir, 'web.tar'), join(cacheDir, 'web-v2.tar')];
  let images;
  try {
    images = buildTugboatImages();
  } catch (err) {
    throw new Error(`cannot build the offline images from /bin/busybox (install busybox-static: deploy/setup.sh): ${(err as Error).message}`, { cause: err });
  }
  for (const [path, image] of [[tars[0]!, images.pause], [tars[1]!, images.web], [tars[2]!, images.webV2]] as const) writeIfChanged(path, image.archive);
  return tars;
}

/** ctrImport imports one tarball into the k8s.io namespace of the containerd at socket. */
export function ctrImport(socket: string, tar: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ctr', ['--address', socket, '-n', 'k8s.io', 'images', 'import', tar], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => reject(new Error(`ctr images import ${tar} into ${socket}: ${err.message}`)));
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`ctr images import ${tar} into ${socket} failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

/** importImages imports the tarballs into every containerd, the containerds in parallel. */
export async function importImages(sockets: readonly string[], tars: readonly string[]): Promise<void> {
  await Promise.all(
    sockets.map(async (socket) => {
      for (const tar of tars) await ctrImport(socket, tar);
    }),
  );
}
