/**
 * The untraced stage-1 walk's fast path: a walk with no trace, no stage 2, every descriptor in
 * RAM, that meets no fault and nothing a profile lets through with a note. It indexes each level
 * with 32-bit integer operations on the input's two halves (no division) and reads each
 * descriptor's two 32-bit halves straight from the 4 KiB page that holds it, found in the
 * walker's page cache (TablePages, below: a direct-mapped cache from guest page to the backing's
 * live words, so a walk looks up no map and checks no range per level). The 4 KiB granule, the
 * common case, has its own walker (fixed shifts, one page per table); 16 KiB and 64 KiB take the
 * general one. Anything else (a fault, a profile note, a descriptor outside cached RAM) answers
 * false having changed nothing, and Walker.walkS1 walks again from the top: faults, event fields
 * and notes come from the one traced-path walker, so the two cannot differ
 * (test/unit/smmuv3-fast-path.test.ts checks it).
 */
import { currentTopologyGeneration } from '../../memory';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import type { GuestReader } from './guest-reader';
import { POW2, TWO32, type ProfileFlags, type StreamConfig, type TtInfo } from './types';
import type { Walker } from './walker';

/** Slots of the page cache (a power of two): 2 MiB of tables stay cached. */
const SLOTS = 512;
const NO_KEYS = new Float64Array(SLOTS).fill(-1);
const NO_WORDS: Array<Uint32Array | undefined> = new Array<Uint32Array | undefined>(SLOTS).fill(undefined);

/**
 * Guest 4 KiB pages of RAM that tables were read from, as their backing's live words
 * (MemoryBacking.wordPage): slot `page & (SLOTS - 1)` holds page `key[slot]`. A page is cached
 * only when all of it lies in one RAM range and one backing page, so any descriptor in it reads
 * from there. Which backing page a guest page is depends on the memory topology alone, and a
 * backing never replaces a page it handed out (later writes show through), so the cache holds
 * until the topology changes (`gen`); pages nothing has written yet (which read as zero) are not
 * cached. Allocated on the first walk (a model that never walks fast costs nothing).
 */
export class TablePages {
  gen = -1;
  key = NO_KEYS;
  words = NO_WORDS;
  /** The start-level table of the last 4 KiB walk: its TtInfo, words and first word. */
  rootTt: TtInfo | undefined;
  rootWords: Uint32Array | undefined;
  rootFirst = 0;
  /**
   * Per level, the last table descriptor the 4 KiB walk followed (its halves) and the next
   * table's words: the same descriptor again needs no page lookup.
   */
  readonly dlo = new Uint32Array(4);
  readonly dhi = new Uint32Array(4);
  readonly next: Array<Uint32Array | undefined> = [undefined, undefined, undefined, undefined];

  /** Empties the cache when the topology moved since it was filled; the caller checks `gen` first. */
  reset(gen: number): void {
    if (this.key === NO_KEYS) {
      this.key = new Float64Array(SLOTS);
      this.words = new Array<Uint32Array | undefined>(SLOTS).fill(undefined);
    }
    this.key.fill(-1);
    this.words.fill(undefined);
    this.rootTt = undefined;
    this.rootWords = undefined;
    // No descriptor has bit 0 clear and is followed, so zeros match nothing.
    this.dlo.fill(0);
    this.dhi.fill(0);
    this.next.fill(undefined);
    this.gen = gen;
  }

  /**
   * Guest page `page`'s words from the RAM range the reader holds, now cached in `slot`; undefined
   * when the page is not wholly in that range and in one backing page, or not written yet.
   */
  fill(reader: GuestReader, page: number, slot: number): Uint32Array | undefined {
    const mem = reader.ramPages();
    if (mem === undefined) return undefined;
    const addr = page * 4096;
    if (addr < reader.rStart || addr + 4096 > reader.rEnd) return undefined;
    const off = addr - reader.rDelta;
    if (off % 4096 !== 0) return undefined;
    const words = mem.wordPage!(off / 4096);
    if (words === undefined) return undefined;
    this.key[slot] = page;
    this.words[slot] = words;
    return words;
  }
}

