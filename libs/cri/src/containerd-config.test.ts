// Unit tests of renderContainerdConfig: the containerd config.toml of tests, local-cluster
// nodes and VMs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderContainerdConfig } from './containerd.ts';

const base = {
  root: '/c/node-1/containerd/root',
  state: '/c/node-1/containerd/state',
  socket: '/c/node-1/containerd/containerd.sock',
  sandboxImage: 'tugboat.local/pause:latest',
  runcRoot: '/c/node-1/containerd/runc',
  cniBinDir: '/usr/lib/cni',
  cniConfDir: '/c/node-1/cni/conf',
};

/** setting returns the value of `key` in the TOML section `section` (a flat reading, enough for our config). */
function setting(toml: string, section: string, key: string): string | undefined {
  let current = '';
  for (const raw of toml.split('\n')) {
    const line = raw.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      current = header[1]!;
      continue;
    }
    const kv = /^([A-Za-z_]+) = (.*)$/.exec(line);
    if (kv !== null && current === section && kv[1] === key) return kv[2];
  }
  return undefined;
}

describe('renderContainerdConfig', () => {
  it('puts every path where it is told', () => {
    const t = renderContainerdConfig(base);
    assert.equal(setting(t, '', 'version'), '2');
    assert.equal(setting(t, '', 'root'), '"/c/node-1/containerd/root"');
    assert.equal(setting(t, '', 'state'), '"/c/node-1/containerd/state"');
    assert.equal(setting(t, 'grpc', 'address'), '"/c/node-1/containerd/containerd.sock"');
    assert.equal(setting(t, 'ttrpc', 'address'), '"/c/node-1/containerd/containerd.sock.ttrpc"');
    assert.equal(setting(t, 'debug', 'address'), '"/c/node-1/containerd/debug.sock"');
    assert.equal(setting(t, 'metrics', 'address'), '""');
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    assert.equal(setting(t, cri, 'sandbox_image'), '"tugboat.local/pause:latest"');
    assert.equal(setting(t, cri, 'stream_server_address'), '"127.0.0.1"');
    assert.equal(setting(t, cri, 'netns_mounts_under_state_dir'), 'false');
    assert.equal(setting(t, `${cri}.containerd.runtimes.runc.options`, 'Root'), '"/c/node-1/containerd/runc"');
    assert.equal(setting(t, `${cri}.containerd.runtimes.runc.options`, 'SystemdCgroup'), 'false');
    assert.equal(setting(t, `${cri}.cni`, 'bin_dir'), '"/usr/lib/cni"');
    assert.equal(setting(t, `${cri}.cni`, 'conf_dir'), '"/c/node-1/cni/conf"');
  });

  it('takes the optional sockets, stream address, netns placement and cgroup driver', () => {
    const t = renderContainerdConfig({
      ...base,
      ttrpcSocket: '/x/t.sock',
      debugSocket: '/x/d.sock',
      streamServerAddress: '172.29.0.11',
      netnsUnderStateDir: true,
      restrictOomScoreAdj: false,
      systemdCgroup: true,
    });
    assert.equal(setting(t, 'ttrpc', 'address'), '"/x/t.sock"');
    assert.equal(setting(t, 'debug', 'address'), '"/x/d.sock"');
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    assert.equal(setting(t, cri, 'stream_server_address'), '"172.29.0.11"');
    assert.equal(setting(t, cri, 'netns_mounts_under_state_dir'), 'true');
    assert.equal(setting(t, cri, 'restrict_oom_score_adj'), 'false');
    assert.equal(setting(renderContainerdConfig({ ...base, restrictOomScoreAdj: true }), cri, 'restrict_oom_score_adj'), 'true');
    assert.equal(setting(t, `${cri}.containerd.runtimes.runc.options`, 'SystemdCgroup'), 'true');
  });

  it('quotes paths as TOML strings', () => {
    const t = renderContainerdConfig({ ...base, root: '/a "b"\\c' });
    assert.equal(setting(t, '', 'root'), '"/a \\"b\\"\\\\c"');
  });
});
