/**
 * A domain's mappings: disjoint closed intervals [low, high] of IOVAs, each with its physical
 * start and flags. Kept sorted by `low` in an array (lookups are binary searches, inserts in
 * ascending order append) and, for the order QEMU's lookups meet them, in the shape of the GLib
 * GTree QEMU keeps them in, ordered by interval_cmp (overlapping intervals compare equal).
 */
import { GTreeShape } from './gtree';

export interface Mapping {
  readonly low: bigint;
  readonly high: bigint;
  readonly phys: bigint;
  readonly flags: number;
}

/** QEMU's interval_cmp. */
function intervalCmp(a: { low: bigint; high: bigint }, b: { low: bigint; high: bigint }): number {
  if (a.high < b.low) return -1;
  if (b.high < a.low) return 1;
  return 0;
}

export class IntervalMap {
  private readonly items: Mapping[] = [];
  private readonly tree = new GTreeShape<{ low: bigint; high: bigint }>(intervalCmp);

  /** g_tree_lookup of [low, high]: the overlapping mapping QEMU's search meets first. */
  qemuLookup(low: bigint, high: bigint): Mapping | undefined {
    return this.tree.find({ low, high }) as Mapping | undefined;
  }

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
    this.tree.insert(m);
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
    this.tree.remove(m);
    return true;
  }
}