/** walkS1 for masked input `ia` (below 2^53) as described above; on true the walker holds the leaf. */
export function fastWalkS1(w: Walker, reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
  if (!(ia < POW2[tt.inputBits]!)) return false;
  const pages = w.pages;
  const gen = currentTopologyGeneration();
  if (pages.gen !== gen) pages.reset(gen);
  return tt.granule === 12 ? walk4k(w, pages, reader, flags, cfg, tt, ia, flag) : walkAny(w, pages, reader, flags, cfg, tt, ia, flag);
}

/**
 * The 4 KiB granule: level L's index is input bits [20 + 9(3-L) : 12 + 9(3-L)], every table
 * below the start level is one page, and the start-level table (at most 512 entries, aligned to
 * its size) lies in one page too. Blocks are allowed at levels 1 and 2 only (no FEAT_LPA).
 * Output and table addresses are bits [47:12] of a descriptor, so "at or beyond 2^oas" (oas is
 * 32 or more) is a test of its high half alone.
 */
function walk4k(w: Walker, pages: TablePages, reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
  // ia < 2^48: the high half fits 16 bits.
  const iaHi = (ia / TWO32) | 0;
  const iaLo = ia >>> 0;
  const hiLimit = POW2[cfg.oas - 32]!;
  // The start-level table: the one of the last walk, or its page and its first word there.
  let words: Uint32Array;
  let first: number;
  if (tt === pages.rootTt) {
    words = pages.rootWords!;
    first = pages.rootFirst;
  } else {
    const page = Math.floor(tt.base / 4096);
    const slot = page & (SLOTS - 1);
    const found = pages.key[slot] === page ? pages.words[slot] : pages.fill(reader, page, slot);
    if (found === undefined) return false;
    words = found;
    first = (tt.base - page * 4096) >>> 2;
    pages.rootTt = tt;
    pages.rootWords = words;
    pages.rootFirst = first;
  }
  const dlo = pages.dlo;
  const dhi = pages.dhi;
  const next = pages.next;
  let level = tt.startLevel;
  let noWrite = false;
  for (;;) {
    const idx = level === 3 ? (iaLo >>> 12) & 511 : level === 2 ? (iaLo >>> 21) & 511 : level === 1 ? ((iaHi << 2) | (iaLo >>> 30)) & 511 : iaHi >>> 7;
    const at = first + idx * 2;
    const lo = words[at]!;
    const hi = words[at + 1]!;
    if ((lo & 1) === 0) return false;
    if (level < 3 && (lo & 2) !== 0) {
      // A table.
      if (!tt.had && (hi & 0x4000_0000) !== 0) {
        // APTable[1]: the architecture folds it into the leaf; QEMU faults a write here (left to walkS1).
        if (flags.apTableArch) noWrite = true;
        else if ((flag & IOMMU_WO) !== 0) return false;
      }
      if (flags.tableAddrSize && (hi & 0xffff) >= hiLimit) return false;
      if (lo === dlo[level] && hi === dhi[level]) {
        // The same descriptor as the last walk's at this level: the same next table.
        words = next[level]!;
      } else {
        // Bits [47:12]: the next table's page.
        const page = (hi & 0xffff) * 1048576 + (lo >>> 12);
        const slot = (lo >>> 12) & (SLOTS - 1);
        const found = pages.key[slot] === page ? pages.words[slot] : pages.fill(reader, page, slot);
        if (found === undefined) return false;
        words = found;
        dlo[level] = lo;
        dhi[level] = hi;
        next[level] = found;
      }
      first = 0;
      level++;
      continue;
    }
    // Reserved (type 0b01 at level 3) or a block where the granule allows none.
    if (level === 3 ? (lo & 2) === 0 : level === 0) return false;
    if ((hi & 0xffff) >= hiLimit) return false;
    if ((lo & 0x400) === 0 && !cfg.affd) return false;
    const ro = (lo & 0x80) !== 0 || noWrite;
    if (ro && (flag & IOMMU_WO) !== 0) return false;
    const shift = 39 - 9 * level;
    w.inBase = iaHi * TWO32 + (((iaLo >>> shift) << shift) >>> 0);
    w.out = (hi & 0xffff) * TWO32 + (((lo >>> shift) << shift) >>> 0);
    w.shift = shift;
    w.level = level;
    w.granule = 12;
    w.perm = ro ? IOMMU_RO : IOMMU_RW;
    return true;
  }
}

