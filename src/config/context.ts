/**
 * What builders share while turning a parsed config into a Machine: the document (for ranges),
 * the diagnostics so far, the machine under construction, name tables, and defensive readers
 * that report a problem and return undefined instead of trusting the schema pass (a broken file
 * still reaches the builders, so that everything valid in it is built).
 */
import {
  AddressSpace,
  addressSpaceForRegion,
  type IommuDevice,
  type Machine,
  type MemoryRegion,
  type MemTxAttrs,
} from '../engine';
import type { Diagnostic, Severity } from './diagnostics';
import { pathToId, type ConfigDocument, type Path } from './document';
import { parseConfigNumber, U64_LIMIT } from './numbers';
import { plausible } from './validate';

export type SymbolKind = 'region' | 'iommu' | 'address-space' | 'device' | 'notifier';

export interface Reference {
  readonly kind: SymbolKind;
  readonly name: string;
  readonly path: Path;
}

/** The kinds of definition each lookup accepts, by the word `unknown` names it with. */
const DEFINED_AS: Readonly<Record<string, readonly SymbolKind[]>> = {
  region: ['region', 'iommu'],
  IOMMU: ['iommu'],
  'address space': ['address-space'],
  'region or address space': ['region', 'address-space'],
  'device or address space': ['device', 'address-space'],
};

export class BuildContext {
  readonly diagnostics: Diagnostic[] = [];
  /** Where each named thing is defined. */
  readonly definitions = new Map<string, Path>();
  readonly references: Reference[] = [];

  constructor(
    readonly doc: ConfigDocument,
    readonly machine: Machine,
  ) {}

  report(severity: Severity, code: string, path: Path, message: string, which: 'value' | 'key' = 'value'): void {
    this.diagnostics.push({ file: this.doc.file, range: this.doc.rangeOf(path, which), severity, code, message });
  }

  error(code: string, path: Path, message: string, which: 'value' | 'key' = 'value'): void {
    this.report('error', code, path, message, which);
  }

  warn(code: string, path: Path, message: string, which: 'value' | 'key' = 'value'): void {
    this.report('warning', code, path, message, which);
  }

  id(path: Path): string {
    return pathToId(path);
  }

  define(kind: SymbolKind, name: string, path: Path): void {
    this.definitions.set(`${kind}:${name}`, path);
  }

  /** A number at `path`, or undefined after reporting why not. Absent values give `fallback`. */
  num(v: unknown, path: Path, fallback?: bigint, max: bigint = U64_LIMIT): bigint | undefined {
    if (v === undefined) return fallback;
    const r = parseConfigNumber(v, max);
    if (r.ok) return r.value;
    this.error(r.code, path, r.message);
    return undefined;
  }

  /**
   * num() of the value at `base` + `key`, for a loop over many entries: the path is made only
   * when there is something to report.
   */
  numAt(v: unknown, base: Path, key: string, fallback?: bigint): bigint | undefined {
    if (v === undefined) return fallback;
    const r = parseConfigNumber(v, U64_LIMIT);
    return r.ok ? r.value : this.num(v, [...base, key], fallback);
  }

  /** size() of the value at `base` + `key` (the path made only when there is something to report). */
  sizeAt(v: unknown, base: Path, key: string, what: string): bigint | undefined {
    if (v !== undefined) {
      const r = parseConfigNumber(v, U64_LIMIT + 1n);
      if (r.ok && r.value !== 0n) return r.value;
    }
    return this.size(v, [...base, key], what);
  }

  /** A size: positive, at most 2^64. */
  size(v: unknown, path: Path, what: string): bigint | undefined {
    const s = this.num(v, path, undefined, U64_LIMIT + 1n);
    if (s === undefined) return undefined;
    if (s === 0n) {
      this.error('zero-size', path, `${what} has size 0`);
      return undefined;
    }
    return s;
  }

  str(v: unknown): string | undefined {
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  }

  /** A referenced region (memory or an IOMMU with a single region), reporting an unknown name. */
  region(name: unknown, path: Path, purpose: string): MemoryRegion | undefined {
    const n = this.str(name);
    if (n === undefined) return undefined;
    this.references.push({ kind: 'region', name: n, path });
    const r = this.machine.regions.get(n);
    if (r) return r;
    const iommu = this.machine.iommus.get(n);
    if (iommu) return iommu.regionFor(undefined);
    this.unknown('region', n, path, purpose, this.machine.regions.keys(), this.machine.iommus.keys());
    return undefined;
  }

  iommu(name: unknown, path: Path, purpose: string): IommuDevice | undefined {
    const n = this.str(name);
    if (n === undefined) return undefined;
    this.references.push({ kind: 'iommu', name: n, path });
    const d = this.machine.iommus.get(n);
    if (!d) this.unknown('IOMMU', n, path, purpose, this.machine.iommus.keys());
    return d;
  }

  addressSpace(name: unknown, path: Path, purpose: string): AddressSpace | undefined {
    const n = this.str(name);
    if (n === undefined) return undefined;
    this.references.push({ kind: 'address-space', name: n, path });
    const as = this.machine.addressSpaces.get(n);
    if (!as) this.unknown('address space', n, path, purpose, this.machine.addressSpaces.keys());
    return as;
  }

