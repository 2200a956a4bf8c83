/**
 * `table`: a declarative IOMMU for prototyping. Its indexes and each index's mappings are written
 * in the config; transactions pick an index with attribute matchers (first match wins, then the
 * default). Mappings can be added and removed at run time, which notifies MAP/UNMAP as a real
 * model would: entries in naturally aligned power-of-two chunks, UNMAP with perm NONE.
 */
import { type MemTxAttrs } from '../attrs';
import { attrsMatch, formatMatcher, type AttrsMatcher } from '../attrs-match';
import type { DirectMapping, DirectMappings, IommuDevice } from '../device';
import { engineError, isEngineError, type EngineError } from '../errors';
import { formatRange, hex, isPowerOfTwo, powerOfTwoChunks } from '../hex';
import type { NumberEntry, NumberTranslator } from '../fast-path';
import { IOMMUMemoryRegion, type ProbeOptions } from '../iommu';
import {
  IOMMU_NONE,
  IOMMU_NOTIFIER_DEVIOTLB_UNMAP,
  IOMMU_NOTIFIER_MAP,
  IOMMU_NOTIFIER_UNMAP,
  permName,
  type IOMMUAccessFlags,
  type IOMMUNotifierFlag,
  type IOMMUTLBEntry,
} from '../iotlb';
import { STEP_NAMES, configSource, type Trace } from '../trace';
import { fmtAddr } from '../format';

export type TableMapping = DirectMapping;

export interface TableIndexOptions {
  readonly name: string;
  /** Absent: this index is chosen only as the default. */
  readonly match?: AttrsMatcher;
  readonly mappings?: readonly TableMapping[];
  readonly source?: string;
}

export interface TableIommuOptions {
  readonly name: string;
  readonly size: bigint;
  readonly indexes: readonly TableIndexOptions[];
  /** Index chosen when no matcher matches (default 0). */
  readonly defaultIndex?: number;
  readonly minPageSize?: bigint;
  /**
   * Notifier flags the model refuses, with the text it refuses them with: lets a prototype
   * behave like a model that, say, cannot send MAP events.
   */
  readonly refuse?: { readonly map?: string; readonly unmap?: string; readonly deviotlbUnmap?: string };
  readonly source?: string;
}

interface TableIndex {
  readonly name: string;
  readonly match?: AttrsMatcher;
  readonly source?: string;
  /** Sorted by iova, never overlapping. */
  mappings: TableMapping[];
}

/**
 * An index's mappings as numbers, for lookups without bigint comparisons: starts and ends
 * (exclusive) in order, and each mapping's target, NaN where it is at or above 2^53. Built from the list it was made from
 * (the same array and length, as load() and unmap() change one or the other), when the whole
 * index lies below 2^53.
 */
interface NumberIndex {
  readonly list: readonly TableMapping[];
  readonly length: number;
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly targets: Float64Array;
}

const TWO53N = 1n << 53n;

function numberIndex(list: readonly TableMapping[]): NumberIndex | undefined {
  const n = list.length;
  if (n > 0 && list[n - 1]!.iova + list[n - 1]!.size > TWO53N) return undefined;
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  const targets = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const m = list[i]!;
    starts[i] = Number(m.iova);
    ends[i] = Number(m.iova + m.size);
    targets[i] = m.target < TWO53N ? Number(m.target) : NaN;
  }
  return { list, length: n, starts, ends, targets };
}

