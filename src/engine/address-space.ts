/**
 * Address spaces and their flat views, rendered as QEMU's render_memory_region does: a region
 * clips to its parent, subregions are drawn in priority order and each claims only what nothing
 * drawn before it claimed, an alias redirects into its target, and a terminating region fills
 * the gaps that remain under it.
 */
import { hex } from './hex';
import { AliasRegion, currentTopologyGeneration, type MemoryRegion } from './memory';

export interface FlatRange {
  /** First address, in the address space. */
  readonly start: bigint;
  /** One past the last address. */
  readonly end: bigint;
  /** A terminating region: RAM, MMIO or IOMMU. */
  readonly region: MemoryRegion;
  /** Offset inside `region` that `start` maps to. */
  readonly offsetInRegion: bigint;
  /** Config id of the top-level address-space entry this range comes from. */
  readonly source?: string;
}

export class AddressSpace {
  private view: FlatRange[] = [];
  private starts: bigint[] = [];
  private generation = -1;
  /** Config source id. */
  source?: string;

  constructor(
    readonly name: string,
    readonly root: MemoryRegion,
  ) {}

  /** The flat view; rebuilt only when the memory topology changed since the last call. */
  flatView(): readonly FlatRange[] {
    const g = currentTopologyGeneration();
    if (g !== this.generation) {
      this.view = renderFlatView(this.root);
      this.starts = this.view.map((r) => r.start);
      this.generation = g;
    }
    return this.view;
  }

  /** The flat range holding `addr`, or undefined where nothing is mapped (QEMU's unassigned). */
  lookup(addr: bigint): FlatRange | undefined {
    const view = this.flatView();
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    const r = view[hi];
    return r !== undefined && addr < r.end ? r : undefined;
  }

  toString(): string {
    return this.name;
  }
}

const regionAsCache = new WeakMap<MemoryRegion, AddressSpace>();

/** The address space whose root is one region (QEMU models do this for their downstream side). */
export function addressSpaceForRegion(mr: MemoryRegion, name = mr.name): AddressSpace {
  let as = regionAsCache.get(mr);
  if (as === undefined) {
    as = new AddressSpace(name, mr);
    regionAsCache.set(mr, as);
  }
  return as;
}

export function renderFlatView(root: MemoryRegion): FlatRange[] {
  const out: FlatRange[] = [];
  render(out, root, 0n, 0n, root.size, undefined, 0);
  return out;
}

function render(
  out: FlatRange[],
  mr: MemoryRegion,
  base: bigint,
  clipStart: bigint,
  clipEnd: bigint,
  source: string | undefined,
  depth: number,
): void {
  if (depth > 64) return; // an alias cycle; the config layer reports it
  const start = base > clipStart ? base : clipStart;
  const regionEnd = base + mr.size;
  const end = regionEnd < clipEnd ? regionEnd : clipEnd;
  if (start >= end) return;

  if (mr instanceof AliasRegion) {
    render(out, mr.target, base - mr.targetOffset, start, end, source, depth + 1);
    return;
  }
  for (const sub of mr.subregions) {
    render(out, sub.region, base + sub.offset, start, end, depth === 0 ? sub.source : source, depth + 1);
  }
  if (!mr.terminates) return;
  insertGaps(out, mr, base, start, end, source);
}

/** Inserts the parts of [start, end) that no range covers yet, keeping `out` sorted. */
function insertGaps(out: FlatRange[], mr: MemoryRegion, base: bigint, start: bigint, end: bigint, source: string | undefined): void {
  let i = firstEndingAfter(out, start);
  let cur = start;
  while (cur < end) {
    const next = out[i];
    if (next === undefined || next.start >= end) {
      out.splice(i, 0, { start: cur, end, region: mr, offsetInRegion: cur - base, source });
      return;
    }
    if (next.start > cur) {
      out.splice(i, 0, { start: cur, end: next.start, region: mr, offsetInRegion: cur - base, source });
      i++;
    }
    cur = next.end > cur ? next.end : cur;
    i++;
  }
}

function firstEndingAfter(out: FlatRange[], addr: bigint): number {
  let lo = 0;
  let hi = out.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (out[mid]!.end <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function formatFlatRange(r: FlatRange): string {
  return `${hex(r.start)}-${hex(r.end - 1n)} ${r.region.name}+${hex(r.offsetInRegion)}`;
}
