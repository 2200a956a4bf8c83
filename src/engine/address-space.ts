/**
 * Address spaces and their flat views, rendered as QEMU's render_memory_region does: a region
 * clips to its parent, subregions are drawn in priority order and each claims only what nothing
 * drawn before it claimed, an alias redirects into its target, and a terminating region fills
 * the gaps that remain under it.
 */
import { hex } from './hex';
import { addWork } from './work';
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
  private rendered: RenderedView | undefined;
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
      this.rendered = renderFlatViewBounded(this.root);
      this.view = this.rendered.ranges;
      this.starts = this.view.map((r) => r.start);
      this.generation = g;
    }
    return this.view;
  }

  /** Whether the flat view stopped at a bound, and the containment cycles met while drawing it. */
  renderProblems(): { truncated?: RenderedView['truncated']; cycles: readonly MemoryRegion[] } {
    this.flatView();
    return { truncated: this.rendered?.truncated, cycles: this.rendered?.cycles ?? [] };
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

/**
 * Bounds on rendering one flat view. A config's containers can place each other many times over
 * (a chain of containers each placing the next twice doubles the view at every level), so the work
 * is bounded by what the view holds, not by depth: at most MAX_FLAT_RANGES ranges and
 * MAX_RENDER_STEPS steps, past which the view stops growing and says so (`truncated`).
 */
export const MAX_FLAT_RANGES = 1 << 17;
export const MAX_RENDER_STEPS = 1 << 21;
/** Regions inside regions, at most (a deeper chain is drawn down to here). */
export const MAX_RENDER_DEPTH = 256;

/** A flat view and whether rendering it stopped at a bound (or at a containment cycle). */
export interface RenderedView {
  readonly ranges: FlatRange[];
  /** Set when a bound stopped the rendering: the view lacks what lies past it. */
  readonly truncated?: 'ranges' | 'steps' | 'depth';
  /** The regions found containing themselves (through containers and aliases), each drawn once. */
  readonly cycles: readonly MemoryRegion[];
}

export function renderFlatView(root: MemoryRegion): FlatRange[] {
  return renderFlatViewBounded(root).ranges;
}

export function renderFlatViewBounded(root: MemoryRegion): RenderedView {
  const r = new Renderer();
  r.render(root, 0n, 0n, root.size, undefined, 0);
  addWork(r.work());
  return { ranges: r.out.toArray(), truncated: r.stopped, cycles: [...r.cycles] };
}

class Renderer {
  readonly out = new RangeList();
  readonly cycles = new Set<MemoryRegion>();
  stopped: 'ranges' | 'steps' | 'depth' | undefined;
  private steps = 0;
  work(): number {
    return this.steps;
  }
  /** Regions on the path from the root to the one being drawn: meeting one again is a cycle. */
  private readonly path = new Set<MemoryRegion>();
  /** Whether anything under a region terminates (a region that draws nothing is not walked). */
  private readonly draws = new Map<MemoryRegion, boolean>();

  render(mr: MemoryRegion, base: bigint, clipStart: bigint, clipEnd: bigint, source: string | undefined, depth: number): void {
    if (this.stopped) return;
    if (++this.steps > MAX_RENDER_STEPS) {
      this.stopped = 'steps';
      return;
    }
    const start = base > clipStart ? base : clipStart;
    const regionEnd = base + mr.size;
    const end = regionEnd < clipEnd ? regionEnd : clipEnd;
    if (start >= end) return;
    if (depth > MAX_RENDER_DEPTH) {
      this.stopped = 'depth';
      return;
    }
    if (this.path.has(mr)) {
      // A region inside itself: QEMU would recurse for ever; the config layer reports it.
      this.cycles.add(mr);
      return;
    }
    if (!this.drawsAnything(mr) || this.covered(start, end)) return;
    this.path.add(mr);
    if (mr instanceof AliasRegion) {
      this.render(mr.target, base - mr.targetOffset, start, end, source, depth + 1);
    } else {
      for (const sub of mr.subregions) {
        this.render(sub.region, base + sub.offset, start, end, depth === 0 ? sub.source : source, depth + 1);
        if (this.stopped) break;
      }
      if (mr.terminates && !this.stopped) this.insertGaps(mr, base, start, end, source);
    }
    this.path.delete(mr);
  }

  /** Whether a region or anything it holds is drawn (memoized; a cycle alone draws nothing). */
  private drawsAnything(mr: MemoryRegion): boolean {
    const known = this.draws.get(mr);
    if (known !== undefined) return known;
    this.draws.set(mr, false); // while it is being decided: a cycle back to it adds nothing
    // An explicit stack: containers can nest deeper than the call stack allows.
    const stack: MemoryRegion[] = [mr];
    const order: MemoryRegion[] = [];
    while (stack.length) {
      const r = stack.pop()!;
      order.push(r);
      const kids = r instanceof AliasRegion ? [r.target] : r.subregions.map((s) => s.region);
      for (const k of kids) {
        if (this.draws.has(k)) continue;
        this.draws.set(k, false);
        stack.push(k);
      }
    }
    // Decide in reverse discovery order, repeating until nothing changes (cycles settle at once).
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = order.length - 1; i >= 0; i--) {
        const r = order[i]!;
        if (this.draws.get(r)) continue;
        const yes = r.terminates || (r instanceof AliasRegion ? this.draws.get(r.target) === true : r.subregions.some((s) => this.draws.get(s.region) === true));
        if (yes) {
          this.draws.set(r, true);
          changed = true;
        }
        if (++this.steps > MAX_RENDER_STEPS) return true;
      }
    }
    return this.draws.get(mr)!;
  }

  /** Whether [start, end) is already wholly drawn: then nothing under it can show. */
  private covered(start: bigint, end: bigint): boolean {
    const it = this.out.seek(start);
    let cur = start;
    for (let r = it.get(); r !== undefined && r.start <= cur; r = it.next()) {
      if (++this.steps > MAX_RENDER_STEPS) {
        this.stopped = 'steps';
        return true;
      }
      if (r.end >= end) return true;
      cur = r.end;
    }
    return false;
  }

  /** Inserts the parts of [start, end) that no range covers yet, keeping the list sorted. */
  private insertGaps(mr: MemoryRegion, base: bigint, start: bigint, end: bigint, source: string | undefined): void {
    const it = this.out.seek(start);
    let cur = start;
    while (cur < end) {
      if (++this.steps > MAX_RENDER_STEPS) {
        this.stopped = 'steps';
        return;
      }
      const next = it.get();
      const gapEnd = next === undefined || next.start >= end ? end : next.start;
      if (gapEnd > cur) {
        if (this.out.length >= MAX_FLAT_RANGES) {
          this.stopped = 'ranges';
          return;
        }
        it.insert({ start: cur, end: gapEnd, region: mr, offsetInRegion: cur - base, source });
        if (gapEnd === end) return;
      }
      cur = next!.end > cur ? next!.end : cur;
      it.next();
    }
  }
}