  /** A mapping target: an address space by that name, else a region (reached through its own space). */
  target(name: unknown, path: Path): AddressSpace | undefined {
    const n = this.str(name);
    if (n === undefined) return undefined;
    const as = this.machine.addressSpaces.get(n);
    if (as) {
      this.references.push({ kind: 'address-space', name: n, path });
      return as;
    }
    const r = this.machine.regions.get(n);
    if (r) {
      this.references.push({ kind: 'region', name: n, path });
      return addressSpaceForRegion(r);
    }
    this.unknown('region or address space', n, path, 'as a mapping target', this.machine.addressSpaces.keys(), this.machine.regions.keys());
    return undefined;
  }

  unknown(what: string, name: string, path: Path, purpose: string, ...names: Array<Iterable<string>>): void {
    // Defined but not built (its own definition was reported): not a second, misleading error here.
    if ((own(DEFINED_AS, what) ?? []).some((k) => this.definitions.has(`${k}:${name}`))) return;
    // The first names only: a config of many thousands of names must not cost that much per unknown one.
    const known = firstNames(names, SUGGEST_FROM);
    const shown = known.slice(0, 12).map((k) => (k.length > 40 ? `${k.slice(0, 40)}...` : k));
    const list = known.length ? ` (known: ${shown.join(', ')}${known.length > 12 ? ', ...' : ''})` : '';
    const shownName = name.length > 80 ? `${name.slice(0, 60)}...` : name;
    const range = this.doc.rangeOf(path);
    const hints = plausible(name, known);
    const quoted = /^["']/.test(this.doc.textAt(range));
    const d: Diagnostic = {
      file: this.doc.file,
      range,
      severity: 'error',
      code: 'unknown-reference',
      message: `no ${what} named "${shownName}" ${purpose}${list}`,
      fixes: hints.length ? hints.map((h) => ({ title: `Change to "${h}"`, range, newText: quoted ? JSON.stringify(h) : h })) : undefined,
    };
    this.diagnostics.push(d);
    if (hints.length > 1 && path[0] === 'address-spaces') this.placementFixes.push({ d, hints, quoted });
  }

  /** Unknown regions in address-space entries: their candidate fixes, to rank once every placement is known. */
  private readonly placementFixes: Array<{ d: Diagnostic; hints: string[]; quoted: boolean }> = [];

  /**
   * After the build: a region already placed is a less plausible fix for a misspelt placement
   * than one placed nowhere, so those come first (each group nearest first).
   */
  rankPlacementFixes(): void {
    if (this.placementFixes.length === 0) return;
    const placed = new Set(this.references.filter((r) => r.path[0] === 'address-spaces').map((r) => r.name));
    for (const p of this.placementFixes) {
      const order = [...p.hints.filter((h) => !placed.has(h)), ...p.hints.filter((h) => placed.has(h))];
      const i = this.diagnostics.indexOf(p.d);
      if (i < 0) continue;
      this.diagnostics[i] = { ...p.d, fixes: order.map((h) => ({ title: `Change to "${h}"`, range: p.d.range, newText: p.quoted ? JSON.stringify(h) : h })) };
    }
  }

  /** MemTxAttrs from a config `attrs` mapping. */
  attrs(v: unknown, path: Path): MemTxAttrs | undefined {
    if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const o = v as Record<string, unknown>;
    const bool = (k: string) => (typeof o[k] === 'boolean' ? o[k] : undefined);
    const small = (k: string, bits: number) => {
      if (o[k] === undefined) return undefined;
      const n = this.num(o[k], [...path, k], undefined, 1n << BigInt(bits));
      return n === undefined ? undefined : Number(n);
    };
    const out: { -readonly [K in keyof MemTxAttrs]: MemTxAttrs[K] } = {};
    if (bool('unspecified')) {
      const others = Object.keys(o).filter((k) => k !== 'unspecified');
      if (others.length) this.warn('attrs-unspecified', [...path, 'unspecified'], `unspecified attributes carry nothing else; ${others.join(', ')} ignored`);
      return { unspecified: true };
    }
    if (bool('secure') !== undefined) out.secure = bool('secure');
    if (typeof o.space === 'string') out.space = o.space as MemTxAttrs['space'];
    if (bool('user') !== undefined) out.user = bool('user');
    if (bool('memory') !== undefined) out.memory = bool('memory');
    if (bool('debug') !== undefined) out.debug = bool('debug');
    const rid = small('requester-id', 16);
    if (rid !== undefined) out.requesterId = rid;
    const pasid = small('pasid', 20);
    if (pasid !== undefined) out.pasid = pasid;
    return out;
  }
}

/** How many defined names an unknown one is compared with for a suggestion. */
const SUGGEST_FROM = 5000;

function firstNames(sources: ReadonlyArray<Iterable<string>>, max: number): string[] {
  const out: string[] = [];
  for (const src of sources) {
    for (const n of src) {
      if (out.length >= max) return out;
      out.push(n);
    }
  }
  return out;
}

/** A table's entry for a name the user wrote: own properties only (`constructor` is no model). */
export function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

export function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function entries(v: unknown): Array<[string, unknown]> {
  const o = obj(v);
  return o ? Object.entries(o) : [];
}
