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

/**
 * A domain's mappings below 2^53 in ascending order as numbers, for the number fast path:
 * `highs` is Infinity where a mapping ends at or above 2^53, `phys` NaN where it starts there.
 * Valid while the domain's `version` is the one it was made at.
 */
export interface NumberMappings {
  readonly version: number;
  readonly lows: Float64Array;
  readonly highs: Float64Array;
  readonly phys: Float64Array;
  readonly flags: Int32Array;
}

const TWO53N = 1n << 53n;

export class DomainMappings {
  private readonly tree = new GTreeShape<Mapping>(intervalCmp);
  /** Bumped by every insert and remove. */
  version = 0;
  private numberForm: NumberMappings | undefined;

  /** The mappings as numbers (see NumberMappings), made again after a change. */
  numbers(): NumberMappings {
    if (this.numberForm !== undefined && this.numberForm.version === this.version) return this.numberForm;
    const below = this.all().filter((m) => m.low < TWO53N);
    const n = below.length;
    const form = { version: this.version, lows: new Float64Array(n), highs: new Float64Array(n), phys: new Float64Array(n), flags: new Int32Array(n) };
    below.forEach((m, i) => {
      form.lows[i] = Number(m.low);
      form.highs[i] = m.high < TWO53N ? Number(m.high) : Infinity;
      form.phys[i] = m.phys < TWO53N ? Number(m.phys) : NaN;
      form.flags[i] = m.flags;
    });
    this.numberForm = form;
    return form;
  }

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
    this.version++;
    this.tree.insert(m);
  }

  remove(m: Mapping): boolean {
    this.version++;
    return this.tree.remove(m);
  }
}