/**
 * Sorted, non-overlapping ranges in chunks of at most CHUNK, so that inserting in the middle
 * costs a chunk, not the whole list (a view of n ranges is built in n log n, not n²).
 */
const CHUNK = 512;

class RangeList {
  private readonly chunks: FlatRange[][] = [[]];
  length = 0;

  /** A cursor at the first range ending after `addr`. */
  seek(addr: bigint): RangeCursor {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length - 1;
    // The first chunk whose last range ends after addr (or the last chunk).
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = chunks[mid]!;
      if (c.length && c[c.length - 1]!.end <= addr) lo = mid + 1;
      else hi = mid;
    }
    const c = chunks[lo]!;
    let a = 0;
    let b = c.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (c[mid]!.end <= addr) a = mid + 1;
      else b = mid;
    }
    return new RangeCursor(this, chunks, lo, a);
  }

  /** Inserts before (chunk, index); returns the position just after the inserted range. */
  insertAt(c: number, i: number, r: FlatRange): [number, number] {
    const chunk = this.chunks[c]!;
    chunk.splice(i, 0, r);
    this.length++;
    if (chunk.length <= 2 * CHUNK) return [c, i + 1];
    const tail = chunk.splice(CHUNK);
    this.chunks.splice(c + 1, 0, tail);
    return i + 1 <= CHUNK ? [c, i + 1] : [c + 1, i + 1 - CHUNK];
  }

  toArray(): FlatRange[] {
    return this.chunks.length === 1 ? this.chunks[0]! : this.chunks.flat();
  }
}

class RangeCursor {
  constructor(
    private readonly list: RangeList,
    private readonly chunks: FlatRange[][],
    private c: number,
    private i: number,
  ) {
    this.normalize();
  }

  private normalize(): void {
    while (this.i >= this.chunks[this.c]!.length && this.c + 1 < this.chunks.length) {
      this.c++;
      this.i = 0;
    }
  }

  get(): FlatRange | undefined {
    return this.chunks[this.c]![this.i];
  }

  next(): FlatRange | undefined {
    this.i++;
    this.normalize();
    return this.get();
  }

  /** Inserts before the cursor; the cursor stays on the range it was on. */
  insert(r: FlatRange): void {
    [this.c, this.i] = this.list.insertAt(this.c, this.i, r);
    this.normalize();
  }
}

export function formatFlatRange(r: FlatRange): string {
  return `${hex(r.start)}-${hex(r.end - 1n)} ${r.region.name}+${hex(r.offsetInRegion)}`;
}
