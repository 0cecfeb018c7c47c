// containerd.ts: starts a private containerd (own root, state, socket, runc root and CNI
// dirs) for tests and local clusters, and tears it down again: it stops only the process it
// started, unmounts what is mounted under its directory and removes that directory.
// It never talks to, or touches the files of, a system containerd.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PrivateContainerdOptions {
  /** sandboxImage is the pause image (default tugboat.local/pause:latest). */
  sandboxImage?: string;
  /** cniBinDir is where CNI plugins are looked up (default: an empty dir of its own). */
  cniBinDir?: string;
}

/** which returns the absolute path of a program on PATH, or undefined. */
export function which(program: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p !== '' ? p : undefined;
}

/** ContainerdConfigOptions are the paths and settings of one containerd of ours. */
export interface ContainerdConfigOptions {
  /** root is containerd's persistent dir (images, snapshots, CRI root). */
  readonly root: string;
  /** state is containerd's runtime dir (tasks, shim bundles, CRI state). */
  readonly state: string;
  /** socket is the path of the gRPC unix socket (the CRI and ctr address). */
  readonly socket: string;
  /** ttrpcSocket defaults to SOCKET.ttrpc. */
  readonly ttrpcSocket?: string;
  /** debugSocket defaults to debug.sock beside the gRPC socket. */
  readonly debugSocket?: string;
  readonly sandboxImage: string;
  /** runcRoot is runc's state dir (--root) for this containerd's containers. */
  readonly runcRoot: string;
  readonly cniBinDir: string;
  readonly cniConfDir: string;
  /** netnsUnderStateDir puts pod network namespaces under STATE/netns, not /var/run/netns. */
  readonly netnsUnderStateDir?: boolean;
  /** streamServerAddress is where exec/attach streams listen (default 127.0.0.1, any port). */
  readonly streamServerAddress?: string;
  /** restrictOomScoreAdj makes containerd raise a container's oom_score_adj to its own when
   *  lower: needed where lowering a score is refused (some containers and sandboxes), where
   *  runc would otherwise fail to start a Guaranteed pod (-998). Default: oomScoreAdjRestricted(). */
  readonly restrictOomScoreAdj?: boolean;
  /** systemdCgroup: runc places containers through systemd (slices named by the pod's
   *  cgroup_parent) rather than writing cgroupfs paths. Default false (cgroupfs). */
  readonly systemdCgroup?: boolean;
}

/** oomScoreAdjRestricted tells whether this host refuses to lower a process's oom_score_adj
 *  (it asks a child shell to lower its own by one). */
export function oomScoreAdjRestricted(): boolean {
  const r = spawnSync('sh', ['-c', 'echo $(( $(cat /proc/self/oom_score_adj) - 1 )) > /proc/self/oom_score_adj'], { stdio: 'ignore' });
  return r.status !== 0;
}

/** tomlString quotes a value as a TOML basic string. */
function tomlString(v: string): string {
  return JSON.stringify(v);
}

/** renderContainerdConfig returns the config.toml (version 2) of a containerd that keeps
 *  every file under the given dirs: overlayfs snapshots, runc with cgroupfs (or systemd), the CRI plugin
 *  with CNI from the given dirs and no metrics listener. */
export function renderContainerdConfig(opts: ContainerdConfigOptions): string {
  const q = tomlString;
  const sep = opts.socket.lastIndexOf('/');
  const debugSocket = opts.debugSocket ?? `${sep >= 0 ? opts.socket.slice(0, sep + 1) : ''}debug.sock`;
  return `version = 2
root = ${q(opts.root)}
state = ${q(opts.state)}
[grpc]
  address = ${q(opts.socket)}
[ttrpc]
  address = ${q(opts.ttrpcSocket ?? `${opts.socket}.ttrpc`)}
[debug]
  address = ${q(debugSocket)}
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(opts.sandboxImage)}
  stream_server_address = ${q(opts.streamServerAddress ?? '127.0.0.1')}
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = ${opts.restrictOomScoreAdj ?? oomScoreAdjRestricted()}
  netns_mounts_under_state_dir = ${opts.netnsUnderStateDir === true}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = ${q(opts.runcRoot)}
        SystemdCgroup = ${opts.systemdCgroup === true}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(opts.cniBinDir)}
    conf_dir = ${q(opts.cniConfDir)}
`;
}