/** The index of the mapping holding `addr` (a number below 2^53), or -1. */
function findNumber(ix: NumberIndex, addr: number): number {
  const starts = ix.starts;
  let lo = 0;
  let hi = ix.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (addr < starts[mid]!) hi = mid - 1;
    else if (addr >= ix.ends[mid]!) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/**
 * The table model's number fast path (src/engine/fast-path.ts): probe() (which is translate(),
 * the model has no effects) as numbers, from the index's NumberIndex. Declines an output at or
 * above 2^53, as numberProbe would, and everything once the index's mappings have changed.
 */
class TableTranslator implements NumberTranslator {
  readonly answersTranslate = true;
  constructor(
    private readonly index: TableIndex,
    private readonly ix: NumberIndex,
    private readonly pageMask: number,
    private readonly shift: number,
  ) {}

  translate(addr: number, _flag: IOMMUAccessFlags, out: NumberEntry): boolean {
    const ix = this.ix;
    if (this.index.mappings !== ix.list || ix.list.length !== ix.length) return false;
    const i = findNumber(ix, addr);
    out.shift = this.shift;
    out.fault = 0;
    if (i < 0) {
      out.targetAs = null;
      // translate()'s translatedAddr is 0: the byte's offset in its page is all that is left.
      out.translated = this.pageMask <= 0x7fffffff ? (addr >>> 0) & this.pageMask : addr % (this.pageMask + 1);
      out.perm = IOMMU_NONE;
      return true;
    }
    // Exact below 2^53 (and at or above it when the true sum is): NaN or beyond is declined.
    const translated = ix.targets[i]! + (addr - ix.starts[i]!);
    if (!(translated < 2 ** 53)) return false;
    const m = ix.list[i]!;
    out.targetAs = m.targetAs;
    out.translated = translated;
    out.perm = m.perm;
    return true;
  }
}

export class TableIommuRegion extends IOMMUMemoryRegion {
  readonly model = 'table';
  private readonly page: bigint;
  private readonly pageMask: bigint;
  /** Per index, its mappings as numbers (see NumberIndex); rebuilt when the list changes. */
  private readonly numbers: Array<NumberIndex | undefined> = [];
  /** Per index, lookups since its list changed (find() rebuilds after list.length / 16 of them). */
  private readonly staleFinds: number[] = [];

  constructor(
    name: string,
    size: bigint,
    readonly indexes: readonly TableIndex[],
    readonly defaultIndex: number,
    minPage: bigint,
    private readonly refuse: TableIommuOptions['refuse'],
  ) {
    super(name, size);
    this.page = minPage;
    this.pageMask = minPage - 1n;
  }

  override numIndexes(): number {
    return this.indexes.length;
  }

  override minPageSize(): bigint {
    return this.page;
  }

  override indexName(idx: number): string {
    return this.indexes[idx]?.name ?? String(idx);
  }

  override indexSelector(idx: number): string {
    const ix = this.indexes[idx];
    if (!ix) return `index ${idx}`;
    const parts: string[] = [];
    if (ix.match) parts.push(formatMatcher(ix.match));
    if (idx === this.defaultIndex) parts.push(ix.match ? 'or no other match (default)' : 'no other match (default)');
    return parts.join(' ') || 'never selected';
  }

  override attrsToIndex(attrs: MemTxAttrs): number {
    for (let i = 0; i < this.indexes.length; i++) {
      const m = this.indexes[i]!.match;
      if (m !== undefined && attrsMatch(m, attrs)) return i;
    }
    return this.defaultIndex;
  }

  override notifyFlagChanged(_old: IOMMUNotifierFlag, flags: IOMMUNotifierFlag): EngineError | undefined {
    const r = this.refuse;
    if (!r) return undefined;
    if (flags & IOMMU_NOTIFIER_MAP && r.map !== undefined) return engineError('notifier-refused', r.map);
    if (flags & IOMMU_NOTIFIER_UNMAP && r.unmap !== undefined) return engineError('notifier-refused', r.unmap);
    if (flags & IOMMU_NOTIFIER_DEVIOTLB_UNMAP && r.deviotlbUnmap !== undefined) return engineError('notifier-refused', r.deviotlbUnmap);
    return undefined;
  }

  /**
   * The index's mappings as numbers, when they all lie below 2^53. `lazy` (find()): after a
   * change, only once the lookups since pay for the rebuild, so that alternating changes and
   * lookups on a large table stay linear.
   */
  private numberIndex(idx: number, lazy = false): NumberIndex | undefined {
    const list = this.indexes[idx]?.mappings;
    if (!list) return undefined;
    const cached = this.numbers[idx];
    if (cached !== undefined && cached.list === list && cached.length === list.length) return cached;
    if (lazy) {
      const n = (this.staleFinds[idx] ?? 0) + 1;
      this.staleFinds[idx] = n;
      if (n * 16 < list.length) return undefined;
    }
    this.staleFinds[idx] = 0;
    const made = numberIndex(list);
    this.numbers[idx] = made;
    return made;
  }

  override numberTranslator(iommuIdx: number, _opts?: ProbeOptions): NumberTranslator | undefined {
    const ix = this.numberIndex(iommuIdx);
    if (ix === undefined || this.page > TWO53N) return undefined;
    const shift = this.pageMask.toString(2).length - (this.pageMask === 0n ? 1 : 0);
    return new TableTranslator(this.indexes[iommuIdx]!, ix, Number(this.pageMask), shift);
  }

  /** The mapping holding `addr` under index `idx`. */
  find(idx: number, addr: bigint): TableMapping | undefined {
    const list = this.indexes[idx]?.mappings;
    if (!list) return undefined;
    if (addr >= 0n && addr < TWO53N) {
      const ix = this.numberIndex(idx, true);
      if (ix !== undefined) {
        const i = findNumber(ix, Number(addr));
        return i < 0 ? undefined : list[i];
      }
    }
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = list[mid]!;
      if (addr < m.iova) hi = mid - 1;
      else if (addr >= m.iova + m.size) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  translate(addr: bigint, _flag: IOMMUAccessFlags, iommuIdx: number, trace?: Trace): IOMMUTLBEntry {
    const iova = addr & ~this.pageMask;
    const m = this.find(iommuIdx, addr);
    if (m === undefined) {
      if (trace) {
        trace.push({
          kind: 'model',
          name: STEP_NAMES.mappingLookup,
          summary: `${this.name} index ${this.indexName(iommuIdx)}: no mapping holds ${fmtAddr(addr)}`,
          fields: { index: iommuIdx, indexName: this.indexName(iommuIdx), addr, mappings: this.indexes[iommuIdx]?.mappings.length ?? 0 },
          source: configSource(this.indexes[iommuIdx]?.source ?? this.source),
        });
      }
      return { targetAs: null, iova, translatedAddr: 0n, addrMask: this.pageMask, perm: IOMMU_NONE };
    }
    const translatedAddr = m.target + (iova - m.iova);
    if (trace) {
      trace.push({
        kind: 'model',
        name: STEP_NAMES.mappingLookup,
        summary: `${this.name} index ${this.indexName(iommuIdx)}: mapping [${fmtAddr(m.iova)}, ${fmtAddr(m.iova + m.size - 1n)}] -> ${m.targetAs.name} ${fmtAddr(m.target)} (${permName(m.perm)})`,
        fields: {
          index: iommuIdx,
          indexName: this.indexName(iommuIdx),
          mappingIova: m.iova,
          mappingSize: m.size,
          targetAs: m.targetAs.name,
          target: m.target,
          perm: permName(m.perm),
        },
        source: configSource(m.source),
      });
    }
    return { targetAs: m.targetAs, iova, translatedAddr, addrMask: this.pageMask, perm: m.perm };
  }

  /** Checks a mapping against the region and the index's other mappings; nothing changes. */
  checkMapping(idx: number, m: TableMapping): EngineError | undefined {
    const ix = this.indexes[idx];
    if (!ix) return engineError('index-range', `${this.name} has ${this.indexes.length} index(es); ${idx} is out of range`);
    if (m.size <= 0n) return engineError('mapping-size', `mapping at ${hex(m.iova)}: size must be positive`);
    if ((m.iova | m.size | m.target) & this.pageMask) {
      return engineError(
        'mapping-alignment',
        `mapping ${formatRange(m.iova, m.iova + m.size - 1n)} -> ${hex(m.target)}: iova, size and target must be multiples of the ${hex(this.page)}-byte page`,
      );
    }
    if (m.iova < 0n || m.iova + m.size > this.size) {
      return engineError('mapping-range', `mapping ${formatRange(m.iova, m.iova + m.size - 1n)} runs outside ${this.name} (size ${hex(this.size)})`);
    }
    const at = lowerBound(ix.mappings, m.iova);
    const prev = ix.mappings[at - 1];
    const next = ix.mappings[at];
    const clash = prev && prev.iova + prev.size > m.iova ? prev : next && next.iova < m.iova + m.size ? next : undefined;
    if (clash) {
      return engineError(
        'mapping-overlap',
        `mapping ${formatRange(m.iova, m.iova + m.size - 1n)} overlaps ${formatRange(clash.iova, clash.iova + clash.size - 1n)} in index ${ix.name}`,
      );
    }
    return undefined;
  }

  /** Adds a mapping as the initial state (no notification), for building from a config. */
  load(idx: number, m: TableMapping): EngineError | undefined {
    const err = this.checkMapping(idx, m);
    if (err) return err;
    const list = this.indexes[idx]!.mappings;
    list.splice(lowerBound(list, m.iova), 0, m);
    return undefined;
  }

  /** Adds a mapping and notifies MAP for it, in power-of-two chunks. */
  map(idx: number, m: TableMapping): EngineError | undefined {
    const err = this.load(idx, m);
    if (err) return err;
    for (const c of powerOfTwoChunks(m.iova, m.size)) {
      this.emit(idx, IOMMU_NOTIFIER_MAP, {
        targetAs: m.targetAs,
        iova: c.iova,
        translatedAddr: m.target + (c.iova - m.iova),
        addrMask: c.size - 1n,
        perm: m.perm,
      });
    }
    return undefined;
  }

  /**
   * Removes every mapping inside [iova, iova+size) and notifies UNMAP for each. A mapping only
   * partly inside is an error and nothing is removed (virtio-iommu answers RANGE to the same).
   */
  unmap(idx: number, iova: bigint, size: bigint): TableMapping[] | EngineError {
    const ix = this.indexes[idx];
    if (!ix) return engineError('index-range', `${this.name} has ${this.indexes.length} index(es); ${idx} is out of range`);
    if (size <= 0n) return engineError('mapping-size', `unmap at ${hex(iova)}: size must be positive`);
    const end = iova + size;
    const hit = ix.mappings.filter((m) => m.iova < end && m.iova + m.size > iova);
    const partial = hit.find((m) => m.iova < iova || m.iova + m.size > end);
    if (partial) {
      return engineError(
        'unmap-partial',
        `unmap ${formatRange(iova, end - 1n)} covers only part of mapping ${formatRange(partial.iova, partial.iova + partial.size - 1n)}`,
      );
    }
    ix.mappings = ix.mappings.filter((m) => !hit.includes(m));
    for (const m of hit) {
      for (const c of powerOfTwoChunks(m.iova, m.size)) {
        this.emit(idx, IOMMU_NOTIFIER_UNMAP, { targetAs: this.systemAs, iova: c.iova, translatedAddr: 0n, addrMask: c.size - 1n, perm: IOMMU_NONE });
      }
    }
    return hit;
  }

  mappings(idx: number): readonly TableMapping[] {
    return this.indexes[idx]?.mappings ?? [];
  }
}

function lowerBound(list: readonly TableMapping[], iova: bigint): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.iova < iova) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class TableIommu implements IommuDevice {
  readonly model = 'table';
  readonly region: TableIommuRegion;

  private constructor(readonly name: string, region: TableIommuRegion) {
    this.region = region;
  }

  /** Builds the model; bad options give an EngineError, never an exception. */
  static create(opts: TableIommuOptions): TableIommu | EngineError {
    const page = opts.minPageSize ?? 4096n;
    if (!isPowerOfTwo(page)) return engineError('page-size', `${opts.name}: min page size ${hex(page)} is not a power of two`);
    if (opts.size <= 0n) return engineError('region-size', `${opts.name}: size must be positive`);
    if (opts.size % page !== 0n) return engineError('region-size', `${opts.name}: size ${hex(opts.size)} is not a multiple of the ${hex(page)}-byte page`);
    if (opts.indexes.length === 0) return engineError('no-indexes', `${opts.name}: a table IOMMU needs at least one index`);
    const def = opts.defaultIndex ?? 0;
    if (!Number.isInteger(def) || def < 0 || def >= opts.indexes.length) {
      return engineError('index-range', `${opts.name}: default index ${def} is out of range (${opts.indexes.length} indexes)`);
    }
    const indexes: TableIndex[] = opts.indexes.map((ix) => ({ name: ix.name, match: ix.match, source: ix.source, mappings: [] }));
    const region = new TableIommuRegion(opts.name, opts.size, indexes, def, page, opts.refuse);
    region.source = opts.source;
    for (let i = 0; i < opts.indexes.length; i++) {
      for (const m of opts.indexes[i]!.mappings ?? []) {
        const err = region.load(i, m);
        if (err) return err;
      }
    }
    return new TableIommu(opts.name, region);
  }

  regions(): readonly IOMMUMemoryRegion[] {
    return [this.region];
  }

  regionFor(): IOMMUMemoryRegion {
    return this.region;
  }

  /** Scenario `map`/`unmap` steps write the region's mappings directly. */
  readonly directMappings: DirectMappings = {
    map: (idx, m) => this.region.map(idx, m),
    unmap: (idx, iova, size) => {
      const removed = this.region.unmap(idx, iova, size);
      return isEngineError(removed) ? removed : removed.length;
    },
  };
}
