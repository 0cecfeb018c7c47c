// @tugboat/api: the object kinds (Kubernetes-shaped), the kind registry, validation,
// defaulting, resource quantities, label and field selectors, and manifests (YAML/JSON).

export type * from './types.ts';

export {
  ApiValidationError,
  isApiValidationError,
  UnknownKindError,
  isUnknownKindError,
  ManifestError,
  isManifestError,
  SelectorError,
  isSelectorError,
  QuantityError,
  isQuantityError,
} from './errors.ts';
export type { ValidationIssue } from './errors.ts';

export {
  KINDS,
  NAMESPACED_KINDS,
  DEFAULT_NAMESPACE,
  NODE_LEASE_NAMESPACE,
  PROTECTED_NAMESPACES,
  LEASE_DURATION_BEATS,
  nodeLease,
  initialObjects,
  isKind,
  kindInfo,
  isNamespaced,
  findKind,
  resolveKind,
} from './kinds.ts';
export type { KindInfo } from './kinds.ts';

export { validate, validateOrThrow, validateUpdate, validateLabelSelector, validationError } from './validate.ts';
export { NODE_PORT_MIN, NODE_PORT_MAX, SERVICE_TYPES_WITH_NODE_PORTS, CONFIG_DATA_BYTES_MAX, ANNOTATIONS_BYTES_MAX } from './schemas.ts';
export { applyDefaults, imagePullPolicyFor, DEFAULT_FILE_MODE } from './defaults.ts';

export {
  parseQuantity,
  cpuMillis,
  memoryBytes,
  compareQuantities,
  formatQuantity,
  formatMilliQuantity,
  quantityProblem,
} from './quantity.ts';
export type { ParsedQuantity } from './quantity.ts';

export {
  parseSelector,
  formatSelector,
  matches,
  selectorFromLabels,
  isEmptySelector,
  SELECTABLE_FIELDS,
  parseFieldSelector,
  formatFieldSelector,
  fieldValue,
  matchesFields,
} from './selectors.ts';
export type { FieldRequirement, FieldSelector, SelectableField } from './selectors.ts';

export {
  isDns1123Label,
  isDns1123Subdomain,
  isDns1035Label,
  isQualifiedName,
  isLabelValue,
} from './names.ts';

export {
  parseManifests,
  parseManifestDocuments,
  toYaml,
  toJson,
  MANIFEST_TEXT_LENGTH_MAX,
  MANIFEST_OBJECTS_MAX,
} from './manifest.ts';
export type { ManifestDocument, ManifestObject } from './manifest.ts';
