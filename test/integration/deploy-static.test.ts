// deploy-static.test.ts: static checks of what installs tugboat on machines: shellcheck of every
// shell script of the repository, `vagrant validate` of the Vagrantfile (3 and 5 machines, and
// bad settings refused with the setting named), and `systemd-analyze verify` of the units
// `tug host configure` writes (tug-control's and tug-agent's). deploy/setup.sh installs
// shellcheck, vagrant and vagrant-libvirt (a provider, so the provider blocks are validated too).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCaptured } from '@tugboat/cli';

const repo = fileURLToPath(new URL('../../', import.meta.url));

function run(argv: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}): { code: number; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd ?? repo, encoding: 'utf8', env: { ...process.env, ...opts.env } });
  if (r.error !== undefined) throw new Error(`${argv[0]} could not run (deploy/setup.sh installs it): ${r.error.message}`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** shellScripts are the repository's files that are shell scripts: *.sh, or a sh/bash shebang. */
function shellScripts(): string[] {
  const files = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard']).out.split('\n').filter((f) => f !== '');
  return files.filter((f) => f.endsWith('.sh') || /^#!\s*\/(usr\/)?bin\/(env +)?(ba)?sh\b/.test(readFileSync(join(repo, f), 'utf8').slice(0, 64)));
}

describe('deploy: static checks', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tug-deploy-static-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shellcheck finds nothing in any shell script', () => {
    const scripts = shellScripts();
    for (const s of ['run', '.ci/run', 'deploy/setup.sh', 'deploy/install.sh', 'deploy/vagrant-provision.sh', 'deploy/lib/common.sh']) assert.ok(scripts.includes(s), `${s} is checked`);
    const r = run(['shellcheck', '-x', ...scripts]);
    assert.equal(r.code, 0, r.out);
  });

  it('vagrant validate accepts the Vagrantfile with 3 and 5 machines and names a bad setting', () => {
    // The machines' state dir is kept out of the checkout.
    const env = { VAGRANT_DOTFILE_PATH: join(dir, 'vagrant') };
    for (const nodes of ['3', '5']) {
      const r = run(['vagrant', 'validate'], { env: { ...env, TUG_NODES: nodes } });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /Vagrantfile validated successfully/);
    }
    for (const [setting, value, re] of [
      ['TUG_NODES', '4', /TUG_NODES: must be 3 or 5/],
      ['TUG_MEMORY', 'lots', /TUG_MEMORY: "lots" is not a whole number/],
      ['TUG_SUBNET', '10.0.0.0/24', /TUG_SUBNET: give three octets/],
    ] as const) {
      const r = run(['vagrant', 'validate'], { env: { ...env, [setting]: value } });
      assert.notEqual(r.code, 0);
      assert.match(r.out, re);
    }
  });

  it('systemd-analyze verify accepts the units tug host configure writes', async () => {
    const control = join(dir, 'control');
    const made = await runCaptured(['host', 'configure', '--root', control, '--init', '--node-name', 'node1', '--address', '192.168.56.11', '--cgroup-driver', 'systemd'], { env: {}, homedir: '/root' });
    assert.equal(made.code, 0, made.stderr);
    const units = join(control, 'etc/systemd/system');
    const r = run(['systemd-analyze', 'verify', join(units, 'tug-control.service'), join(units, 'tug-agent.service')]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), '', `systemd-analyze has remarks:\n${r.out}`);
  });
});
