/**
 * An address space's record of the mappings it notified (QEMU's iova_tree of DMAMap {iova,
 * size (inclusive), translated_addr, perm}): find returns a mapping overlapping a range, remove
 * removes every overlapping mapping, insert adds one.
 *
 * Only page walks insert, and their leaves are page-aligned: an IOVA, a page size and an output
 * address that are multiples of 4 KiB below 2^65, all exact as doubles. So the record is kept as
 * parallel typed arrays sorted by IOVA (page numbers, page counts, outputs, permissions) with
 * binary search, and queries take page numbers: a replay of a million leaves appends a million
 * rows and allocates nothing per leaf. Mappings never overlap, so their ends are sorted too.
 */
export interface DmaMap {
  readonly iova: bigint;
  /** Inclusive size (addr_mask). */
  readonly size: bigint;
  readonly translated: bigint;
  readonly perm: number;
}

const PAGE = 4096;

export class IovaTree {
  private n = 0;
  /** First 4 KiB page of each mapping. */
  private pfn = new Float64Array(16);
  /** Pages in each mapping. */
  private pages = new Float64Array(16);
  private out = new Float64Array(16);
  private perms = new Uint8Array(16);

  get size(): number {
    return this.n;
  }

  /** The mappings, in IOVA order (for views and tests). */
  all(): DmaMap[] {
    const res: DmaMap[] = [];
    for (let i = 0; i < this.n; i++) {
      res.push({ iova: BigInt(this.pfn[i]!) * 4096n, size: BigInt(this.pages[i]!) * 4096n - 1n, translated: BigInt(this.out[i]!), perm: this.perms[i]! });
    }
    return res;
  }

  clear(): void {
    this.n = 0;
  }

  /** Index of the first mapping that ends at or after page `first`. */
  private lowerBound(first: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.pfn[mid]! + this.pages[mid]! <= first) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The index of a mapping overlapping pages [first, last], or -1. The ascending walks of replay
   * and sync ask past the last mapping, which is answered without a search.
   */
  findPages(first: number, last: number): number {
    const n = this.n;
    if (n === 0 || this.pfn[n - 1]! + this.pages[n - 1]! <= first) return -1;
    const i = this.lowerBound(first);
    return i < n && this.pfn[i]! <= last ? i : -1;
  }

  /** Whether mapping `i` is exactly this leaf (IOVA and size in bytes, output, permissions). */
  same(i: number, iova: number, size: number, translated: number, perm: number): boolean {
    return this.pfn[i]! * PAGE === iova && this.pages[i]! * PAGE === size && this.out[i] === translated && this.perms[i] === perm;
  }

  /** Removes every mapping overlapping pages [first, last]; returns how many. */
  removePages(first: number, last: number): number {
    const i = this.lowerBound(first);
    let j = i;
    while (j < this.n && this.pfn[j]! <= last) j++;
    const k = j - i;
    if (k > 0) {
      this.pfn.copyWithin(i, j, this.n);
      this.pages.copyWithin(i, j, this.n);
      this.out.copyWithin(i, j, this.n);
      this.perms.copyWithin(i, j, this.n);
      this.n -= k;
    }
    return k;
  }

  /** Removes every mapping overlapping the byte range [iova, iova + size] (size inclusive). */
  remove(iova: bigint, size: bigint): number {
    return this.removePages(Number(iova >> 12n), Number((iova + size) >> 12n));
  }

  /**
   * Inserts the leaf (a page-aligned IOVA, size and output) unless it overlaps a mapping
   * (iova_tree_insert's IOVA_ERR_OVERLAP): false then.
   */
  insert(iova: number, size: number, translated: number, perm: number): boolean {
    const first = iova / PAGE;
    const count = size / PAGE;
    const n = this.n;
    let i = n;
    if (n > 0 && this.pfn[n - 1]! + this.pages[n - 1]! > first) {
      i = this.lowerBound(first);
      if (i < n && this.pfn[i]! <= first + count - 1) return false;
    }
    if (n === this.pfn.length) this.grow();
    if (i < n) {
      this.pfn.copyWithin(i + 1, i, n);
      this.pages.copyWithin(i + 1, i, n);
      this.out.copyWithin(i + 1, i, n);
      this.perms.copyWithin(i + 1, i, n);
    }
    this.pfn[i] = first;
    this.pages[i] = count;
    this.out[i] = translated;
    this.perms[i] = perm;
    this.n = n + 1;
    return true;
  }

  private grow(): void {
    const cap = this.pfn.length * 2;
    const f = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.pfn = f(this.pfn);
    this.pages = f(this.pages);
    this.out = f(this.out);
    const p = new Uint8Array(cap);
    p.set(this.perms);
    this.perms = p;
  }
}
