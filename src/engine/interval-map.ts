/**
 * Sorted structures for long-running consumers: an interval map whose entries never overlap
 * (vfio's DMA map, vhost's device IOTLB) and a bounded log (the events a notifier received).
 *
 * IntervalMap keeps its entries in a Map (so iteration, get and size behave as a Map's, in
 * insertion order) and, again, in a chunked sorted list (chunks of at most twice `chunk`
 * entries), so finding what overlaps a range costs O(log n + chunk + hits), and an insert or a
 * delete O(log n + chunk), wherever it lands: filling or draining n entries is O(n log n) in
 * any order, never quadratic.
 */

/** An entry of an IntervalMap: [start, start + size). */
export interface Interval {
  readonly iova: bigint;
  readonly size: bigint;
}

const NONE: readonly never[] = Object.freeze([]);

export class IntervalMap<E extends Interval> {
  private readonly byStart = new Map<bigint, E>();
  /** The entries sorted by start, in chunks; mins[i] === chunks[i][0].iova; no chunk is empty. */
  private chunks: E[][] = [];
  /** Each chunk's starts as numbers (rounded above 2^53, so ties fall back to the bigints): compared unboxed. */
  private keys_: number[][] = [];
  private mins: bigint[] = [];

  /** `chunk`: entries per chunk after a split (tests use small ones to exercise splits). */
  constructor(private readonly chunk = 256) {}

  get size(): number {
    return this.byStart.size;
  }

  get(start: bigint): E | undefined {
    return this.byStart.get(start);
  }

  has(start: bigint): boolean {
    return this.byStart.has(start);
  }

  values(): IterableIterator<E> {
    return this.byStart.values();
  }

  keys(): IterableIterator<bigint> {
    return this.byStart.keys();
  }

  entries(): IterableIterator<[bigint, E]> {
    return this.byStart.entries();
  }

  [Symbol.iterator](): IterableIterator<[bigint, E]> {
    return this.byStart.entries();
  }

  /**
   * Adds an entry that overlaps none already held (the caller checks with overlapping(); an
   * entry at the same start replaces it, keeping its place in the iteration order).
   */
  insert(e: E): void {
    const x = e.iova;
    const xn = Number(x);
    this.byStart.set(x, e);
    if (this.chunks.length === 0) {
      this.chunks.push([e]);
      this.keys_.push([xn]);
      this.mins.push(x);
      return;
    }
    const ci = Math.max(0, this.chunkAtOrBelow(x, false));
    const chunk = this.chunks[ci]!;
    const keys = this.keys_[ci]!;
    const at = lastBelow(chunk, keys, x, xn) + 1;
    if (at < chunk.length && chunk[at]!.iova === x) {
      chunk[at] = e;
      return;
    }
    if (at === chunk.length) {
      chunk.push(e);
      keys.push(xn);
    } else {
      chunk.splice(at, 0, e);
      keys.splice(at, 0, xn);
    }
    if (at === 0) this.mins[ci] = x;
    if (chunk.length > 2 * this.chunk) {
      const tail = chunk.splice(this.chunk);
      this.chunks.splice(ci + 1, 0, tail);
      this.keys_.splice(ci + 1, 0, keys.splice(this.chunk));
      this.mins.splice(ci + 1, 0, tail[0]!.iova);
    }
  }

  delete(start: bigint): boolean {
    if (!this.byStart.delete(start)) return false;
    const ci = this.chunkAtOrBelow(start, false);
    const chunk = this.chunks[ci]!;
    const keys = this.keys_[ci]!;
    const at = lastBelow(chunk, keys, start, Number(start)) + 1;
    chunk.splice(at, 1);
    keys.splice(at, 1);
    if (chunk.length === 0) {
      this.chunks.splice(ci, 1);
      this.keys_.splice(ci, 1);
      this.mins.splice(ci, 1);
    } else if (at === 0) {
      this.mins[ci] = chunk[0]!.iova;
    }
    return true;
  }

  clear(): void {
    this.byStart.clear();
    this.chunks = [];
    this.keys_ = [];
    this.mins = [];
  }

