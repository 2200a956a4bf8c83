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

export interface TraceStep {
  readonly kind: TraceStepKind;
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
