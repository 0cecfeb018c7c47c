// units.ts: systemd units of an installed host's tugboat programs (pure).
//
// Both start after the network is up and are restarted 2 s after any exit but a clean stop.
// Hardening is what these programs allow: tug-control writes only its data dir and, renewing
// its certificate, the PKI folder, so the rest of the file system is read-only to it and it
// gets no new privileges. tug-agent is root doing root's work (iptables, mounts, network
// namespaces through containerd and CNI), so it keeps its privileges; it still cannot see
// /home. Neither unit raises the open-file limit past 16384: machines such as systemd-nspawn
// containers refuse more than their own hard limit, and a unit asking for it would not start.
import { AGENT_NODE_FLAGS } from './program-args.ts';

/** UnitPrograms: the Node.js binary and the bundles the units run. */
export interface UnitPrograms {
  readonly node: string;
  readonly controlMain: string;
  readonly agentMain: string;
}

export const CONTROL_UNIT = 'tug-control.service';
export const AGENT_UNIT = 'tug-agent.service';
const CONTAINERD_UNIT = 'containerd.service';

/** execLine quotes argv for ExecStart: a word with a space, quote, backslash or specifier is
 *  double-quoted, '$' and '%' are doubled so that systemd takes them as they are. */
export function execLine(argv: readonly string[]): string {
  return argv
    .map((arg) => {
      const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
      return /^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped) ? escaped : `"${escaped.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    })
    .join(' ');
}

/** controlUnit: tug-control.service, with the flags of controlArgs. stateDirectory (below
 *  /var/lib) is made by systemd before the start, as the read-only file system needs; writable
 *  lists what else it may write. */
export function controlUnit(programs: UnitPrograms, args: readonly string[], stateDirectory: string, writable: readonly string[]): string {
  return `[Unit]
Description=tugboat control-plane member (tug-control)
Documentation=file:///opt/tugboat/app/docs/install.md
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=${execLine([programs.node, programs.controlMain, ...args])}
Restart=on-failure
RestartSec=2s
LimitNOFILE=16384
NoNewPrivileges=yes
ProtectSystem=strict
StateDirectory=${stateDirectory}
ReadWritePaths=${writable.join(' ')}
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`;
}

/** agentUnit: tug-agent.service, with the flags of agentArgs; it needs containerd. On stop only
 *  the agent is ended (KillMode=process): pods keep running, as they do when the agent restarts. */
export function agentUnit(programs: UnitPrograms, args: readonly string[]): string {
  return `[Unit]
Description=tugboat node agent (tug-agent)
Documentation=file:///opt/tugboat/app/docs/install.md
After=network-online.target ${CONTAINERD_UNIT}
Wants=network-online.target
Requires=${CONTAINERD_UNIT}

[Service]
ExecStart=${execLine([programs.node, ...AGENT_NODE_FLAGS, programs.agentMain, ...args])}
Restart=on-failure
RestartSec=2s
KillMode=process
LimitNOFILE=16384
ProtectHome=yes

[Install]
WantedBy=multi-user.target
`;
}
