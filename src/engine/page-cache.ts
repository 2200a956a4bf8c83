/**
 * A page cache for fast table walkers: guest 4 KiB pages of RAM that tables are read from, as
 * their backing's live words (MemoryBacking.wordPage), so that a walk reads each entry's halves
 * straight from a Uint32Array and looks up no map and checks no range per level.
 *
 * One direct-mapped cache per table level (so that the pages of one walk never evict each
 * other): slot `level * PAGE_SLOTS + (address bits [19:12])` holds the page whose address bits
 * [47:20] are `keys[slot]` (an int32; -1 is an empty slot). A page is cached only when all of it
 * lies in one RAM range and one backing page, so any entry in it reads from there. Which backing
 * page a guest page is depends on the memory topology alone, and a backing never replaces a page
 * it handed out (later writes show through), so the cache holds until the topology changes
 * (`gen`, checked by `sync`); pages nothing has written yet (which read as zero) are not cached.
 * The arrays are allocated on the first `sync` (a walker that never walks costs nothing).
 *
 * Keys are guest addresses, so one cache serves every walker reading the same address space.
 * Walkers read `keys` and `words` directly in their loops; a missing page is filled with `fill`
 * and the walk is done again (or looked up with `pageOf`, which fills it).
 */
import type { MemoryBacking } from './guest-memory';
import { currentTopologyGeneration } from './memory';

/** Slots per level (a power of two): 1 MiB of tables per level stay cached. */
export const PAGE_SLOT_BITS = 8;
export const PAGE_SLOTS = 1 << PAGE_SLOT_BITS;

/**
 * The RAM range a guest-memory reader last reached, [rStart, rEnd) with backing offset =
 * address - rDelta, and its backing when that offers pages (undefined otherwise, or when the
 * topology moved since the range was found).
 */
export interface RamWindow {
  ramPages(): MemoryBacking | undefined;
  readonly rStart: number;
  readonly rEnd: number;
  readonly rDelta: number;
}

const NO_KEYS = new Int32Array(0);
/** A page of zeros: what an empty slot's words are (never read: its key matches nothing). */
export const NO_PAGE: Uint32Array = new Uint32Array(1024);

export class TablePageCache {
  gen = -1;
  keys: Int32Array = NO_KEYS;
  words: Uint32Array[] = [];

  /** `levels` caches, for levels 0 to levels - 1. */
  constructor(readonly levels: number) {}

  /** Empties the caches when the memory topology moved since they were filled (allocating them the first time). */
  sync(): void {
    const gen = currentTopologyGeneration();
    if (this.gen === gen) return;
    const n = this.levels * PAGE_SLOTS;
    if (this.keys === NO_KEYS) {
      this.keys = new Int32Array(n);
      this.words = Array.from({ length: n }, () => NO_PAGE);
    }
    this.keys.fill(-1);
    this.words.fill(NO_PAGE);
    this.gen = gen;
  }

  /**
   * The words of the guest page with key `key` (address bits [47:20], 0 <= key < 2^28) and
   * `slot` (whose low bits are address bits [19:12]) from the RAM range `win` holds, now cached
   * in `slot`; undefined when the page is not wholly in that range and in one backing page, or
   * not written yet.
   */
  fill(win: RamWindow, slot: number, key: number): Uint32Array | undefined {
    if (!(key >= 0 && key < 0x1000_0000)) return undefined;
    const mem = win.ramPages();
    if (mem === undefined || mem.wordPage === undefined) return undefined;
    const addr = key * 1048576 + (slot & (PAGE_SLOTS - 1)) * 4096;
    if (addr < win.rStart || addr + 4096 > win.rEnd) return undefined;
    const off = addr - win.rDelta;
    if (off % 4096 !== 0) return undefined;
    const words = mem.wordPage(off / 4096);
    if (words === undefined) return undefined;
    this.keys[slot] = key;
    this.words[slot] = words;
    return words;
  }

  /** The words of the page holding guest address `addr` (below 2^48) at `level`, cached or filled; undefined as for fill. */
  pageOf(win: RamWindow, level: number, addr: number): Uint32Array | undefined {
    if (!(addr < 2 ** 48)) return undefined;
    const key = Math.floor(addr / 1048576);
    const slot = (level << PAGE_SLOT_BITS) | ((addr >>> 12) & (PAGE_SLOTS - 1));
    return this.keys[slot] === key ? this.words[slot] : this.fill(win, slot, key);
  }
}