  /** Entries overlapping [iova, iova + size), in ascending order (none: one shared empty list). */
  overlapping(iova: bigint, size: bigint): readonly E[] {
    const out: E[] = [];
    const end = iova + size;
    // The last start below `end`, then backwards while entries reach past `iova`: entries never
    // overlap, so their ends ascend with their starts.
    let ci = this.chunkAtOrBelow(end, true);
    if (ci < 0) return out;
    let chunk = this.chunks[ci]!;
    let pi = lastBelow(chunk, this.keys_[ci]!, end, Number(end));
    for (;;) {
      if (pi < 0) {
        if (--ci < 0) break;
        chunk = this.chunks[ci]!;
        pi = chunk.length - 1;
      }
      const e = chunk[pi]!;
      if (e.iova + e.size <= iova) break;
      out.push(e);
      pi--;
    }
    return out.length === 0 ? NONE : out.reverse();
  }

  /** Index of the last chunk whose first start is <= x (< x when `strict`); -1 if none. */
  private chunkAtOrBelow(x: bigint, strict: boolean): number {
    const mins = this.mins;
    let lo = 0;
    let hi = mins.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (strict ? mins[mid]! < x : mins[mid]! <= x) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return at;
  }
}

/** Index of the last entry starting below x (xn: x as a number) in a sorted chunk; -1 if none. */
function lastBelow(a: readonly Interval[], keys: readonly number[], x: bigint, xn: number): number {
  let lo = 0;
  let hi = a.length - 1;
  let at = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const k = keys[mid]!;
    if (k < xn || (k === xn && a[mid]!.iova < x)) {
      at = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return at;
}

/**
 * The last `limit` items pushed, oldest first, with the array methods its readers use; a push
 * past the limit drops the oldest in O(1) (a ring, not a splice).
 */
export class BoundedLog<T> implements Iterable<T> {
  private buf: T[] = [];
  private head = 0;
  private count = 0;

  constructor(private cap: number) {}

  get limit(): number {
    return this.cap;
  }

  /** A new limit keeps the newest items that fit. */
  set limit(n: number) {
    const all = this.toArray();
    this.cap = n;
    this.buf = n > 0 ? all.slice(Math.max(0, all.length - n)) : [];
    this.head = 0;
    this.count = this.buf.length;
  }

  get length(): number {
    return this.count;
  }

  clear(): void {
    this.buf = [];
    this.head = 0;
    this.count = 0;
  }

  push(x: T): void {
    if (this.cap <= 0) return;
    if (this.count < this.cap) {
      const at = (this.head + this.count) % this.cap;
      if (at === this.buf.length) this.buf.push(x);
      else this.buf[at] = x;
      this.count++;
    } else {
      this.buf[this.head] = x;
      this.head = (this.head + 1) % this.cap;
    }
  }

  /** As Array.prototype.at: negative indexes count from the newest. */
  at(i: number): T | undefined {
    const k = i < 0 ? this.count + i : i;
    if (k < 0 || k >= this.count) return undefined;
    return this.buf[(this.head + k) % this.cap];
  }

  toArray(): T[] {
    const out: T[] = [];
    for (let k = 0; k < this.count; k++) out.push(this.buf[(this.head + k) % this.cap]!);
    return out;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let k = 0; k < this.count; k++) yield this.buf[(this.head + k) % this.cap]!;
  }

  filter(fn: (x: T, i: number) => boolean): T[] {
    return this.toArray().filter(fn);
  }

  map<U>(fn: (x: T, i: number) => U): U[] {
    return this.toArray().map(fn);
  }

  slice(start?: number, end?: number): T[] {
    return this.toArray().slice(start, end);
  }

  find(fn: (x: T, i: number) => boolean): T | undefined {
    for (let k = 0; k < this.count; k++) {
      const x = this.buf[(this.head + k) % this.cap]!;
      if (fn(x, k)) return x;
    }
    return undefined;
  }

  some(fn: (x: T, i: number) => boolean): boolean {
    return this.find(fn) !== undefined;
  }

  every(fn: (x: T, i: number) => boolean): boolean {
    return this.find((x, i) => !fn(x, i)) === undefined;
  }

  forEach(fn: (x: T, i: number) => void): void {
    for (let k = 0; k < this.count; k++) fn(this.buf[(this.head + k) % this.cap]!, k);
  }
}
