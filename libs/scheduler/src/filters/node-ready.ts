// node-ready.ts: filter NodeReady: a node takes pods only while its Ready condition is True.
import type { Filter, FilterCheck } from '../framework.ts';

export const NOT_READY = 'node(s) were not ready';

const check: FilterCheck = (node) => (node.ready ? undefined : NOT_READY);

export const nodeReady: Filter = {
  name: 'NodeReady',
  prepare: () => check,
};
