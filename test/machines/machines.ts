// machines.ts: Debian 12 machines booted with systemd as PID 1 in systemd-nspawn, on a bridge of
// their own, standing in for the Vagrantfile's VMs where there is no hardware virtualisation.
// A test provisions them with the script the Vagrantfile runs (deploy/vagrant-provision.sh).
//
// What it takes on this kind of host (PID 1 is not systemd, cgroups are v1 beside an empty v2):
// - The root file system is made once with debootstrap (minbase, systemd) and kept in
//   CACHE_DIR; each machine boots a copy of it.
// - Without a systemd on the host, nspawn runs with --register=no --keep-unit, and `machinectl`
//   and `systemd-run -M` cannot reach the machines: commands are run with nsenter into the
//   machine's PID 1, and a machine is powered off by `systemctl poweroff` inside it.
// - nspawn mounts the v1 controllers read-only, and runc then cannot make a container's
//   cgroups. The launcher first makes a cgroup of its own in every hierarchy (cpuset needs its
//   cpus and mems copied down) and moves itself in, so the machine's hierarchies are that
//   subtree; a unit early in the machine's boot remounts each controller read-write
//   (`remount,bind,rw`: a plain `remount,rw` is refused as busy).
// - runc joins a session keyring, which nspawn's default system-call filter refuses:
//   --system-call-filter=@keyring.
// - A machine reaches the Debian archive and the npm registry through the host (NAT on the
//   bridge, forwarding on while machines run); the host's extra CA certificates are copied in,
//   for a network that inspects TLS.
//
// Everything made is recorded in STATE_FILE, so a run that was killed is cleaned up by the next:
// the machines' processes (by their recorded ids), dirs, cgroups, bridge and rules.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CACHE_DIR = '/var/cache/tugboat/machines';
const ROOTFS = join(CACHE_DIR, 'bookworm');
/** debootstrap's arguments: the cache is made with exactly these. */
const DEBOOTSTRAP = ['--variant=minbase', '--include=systemd,systemd-sysv,dbus,iproute2,ca-certificates', 'bookworm'];
const MIRROR = 'http://deb.debian.org/debian';
const MACHINES_DIR = '/var/lib/tugboat/machines';
const STATE_FILE = join(MACHINES_DIR, 'state.json');
export const BRIDGE = 'tugm0';
const SUBNET = '10.77.0';
export const HOST_ADDRESS = `${SUBNET}.1`;
const NAT_COMMENT = 'tugboat machine test';
const CGROUP_PARENT = 'tugboat-machines';
const CGROUP_ROOT = '/sys/fs/cgroup';

export type Log = (line: string) => void;

/** sh runs a host command; throws with its stderr unless it succeeds (or `ok` allows the exit). */
export function sh(argv: readonly string[], opts: { input?: string; ok?: boolean } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input: opts.input ?? '' });
  if (r.error !== undefined) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  const out = { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  if (out.code !== 0 && opts.ok !== true) throw new Error(`${argv.join(' ')} failed (exit ${out.code}): ${r.stderr.trim()}`);
  return out;
}

