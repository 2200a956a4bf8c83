/**
 * A domain's mappings: disjoint closed intervals [low, high] of IOVAs, each with its physical
 * start and flags (QEMU keeps them in a GTree ordered by interval_cmp, where overlapping
 * intervals compare equal). Kept sorted by `low` in an array: lookups are binary searches, and
 * inserts in ascending order (what drivers do) append.
 */
export interface Mapping {
  readonly low: bigint;
  readonly high: bigint;
  readonly phys: bigint;
  readonly flags: number;
}

export class IntervalMap {
  private readonly items: Mapping[] = [];

  get size(): number {
    return this.items.length;
  }

  /** In ascending order of `low` (QEMU's g_tree_foreach order). */
  all(): readonly Mapping[] {
    return this.items;
  }

  /** Index of the first mapping whose high >= addr. */
  private firstEndingAtOrAfter(addr: bigint): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.high < addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Every mapping overlapping [low, high], in ascending order. */
  overlapping(low: bigint, high: bigint): Mapping[] {
    const out: Mapping[] = [];
    for (let i = this.firstEndingAtOrAfter(low); i < this.items.length && this.items[i]!.low <= high; i++) out.push(this.items[i]!);
    return out;
  }

  /** The mapping containing addr. */
  find(addr: bigint): Mapping | undefined {
    const m = this.items[this.firstEndingAtOrAfter(addr)];
    return m !== undefined && m.low <= addr ? m : undefined;
  }

  /** Inserts a mapping that overlaps none (the caller checked). */
  insert(m: Mapping): void {
    const n = this.items.length;
    if (n === 0 || this.items[n - 1]!.high < m.low) {
      this.items.push(m);
      return;
    }
    this.items.splice(this.firstEndingAtOrAfter(m.low), 0, m);
  }

  remove(m: Mapping): boolean {
    const i = this.firstEndingAtOrAfter(m.low);
    if (this.items[i] !== m) return false;
    this.items.splice(i, 1);
    return true;
  }
}
