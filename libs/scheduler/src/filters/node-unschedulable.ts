// node-unschedulable.ts: filter NodeUnschedulable: a cordoned node (spec.unschedulable) takes
// no new pods, except those that tolerate the node.kubernetes.io/unschedulable:NoSchedule taint
// a cordon implies.
import type { Taint } from '@tugboat/api';
import type { Filter, FilterCheck } from '../framework.ts';
import { tolerates } from './taints.ts';

export const UNSCHEDULABLE = 'node(s) were unschedulable';

/** UNSCHEDULABLE_TAINT is the taint spec.unschedulable stands for. */
export const UNSCHEDULABLE_TAINT: Taint = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' };

const check: FilterCheck = (node) => (node.unschedulable ? UNSCHEDULABLE : undefined);

export const nodeUnschedulable: Filter = {
  name: 'NodeUnschedulable',
  prepare: (pod) => (pod.tolerations.some((t) => tolerates(t, UNSCHEDULABLE_TAINT)) ? undefined : check),
};
