// node-affinity.ts: filter NodeAffinity: the node's labels satisfy the pod's nodeSelector (every
// label) and its required node affinity (any one term, each of whose requirements holds).
import type { NodeSelectorRequirement, NodeSelectorTerm, Pod } from '@tugboat/api';
import type { Filter, FilterCheck } from '../framework.ts';
import type { NodeInfo } from '../node-info.ts';

export const NODE_AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector";

const INTEGER_RE = /^[+-]?\d+$/;

/**
 * requirementMatches tells whether `value` (a label's value, or undefined when the label is
 * absent) satisfies req. In and NotIn compare with values (NotIn holds when absent); Gt and Lt
 * compare integers (false when either is not one).
 */
export function requirementMatches(req: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const bound = values[0];
      if (value === undefined || bound === undefined || !INTEGER_RE.test(value) || !INTEGER_RE.test(bound)) return false;
      return req.operator === 'Gt' ? Number(value) > Number(bound) : Number(value) < Number(bound);
    }
    default:
      return false;
  }
}

/**
 * termMatches tells whether node satisfies every requirement of term: matchExpressions on its
 * labels, matchFields on metadata.name (In and NotIn only). A term with no requirement matches
 * no node.
 */
export function termMatches(term: NodeSelectorTerm, node: NodeInfo): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const e of exprs) {
    if (!requirementMatches(e, Object.hasOwn(node.labels, e.key) ? node.labels[e.key] : undefined)) return false;
  }
  for (const f of fields) {
    if (f.key !== 'metadata.name' || (f.operator !== 'In' && f.operator !== 'NotIn')) return false;
    if (!requirementMatches(f, node.name)) return false;
  }
  return true;
}

/** requiredNodeMatcher returns whether a node passes the pod's nodeSelector and required node affinity, or undefined when the pod has neither. */
export function requiredNodeMatcher(pod: Pod): ((node: NodeInfo) => boolean) | undefined {
  const selector = Object.entries(pod.spec.nodeSelector ?? {});
  const required = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (selector.length === 0 && required === undefined) return undefined;
  const terms = required?.nodeSelectorTerms;
  return (node) => {
    for (const [k, v] of selector) if (node.labels[k] !== v || !Object.hasOwn(node.labels, k)) return false;
    return terms === undefined || terms.some((t) => termMatches(t, node));
  };
}

export const nodeAffinity: Filter = {
  name: 'NodeAffinity',
  prepare(pod) {
    const match = requiredNodeMatcher(pod.pod);
    if (match === undefined) return undefined;
    const check: FilterCheck = (node) => (match(node) ? undefined : NODE_AFFINITY_MISMATCH);
    return check;
  },
};