/** ensureRootfs makes the cached root file system unless it is there (about 2 minutes). */
export function ensureRootfs(log: Log): string {
  if (existsSync(join(ROOTFS, 'usr/lib/systemd/systemd'))) return ROOTFS;
  const partial = `${ROOTFS}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(CACHE_DIR, { recursive: true });
  log(`debootstrap ${DEBOOTSTRAP.join(' ')} into ${ROOTFS} (once; kept for later runs)`);
  sh(['debootstrap', ...DEBOOTSTRAP, partial, MIRROR]);
  renameSync(partial, ROOTFS);
  return ROOTFS;
}

interface State {
  /** launcher pids: each is the nspawn of a machine (it execs into nspawn). */
  pids: number[];
  machines: string[];
  ipForward?: string;
}

function readState(): State {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as State;
  } catch {
    return { pids: [], machines: [] };
  }
}

function writeState(s: State): void {
  mkdirSync(MACHINES_DIR, { recursive: true });
  writeFileSync(STATE_FILE, JSON.stringify(s));
}

function isNspawn(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.endsWith('systemd-nspawn'));
  } catch {
    return false;
  }
}

function natRule(op: '-A' | '-D' | '-C'): string[] {
  return ['iptables', '-w', '5', '-t', 'nat', op, 'POSTROUTING', '-s', `${SUBNET}.0/24`, '!', '-o', BRIDGE, '-j', 'MASQUERADE', '-m', 'comment', '--comment', NAT_COMMENT];
}

function forwardRule(op: '-I' | '-D' | '-C', dir: '-i' | '-o'): string[] {
  return ['iptables', '-w', '5', '-t', 'filter', op, 'FORWARD', dir, BRIDGE, '-j', 'ACCEPT', '-m', 'comment', '--comment', NAT_COMMENT];
}

/** removeCgroups removes the machines' cgroup subtree in every v1 hierarchy, deepest first. */
function removeCgroups(): void {
  for (const hierarchy of readdirSync(CGROUP_ROOT)) {
    const top = join(CGROUP_ROOT, hierarchy, CGROUP_PARENT);
    if (!existsSync(top)) continue;
    const dirs: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      dirs.push(d);
    };
    walk(top);
    for (const d of dirs) {
      try {
        rmdirSync(d);
      } catch {
        // still has processes: left for the next run's cleanup
      }
    }
  }
}

/** cleanUp removes everything a run made (this one or an earlier one that was killed). */
export async function cleanUp(log: Log): Promise<void> {
  const state = readState();
  for (const pid of state.pids) {
    if (!isNspawn(pid)) continue;
    process.kill(pid, 'SIGTERM'); // nspawn powers its machine off
    for (let i = 0; i < 100 && isNspawn(pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (isNspawn(pid)) process.kill(pid, 'SIGKILL');
    log(`stopped machine process ${pid}`);
  }
  for (const m of state.machines) {
    rmSync(join(MACHINES_DIR, m), { recursive: true, force: true });
    rmSync(join(MACHINES_DIR, `${m}.nspawn.log`), { force: true });
  }
  removeCgroups();
  if (sh(natRule('-C'), { ok: true }).code === 0) sh(natRule('-D'));
  for (const dir of ['-i', '-o'] as const) if (sh(forwardRule('-C', dir), { ok: true }).code === 0) sh(forwardRule('-D', dir));
  if (existsSync(`/sys/class/net/${BRIDGE}`)) sh(['ip', 'link', 'delete', BRIDGE]);
  if (state.ipForward !== undefined) writeFileSync('/proc/sys/net/ipv4/ip_forward', state.ipForward);
  rmSync(STATE_FILE, { force: true });
}

/** makeNetwork makes the bridge (HOST_ADDRESS/24) with NAT and forwarding for the machines. */
export function makeNetwork(): void {
  const state = readState();
  state.ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  writeState(state);
  sh(['ip', 'link', 'add', BRIDGE, 'type', 'bridge']);
  sh(['ip', 'addr', 'add', `${HOST_ADDRESS}/24`, 'dev', BRIDGE]);
  sh(['ip', 'link', 'set', BRIDGE, 'up']);
  sh(natRule('-A'));
  for (const dir of ['-i', '-o'] as const) sh(forwardRule('-I', dir));
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
}

/** RunResult is what a command in a machine printed and how it ended. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Machine is one nspawn machine: nodeI at SUBNET.(10+I). */
export class Machine {
  readonly name: string;
  readonly address: string;
  readonly dir: string;
  #launcher: ChildProcess | undefined;
  #binds: readonly string[];

  private constructor(name: string, index: number, binds: readonly string[]) {
    this.name = name;
    this.address = `${SUBNET}.${10 + index}`;
    this.dir = join(MACHINES_DIR, name);
    this.#binds = binds;
  }

  /**
   * create copies the root file system and makes it this machine's: host name, a static
   * address on host0 (networkd), the host's resolver, its extra CA certificates, and the unit
   * that makes the cgroup controllers writable. binds are nspawn --bind/--bind-ro values.
   */
  static create(rootfs: string, index: number, binds: readonly string[]): Machine {
    const m = new Machine(`node${index}`, index, binds);
    const state = readState();
    writeState({ ...state, machines: [...new Set([...state.machines, m.name])] });
    rmSync(m.dir, { recursive: true, force: true });
    cpSync(rootfs, m.dir, { recursive: true, verbatimSymlinks: true });
    const etc = (p: string): string => join(m.dir, 'etc', p);
    writeFileSync(etc('hostname'), `${m.name}\n`);
    mkdirSync(etc('systemd/network'), { recursive: true });
    // 10-: ahead of systemd's own 80-container-host0.network, which would ask for DHCP.
    writeFileSync(etc('systemd/network/10-host0.network'), `[Match]\nName=host0\n\n[Network]\nAddress=${m.address}/24\nGateway=${HOST_ADDRESS}\n`);
    symlinkSync('/lib/systemd/system/systemd-networkd.service', etc('systemd/system/multi-user.target.wants/systemd-networkd.service'));
    rmSync(etc('resolv.conf'), { force: true });
    writeFileSync(etc('resolv.conf'), readFileSync('/etc/resolv.conf', 'utf8').split('\n').filter((l) => l.startsWith('nameserver')).join('\n') + '\n');
    const extraCas = '/usr/local/share/ca-certificates';
    if (existsSync(extraCas)) cpSync(extraCas, join(m.dir, 'usr/local/share/ca-certificates'), { recursive: true });
    writeFileSync(
      etc('systemd/system/cgroups-writable.service'),
      [
        '[Unit]',
        'Description=Make the cgroup v1 controllers writable (machine test: nspawn mounts them read-only)',
        'DefaultDependencies=no',
        'Before=sysinit.target',
        '',
        '[Service]',
        'Type=oneshot',
        'RemainAfterExit=yes',
        "ExecStart=/bin/sh -c 'for c in /sys/fs/cgroup/*/; do mount -o remount,bind,rw \"$c\"; done'",
        '',
        '[Install]',
        'WantedBy=sysinit.target',
        '',
      ].join('\n'),
    );
    mkdirSync(etc('systemd/system/sysinit.target.wants'), { recursive: true });
    symlinkSync('/etc/systemd/system/cgroups-writable.service', etc('systemd/system/sysinit.target.wants/cgroups-writable.service'));
    return m;
  }

  /** boot starts the machine and waits until its systemd says it is running (or degraded). */
  async boot(timeoutMs = 60_000): Promise<void> {
    const cg = `${CGROUP_PARENT}/${this.name}`;
    // The launcher moves itself into a cgroup of its own in every hierarchy, then becomes nspawn.
    const script = [
      'set -e',
      `for h in ${CGROUP_ROOT}/*/; do`,
      `  [ -f "$h/cgroup.procs" ] || continue`,
      `  mkdir -p "$h/${cg}"`,
      '  if [ -f "$h/cpuset.cpus" ]; then',
      `    for f in cpus mems; do cat "$h/cpuset.$f" > "$h/${CGROUP_PARENT}/cpuset.$f"; cat "$h/cpuset.$f" > "$h/${cg}/cpuset.$f"; done`,
      '  fi',
      `  echo $$ > "$h/${cg}/cgroup.procs"`,
      'done',
      'exec "$@"',
    ].join('\n');
    const nspawn = [
      'systemd-nspawn', '--quiet', '--register=no', '--keep-unit', `--directory=${this.dir}`, `--machine=${this.name}`, '--boot',
      `--network-bridge=${BRIDGE}`, '--capability=all', '--system-call-filter=@keyring bpf', ...this.#binds.map((b) => `--bind${b.endsWith(':ro') ? '-ro' : ''}=${b.replace(/:ro$/, '')}`),
    ];
    // nspawn's own messages go to a file beside the machine's root, and the launcher is not
    // waited for: a run that leaves its machines up (TUG_MACHINES_KEEP) can still end.
    const logFile = `${this.dir}.nspawn.log`;
    const fd = openSync(logFile, 'w');
    const launcher = spawn('sh', ['-c', script, 'launch', ...nspawn], { stdio: ['ignore', 'ignore', fd], detached: true });
    closeSync(fd);
    launcher.unref();
    this.#launcher = launcher;
    const stderr = (): string => readFileSync(logFile, 'utf8').trim().split('\n').slice(-10).join('\n');
    const state = readState();
    writeState({ ...state, pids: [...state.pids, launcher.pid!] });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (launcher.exitCode !== null) throw new Error(`${this.name} did not boot: nspawn exited ${launcher.exitCode}: ${stderr()}`);
      if (this.#leader() !== undefined) {
        const r = await this.run('systemctl is-system-running', { timeoutMs: 5_000 }).catch(() => undefined);
        const s = r?.stdout.trim() ?? '';
        if (s === 'running' || s === 'degraded') return;
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not reach running in ${timeoutMs / 1000} s: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** #leader is the pid of the machine's PID 1 (nspawn's child). */
  #leader(): number | undefined {
    const pid = this.#launcher?.pid;
    if (pid === undefined || !isNspawn(pid)) return undefined;
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '');
      return children.length === 0 ? undefined : Number(children[0]);
    } catch {
      return undefined;
    }
  }

  /** run runs a bash command line in the machine as root (a login-like environment). */
  run(command: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    const leader = this.#leader();
    if (leader === undefined) return Promise.reject(new Error(`${this.name} is not running`));
    const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', TERM: 'dumb', ...opts.env };
    return new Promise((resolve, reject) => {
      const child = spawn('nsenter', ['-t', String(leader), '-m', '-u', '-i', '-n', '-p', '-C', '/bin/bash', '-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** poweroff asks the machine's systemd to power off and waits until nspawn has exited. */
  async poweroff(timeoutMs = 60_000): Promise<void> {
    const launcher = this.#launcher;
    if (launcher === undefined || launcher.exitCode !== null) return;
    const exited = new Promise<void>((r) => launcher.once('exit', () => r()));
    await this.run('systemctl poweroff --no-block', { timeoutMs: 10_000 });
    const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), timeoutMs));
    if ((await Promise.race([exited, timer])) === 'late') throw new Error(`${this.name} did not power off in ${timeoutMs / 1000} s`);
  }
}
