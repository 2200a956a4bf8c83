/**
 * An address space's record of the mappings it notified (QEMU's iova_tree of DMAMap {iova,
 * size (inclusive), translated_addr, perm}): find returns a mapping overlapping a range, remove
 * removes every overlapping mapping, insert adds one. Kept as an array sorted by IOVA with binary
 * search: the page walks insert in ascending order, so replay appends.
 */
export interface DmaMap {
  readonly iova: bigint;
  /** Inclusive size (addr_mask). */
  readonly size: bigint;
  readonly translated: bigint;
  readonly perm: number;
}

export class IovaTree {
  private items: DmaMap[] = [];

  get size(): number {
    return this.items.length;
  }

  all(): readonly DmaMap[] {
    return this.items;
  }

  clear(): void {
    this.items = [];
  }

  /** Index of the first mapping whose end is >= iova. */
  private lowerBound(iova: bigint): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.items[mid]!;
      if (m.iova + m.size < iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  find(iova: bigint, size: bigint): DmaMap | undefined {
    const last = this.items[this.items.length - 1];
    // Ends are sorted too (no overlaps), so a range past the last end overlaps nothing: the
    // ascending walks of replay and sync find this in O(1).
    if (last === undefined || last.iova + last.size < iova) return undefined;
    const i = this.lowerBound(iova);
    const m = this.items[i];
    return m !== undefined && m.iova <= iova + size ? m : undefined;
  }

  remove(iova: bigint, size: bigint): number {
    const i = this.lowerBound(iova);
    let j = i;
    while (j < this.items.length && this.items[j]!.iova <= iova + size) j++;
    if (j > i) this.items.splice(i, j - i);
    return j - i;
  }

  /** Inserts unless it overlaps a mapping (iova_tree_insert's IOVA_ERR_OVERLAP): false then. */
  insert(m: DmaMap): boolean {
    const n = this.items.length;
    const last = this.items[n - 1];
    if (last === undefined || last.iova + last.size < m.iova) {
      this.items.push(m);
      return true;
    }
    const i = this.lowerBound(m.iova);
    const at = this.items[i];
    if (at !== undefined && at.iova <= m.iova + m.size) return false;
    this.items.splice(i, 0, m);
    return true;
  }
}
