/**
 * A domain's mappings: disjoint closed intervals [low, high] of IOVAs, each with its physical
 * start and flags, kept in the shape of the GLib GTree QEMU keeps them in, ordered by
 * interval_cmp (overlapping intervals compare equal): lookups meet mappings in QEMU's order, and
 * every operation is O(log n) (plus what a range query returns).
 */
import { GTreeShape } from './gtree';

export interface Mapping {
  readonly low: bigint;
  readonly high: bigint;
  readonly phys: bigint;
  readonly flags: number;
}

/** QEMU's interval_cmp. */
function intervalCmp(a: Mapping, b: Mapping): number {
  if (a.high < b.low) return -1;
  if (b.high < a.low) return 1;
  return 0;
}

export class DomainMappings {
  private readonly tree = new GTreeShape<Mapping>(intervalCmp);

  /** g_tree_lookup of [low, high]: the overlapping mapping QEMU's search meets first. */
  qemuLookup(low: bigint, high: bigint): Mapping | undefined {
    return this.tree.find({ low, high, phys: 0n, flags: 0 });
  }

  get size(): number {
    return this.tree.size;
  }

  /** In ascending order (QEMU's g_tree_foreach order). */
  all(): Mapping[] {
    return this.tree.inOrder(() => true, () => true, () => true);
  }

  /** Every mapping overlapping [low, high], in ascending order: O(log n + what overlaps). */
  overlapping(low: bigint, high: bigint): Mapping[] {
    return this.tree.inOrder(
      (k) => k.low > low,
      (k) => k.high < high,
      (k) => k.low <= high && k.high >= low,
    );
  }

  /** The mapping containing addr (the only one a point compares equal to: mappings are disjoint). */
  find(addr: bigint): Mapping | undefined {
    return this.tree.find({ low: addr, high: addr, phys: 0n, flags: 0 });
  }

  /** Inserts a mapping that overlaps none (the caller checked). */
  insert(m: Mapping): void {
    this.tree.insert(m);
  }

  remove(m: Mapping): boolean {
    return this.tree.remove(m);
  }
}
