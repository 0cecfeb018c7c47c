// web.test.ts: the web image's entrypoint drains on SIGTERM/SIGINT. It runs with the host's
// busybox sh (whose applets, httpd and sleep among them, it prefers to PATH) in a temp dir
// ($TMPDIR) on a free port of 127.0.0.1, so no containerd is needed; skipped without busybox.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_BUSYBOX, WEB_SCRIPT } from './images.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** get answers the page, or undefined when nothing answers. */
async function get(port: number): Promise<string | undefined> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) })).text();
  } catch {
    return undefined;
  }
}

/** stopped says whether nothing answers on port within a moment (httpd ends just after the script). */
async function stopped(port: number): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    if ((await get(port)) === undefined) return true;
    await sleep(25);
  }
  return false;
}

interface Web {
  readonly port: number;
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  log(): string;
  /** Resolves to the exit code and the ms from `since` to the exit. */
  exited(since: number): Promise<{ code: number | null; afterMs: number }>;
}

/** withWeb runs the web script with env until it is serving, hands it to f, and then kills
 *  whatever of it is left (its own process group: the shell and httpd). */
async function withWeb(env: Record<string, string>, f: (web: Web) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'web-'));
  const port = await freePort();
  writeFileSync(join(dir, 'web.sh'), WEB_SCRIPT);
  const child = spawn(DEFAULT_BUSYBOX, ['sh', join(dir, 'web.sh')], {
    env: { PATH: '/nonexistent', TMPDIR: dir, HOSTNAME: 'web-host', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const web: Web = {
    port,
    child,
    log: () => out,
    exited: async (since) => {
      const code = await exit;
      return { code, afterMs: Date.now() - since };
    },
  };
  try {
    // The trap is set before this line, and httpd listens soon after its start.
    for (let i = 0; i < 100 && !(out.includes('web: serving') && (await get(port)) !== undefined); i++) await sleep(50);
    assert.equal(await get(port), 'web-host\n', out);
    await f(web);
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // all gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the web entrypoint', { skip: existsSync(DEFAULT_BUSYBOX) ? false : `no ${DEFAULT_BUSYBOX}` }, () => {
  it('stops at once on SIGTERM by default', async () => {
    await withWeb({}, async (web) => {
      const t = Date.now();
      web.child.kill('SIGTERM');
      const { code, afterMs } = await web.exited(t);
      assert.equal(code, 0);
      assert.ok(afterMs < 1_000, `exited after ${afterMs} ms`);
      assert.doesNotMatch(web.log(), /draining/);
      assert.ok(await stopped(web.port), 'httpd stopped');
    });
  });

  it('serves on for DRAIN_SECONDS after SIGTERM, then stops and exits 0', async () => {
    await withWeb({ DRAIN_SECONDS: '1' }, async (web) => {
      const t = Date.now();
      web.child.kill('SIGTERM');
      await sleep(300);
      assert.match(web.log(), /^web: draining for 1 s$/m);
      assert.equal(await get(web.port), 'web-host\n', 'still serving while draining');
      const { code, afterMs } = await web.exited(t);
      assert.equal(code, 0);
      assert.ok(afterMs >= 1_000 && afterMs < 2_500, `exited after ${afterMs} ms`);
      assert.ok(await stopped(web.port), 'httpd stopped');
    });
  });

  it('ends the drain early on a second signal', async () => {
    await withWeb({ DRAIN_SECONDS: '30' }, async (web) => {
      const t = Date.now();
      web.child.kill('SIGINT');
      await sleep(200);
      assert.match(web.log(), /^web: draining for 30 s$/m);
      web.child.kill('SIGTERM');
      const { code, afterMs } = await web.exited(t);
      assert.equal(code, 0);
      assert.ok(afterMs < 1_500, `exited after ${afterMs} ms`);
    });
  });

  it('takes a DRAIN_SECONDS that is not a whole number as 0, with a warning', async () => {
    await withWeb({ DRAIN_SECONDS: '2s' }, async (web) => {
      assert.match(web.log(), /^web: warning: DRAIN_SECONDS="2s" is not a whole number of seconds; not draining$/m);
      const t = Date.now();
      web.child.kill('SIGINT');
      const { code, afterMs } = await web.exited(t);
      assert.equal(code, 0);
      assert.ok(afterMs < 1_000, `exited after ${afterMs} ms`);
    });
  });
});
