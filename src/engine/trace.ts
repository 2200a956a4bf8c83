/**
 * Translation traces. A trace is a plain array of steps; engine code only builds steps when the
 * caller passed an array (`trace?.push(...)` behind an `if (trace)`), so an untraced
 * translation allocates no step objects.
 */

export type TraceFieldValue = bigint | number | string | boolean;

/** Where a step came from: a config node (an id the config layer maps to a position) or guest memory. */
export type SourceRef =
  | { readonly kind: 'config'; readonly id: string }
  | { readonly kind: 'guest-memory'; readonly as: string; readonly addr: bigint; readonly size: number; readonly value?: bigint };

export type TraceStepKind =
  | 'as-lookup'
  | 'attrs-to-index'
  | 'model'
  | 'descriptor-read'
  | 'iotlb-entry'
  | 'perm-check'
  | 'compose'
  | 'hop'
  | 'land'
  | 'fault';

/**
 * What every view calls each kind of step, in the words QEMU's and the architectures' developers
 * use (system/physmem.c's address_space_translate_iommu, the SMMUv3 and VT-d specifications).
 * A model names its own steps more precisely with `name` (STE fetch, stage-1 level-2 descriptor);
 * this is the one place those names come from for everything else.
 */
export const STEP_KIND_NAMES: Readonly<Record<TraceStepKind, string>> = {
  'as-lookup': 'address-space lookup',
  'attrs-to-index': 'attrs to index',
  model: 'IOMMU step',
  'descriptor-read': 'descriptor fetch',
  'iotlb-entry': 'IOTLB entry',
  'perm-check': 'permission check',
  compose: 'address composition',
  hop: 'hop to the target address space',
  land: 'landing region',
  fault: 'fault',
};

/** The name a view shows for a step. */
export function stepName(s: Pick<TraceStep, 'kind' | 'name'>): string {
  return s.name ?? STEP_KIND_NAMES[s.kind];
}

/** Names models give their steps, so that every model says the same thing the same way. */
export const STEP_NAMES = {
  steFetch: 'STE fetch',
  streamTableL1: 'stream table L1 descriptor fetch',
  cdFetch: 'CD fetch',
  configCacheHit: 'config cache hit',
  iotlbHit: 'IOTLB hit',
  iotlbMiss: 'IOTLB miss',
  iotlbInsert: 'IOTLB insert',
  streamLookup: 'stream lookup',
  ttSelect: 'translation table select',
  eventRecord: 'event record',
  profileNote: 'QEMU profile difference',
  /** `stage-1 level-2 descriptor` */
  descriptor: (stage: number, level: number) => `stage-${stage} level-${level} descriptor`,
  stage2Of: (what: string) => `stage-2 translation of the ${what} address`,
  lutLookup: 'BLK_LUT lookup',
  mappingLookup: 'mapping lookup',
} as const;

export interface TraceStep {
  readonly kind: TraceStepKind;
  /** The step's proper name when it says more than its kind's (see STEP_NAMES). */
  readonly name?: string;
  /** One line a person can read. */
  readonly summary: string;
  /** Structured details, in display order. */
  readonly fields: Readonly<Record<string, TraceFieldValue>>;
  readonly source?: SourceRef;
}

export type Trace = TraceStep[];

export function configSource(id: string | undefined): SourceRef | undefined {
  return id === undefined ? undefined : { kind: 'config', id };
}