/** PrivateContainerd is one containerd process of our own. */
export class PrivateContainerd {
  readonly dir: string;
  readonly socket: string;
  readonly address: string;
  readonly #child: ChildProcess;
  #stopped = false;

  private constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.socket = join(dir, 'containerd.sock');
    this.address = `unix://${this.socket}`;
    this.#child = child;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** start writes a config under a new temp dir and starts containerd on it. */
  static async start(options: PrivateContainerdOptions = {}): Promise<PrivateContainerd> {
    const bin = which('containerd');
    if (bin === undefined) {
      throw new Error('containerd is not installed (run deploy/setup.sh as root: it installs containerd, runc, the CNI plugins and busybox-static)');
    }
    const dir = mkdtempSync(join(tmpdir(), 'tug-containerd-'));
    for (const d of ['root', 'state', 'runc', 'cni-conf', 'cni-bin', 'logs']) mkdirSync(join(dir, d));
    const config = renderContainerdConfig({
      root: join(dir, 'root'),
      state: join(dir, 'state'),
      socket: join(dir, 'containerd.sock'),
      sandboxImage: options.sandboxImage ?? 'tugboat.local/pause:latest',
      runcRoot: join(dir, 'runc'),
      cniBinDir: options.cniBinDir ?? join(dir, 'cni-bin'),
      cniConfDir: join(dir, 'cni-conf'),
    });
    writeFileSync(join(dir, 'config.toml'), config);
    const log = join(dir, 'logs', 'containerd.log');
    writeFileSync(log, '');
    const { openSync } = await import('node:fs');
    const fd = openSync(log, 'a');
    const child = spawn(bin, ['--config', join(dir, 'config.toml'), '--log-level', 'info'], {
      stdio: ['ignore', fd, fd],
    });
    const cd = new PrivateContainerd(dir, child);
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + 20_000;
    while (!existsSync(cd.socket)) {
      if (exited || Date.now() > deadline) {
        const tail = readFileSync(log, 'utf8').split('\n').slice(-20).join('\n');
        await cd.stop();
        throw new Error(`containerd did not start (${exited ? 'exited' : 'timeout'}); log:\n${tail}`);
      }
      await sleep(50);
    }
    return cd;
  }

  /** ctr runs ctr against this containerd in namespace k8s.io and returns its stdout. */
  ctr(args: string[]): string {
    const r = spawnSync('ctr', ['--address', this.socket, '-n', 'k8s.io', ...args], { encoding: 'utf8' });
    if (r.error !== undefined) throw new Error(`ctr ${args.join(' ')}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`ctr ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  /** logTail returns the last lines of containerd's log. */
  logTail(lines = 40): string {
    try {
      return readFileSync(join(this.dir, 'logs', 'containerd.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** stop ends our containerd (TERM, then KILL), kills shims of ours still running,
   *  unmounts everything under our dir and removes it. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timedOut = await Promise.race([done.then(() => false), sleep(10_000).then(() => true)]);
      if (timedOut) {
        child.kill('SIGKILL');
        await done;
      }
    }
    // Shims outlive containerd by design; end those started for our socket (their command
    // line names our dir), by PID, then the container processes they ran are gone with them.
    for (const pid of shimPids(this.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (shimPids(this.dir).length > 0) await sleep(200);
    unmountUnder(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** shimPids returns the PIDs of containerd-shim processes whose command line names dir. */
function shimPids(dir: string): number[] {
  const out: number[] = [];
  let entries: string[] = [];
  try {
    entries = spawnSync('ls', ['/proc'], { encoding: 'utf8' }).stdout.split('\n');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (cmd.includes('containerd-shim') && cmd.includes(dir)) out.push(Number(e));
    } catch {
      // process ended
    }
  }
  return out;
}

/** unmountUnder lazily unmounts every mount point under dir, deepest first. */
export function unmountUnder(dir: string): void {
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => decode(l.split(' ')[1] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}