/** 16 KiB and 64 KiB granules (any granule in fact): a table spans several cached pages. */
function walkAny(w: Walker, pages: TablePages, reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
  const key = pages.key;
  const cache = pages.words;
  const g = tt.granule;
  const stride = g - 3;
  const oasLimit = POW2[cfg.oas]!;
  const iaHi = Math.floor(ia / TWO32);
  const iaLo = ia >>> 0;
  const start = tt.startLevel;
  let level = start;
  let base = tt.base;
  let noWrite = false;
  for (;;) {
    const shift = g + (3 - level) * stride;
    // The start level's index has inputBits - shift bits (at most a stride), the others a stride.
    const mask = level === start ? (1 << (tt.inputBits - shift)) - 1 : (1 << stride) - 1;
    let idx: number;
    if (shift >= 32) idx = (iaHi >>> (shift - 32)) & mask;
    else if (shift + stride <= 32) idx = (iaLo >>> shift) & mask;
    else idx = ((iaHi << (32 - shift)) | (iaLo >>> shift)) & mask;
    // Descriptors are 8-aligned, so none crosses a page.
    const daddr = base + idx * 8;
    const page = Math.floor(daddr / 4096);
    const slot = page & (SLOTS - 1);
    let words = cache[slot];
    if (key[slot] !== page) {
      words = pages.fill(reader, page, slot);
      if (words === undefined) return false;
    }
    const at = (daddr - page * 4096) >>> 2;
    const lo = words![at]!;
    const hi = words![at + 1]!;
    if ((lo & 1) === 0) return false;
    const type = lo & 3;
    const oaHi = (hi & 0xffff) * TWO32;
    if (level < 3 && type === 3) {
      // The next table's address: bits [47:granule] (pteAddress with shift < 32).
      const next = oaHi + (((lo >>> g) << g) >>> 0);
      if (!tt.had && ((hi >>> 29) & 2) !== 0) {
        // The architecture folds APTable[1] into the leaf; QEMU faults a write here (left to walkS1).
        if (flags.apTableArch) noWrite = true;
        else if ((flag & IOMMU_WO) !== 0) return false;
      }
      if (flags.tableAddrSize && next >= oasLimit) return false;
      base = next;
      level++;
      continue;
    }
    if (level === 3 ? type !== 3 : level === 0 || (g !== 12 && level !== 2)) return false;
    const out = shift >= 32 ? (((hi & 0xffff) >>> (shift - 32)) << (shift - 32)) * TWO32 : oaHi + (((lo >>> shift) << shift) >>> 0);
    if (out >= oasLimit) return false;
    if (((lo >>> 10) & 1) === 0 && !cfg.affd) return false;
    const ro = ((lo >>> 6) & 2) !== 0 || noWrite;
    if (ro && (flag & IOMMU_WO) !== 0) return false;
    w.inBase = shift >= 32 ? (((iaHi >>> (shift - 32)) << (shift - 32)) >>> 0) * TWO32 : iaHi * TWO32 + (((iaLo >>> shift) << shift) >>> 0);
    w.out = out;
    w.shift = shift;
    w.level = level;
    w.granule = g;
    w.perm = ro ? IOMMU_RO : IOMMU_RW;
    return true;
  }
}
