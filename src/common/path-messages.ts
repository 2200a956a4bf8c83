/**
 * The translation-path panel's protocol, shared by the extension host (src/extension/panel.ts)
 * and the page (media/path-panel.js): plain values in, typed messages out. Nothing here imports
 * vscode except as a type, so the page's side needs nothing of the host's.
 */

/** One box on the path: a structure read or a decision, with its raw value and its fields. */
export interface PathBox {
  /** The trace step it shows (0-based), to select in the Steps view. */
  readonly step: number;
  /** The step's proper name (STE fetch, stage-1 level-2 descriptor, IOTLB entry...). */
  readonly name: string;
  readonly summary: string;
  /** The raw value(s) read, in the one number format (descriptors, STE and CD words, LUT words). */
  readonly raw: readonly string[];
  /** Decoded fields in the specification's names, formatted. */
  readonly fields: ReadonlyArray<readonly [string, string]>;
  /** Where it came from: a config line, or guest memory (clicking opens the bytes around it). */
  readonly source?: { readonly kind: 'config'; readonly line: number } | { readonly kind: 'guest-memory'; readonly as: string; readonly addr: string; readonly size: number };
  /** For a descriptor the table builder wrote: the `map:` entry that produced it (its config line). */
  readonly mapEntry?: { readonly line: number; readonly text: string };
  readonly fault?: boolean;
}

/** One column of the path. */
export interface PathColumn {
  readonly kind: 'initiator' | 'lookup' | 'hop' | 'landing' | 'fault';
  readonly title: string;
  readonly subtitle?: string;
  readonly boxes: readonly PathBox[];
}

export interface PathModel {
  readonly config: string;
  readonly title: string;
  /** Where it lands or the fault, and the composed IOTLB entry. */
  readonly headline: string;
  readonly entry: string;
  readonly ok: boolean;
  readonly columns: readonly PathColumn[];
  /** The step the Steps view has selected, -1 for none. */
  readonly current: number;
}

export type HostToPage = { readonly type: 'path'; readonly path: PathModel } | { readonly type: 'select'; readonly step: number };

export type PageToHost = { readonly type: 'ready' } | { readonly type: 'select'; readonly step: number } | { readonly type: 'open'; readonly step: number };

export function isPageToHost(m: unknown): m is PageToHost {
  if (typeof m !== 'object' || m === null) return false;
  const t = (m as { type?: unknown }).type;
  if (t === 'ready') return true;
  return (t === 'select' || t === 'open') && Number.isInteger((m as { step?: unknown }).step);
}
