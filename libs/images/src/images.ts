// images.ts: tugboat's offline images, built from Debian's busybox-static.
//
//   tugboat.local/pause:latest  PID 1 of every pod sandbox: sleeps until SIGTERM/SIGINT, then
//                               exits 0 at once (busybox `sleep` as PID 1 ignores SIGTERM, so
//                               the shell traps it and kills its sleep child).
//   tugboat.local/web:latest    busybox (sh, wget, sleep, ...) and an HTTP server on $PORT
//                               (default 8080) answering with the pod's hostname. On
//                               SIGTERM/SIGINT it logs `web: draining for N s`, serves on for
//                               $DRAIN_SECONDS (whole seconds; default 0: it stops at once;
//                               anything else is logged as a warning and taken as 0), then
//                               stops and exits 0; a second signal ends the drain early.
//                               Debian 12's busybox wget crashes on its -T option: bound a
//                               fetch with `timeout 5 wget ...`.
//   tugboat.local/web:v2        the same server as another image (WEB_VERSION=v2 in its
//                               environment, which its start-up log line shows), so rolling
//                               updates have a second image to roll to.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildImage } from './oci.ts';
import type { BuiltImage, TarEntry } from './oci.ts';

export const PAUSE_IMAGE = 'tugboat.local/pause:latest';
export const WEB_IMAGE = 'tugboat.local/web:latest';
export const WEB_V2_IMAGE = 'tugboat.local/web:v2';
export const DEFAULT_BUSYBOX = '/bin/busybox';

// The pause entrypoint: the shell is PID 1; the trap ends it on TERM or INT even while it
// waits for its sleep child.
const PAUSE_SCRIPT = `#!/bin/sh
trap 'kill $! 2>/dev/null; exit 0' TERM INT
while :; do
  sleep 3600 &
  wait $!
done
`;

// The web entrypoint: the page is the hostname (containerd's CRI plugin sets HOSTNAME to the
// sandbox hostname, which also covers host-network pods that share the node's UTS namespace).
// On TERM or INT it drains: httpd serves on for DRAIN_SECONDS, then stops and the script exits
// 0. The shell is PID 1 and reacts to a trap only between commands or while in `wait`, so it
// waits on a background sleep; a second TERM or INT ends that sleep and the drain with it. The
// trap is set before the first log line, so whoever waits for that line may signal at once.
// Files go under $TMPDIR (unset in the image: /tmp), so the script also runs on a host.
export const WEB_SCRIPT = `#!/bin/sh
port="\${PORT:-8080}"
name="\${HOSTNAME:-$(hostname)}"
drain="\${DRAIN_SECONDS:-0}"
case "$drain" in
''|*[!0-9]*)
  echo "web: warning: DRAIN_SECONDS=\\"$drain\\" is not a whole number of seconds; not draining" >&2
  drain=0
  ;;
esac
www="\${TMPDIR:-/tmp}/www"
mkdir -p "$www"
echo "$name" > "$www/index.html"
httpd -f -p "$port" -h "$www" &
pid=$!
stop() {
  if [ "$drain" -gt 0 ]; then
    echo "web: draining for $drain s"
    trap 'kill $! 2>/dev/null' TERM INT
    sleep "$drain" &
    wait $!
  fi
  kill $pid 2>/dev/null
  wait $pid
  exit 0
}
trap stop TERM INT
echo "web: serving $name on port $port\${WEB_VERSION:+ (version $WEB_VERSION)}"
wait $pid
`;

/** busyboxRootfs returns a root file system of busybox with every applet linked in /bin. */
export function busyboxRootfs(busybox: string = DEFAULT_BUSYBOX): TarEntry[] {
  const binary = readFileSync(busybox);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
  const entries: TarEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'dir', path: 'dev' },
    { type: 'dir', path: 'etc' },
    { type: 'dir', path: 'proc' },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'sys' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'var' },
    { type: 'file', path: 'bin/busybox', mode: 0o755, data: binary },
    { type: 'file', path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' },
    { type: 'file', path: 'etc/group', data: 'root:x:0:\nnogroup:x:65534:\n' },
  ];
  for (const applet of [...new Set(applets)].sort()) entries.push({ type: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  return entries;
}

/** buildTugboatImages builds the pause and web images from the given busybox binary. */
export function buildTugboatImages(busybox: string = DEFAULT_BUSYBOX): { pause: BuiltImage; web: BuiltImage; webV2: BuiltImage } {
  const base = busyboxRootfs(busybox);
  const pause = buildImage({
    name: PAUSE_IMAGE,
    rootfs: [...base, { type: 'file', path: 'pause.sh', mode: 0o755, data: PAUSE_SCRIPT }],
    entrypoint: ['/bin/sh', '/pause.sh'],
    stopSignal: 'SIGTERM',
  });
  const web = buildImage({
    name: WEB_IMAGE,
    rootfs: [...base, { type: 'file', path: 'web.sh', mode: 0o755, data: WEB_SCRIPT }],
    entrypoint: ['/bin/sh', '/web.sh'],
    exposedPorts: ['8080/tcp'],
    stopSignal: 'SIGTERM',
  });
  const webV2 = buildImage({
    name: WEB_V2_IMAGE,
    rootfs: [...base, { type: 'file', path: 'web.sh', mode: 0o755, data: WEB_SCRIPT }],
    entrypoint: ['/bin/sh', '/web.sh'],
    env: ['PATH=/bin:/sbin:/usr/bin:/usr/sbin', 'WEB_VERSION=v2'],
    exposedPorts: ['8080/tcp'],
    stopSignal: 'SIGTERM',
  });
  return { pause, web, webV2 };
}
