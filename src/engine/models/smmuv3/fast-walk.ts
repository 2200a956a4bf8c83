/**
 * The untraced stage-1 walk's fast path: a walk with no trace, no stage 2, every descriptor in
 * RAM, that meets no fault and nothing a profile lets through with a note. It indexes each level
 * with 32-bit integer operations on the input's two halves (no division) and reads each
 * descriptor's two 32-bit halves straight from the 4 KiB page that holds it, found in the
 * walker's page cache (TablePages, below: direct-mapped caches from guest page to the backing's
 * live words, so a walk looks up no map and checks no range per level). The 4 KiB granule, the
 * common case, has its own walker: the stream's table and limits prepared once (TablePages.plan),
 * fixed shifts, one page per table, no call and no allocation; 16 KiB and 64 KiB take the
 * general one. Anything else (a fault, a profile note, a descriptor outside cached RAM) answers
 * false having changed nothing, and Walker.walkS1 walks again from the top: faults, event fields
 * and notes come from the one traced-path walker, so the two cannot differ
 * (test/unit/smmuv3-fast-path.test.ts checks it).
 */
import { currentTopologyGeneration } from '../../memory';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import type { GuestReader } from '../../guest-reader';
import { NO_PAGE, PAGE_SLOTS, PAGE_SLOT_BITS, TablePageCache } from '../../page-cache';
import { POW2, TWO32, type ProfileFlags, type StreamConfig, type TtInfo } from './types';
import type { Walker } from './walker';

/** walk4k's answers. */
const DECLINE = 0;
const DONE = 1;
/** A table page is not cached yet (TablePages.miss* say which). */
const MISS = 2;

/**
 * The walker's table pages (TablePageCache, src/engine/page-cache.ts: one direct-mapped cache per
 * level from guest page to the backing's live words, held until the memory topology changes),
 * and the plan of the last 4 KiB table walked (its TtInfo and StreamConfig): the start-level
 * table's words and what the walk checks, decoded once.
 */
export class TablePages extends TablePageCache {
  /** The page walk4k found missing: its cache slot and key. */
  missSlot = 0;
  missKey = 0;

  // The plan.
  planTt: TtInfo | undefined = undefined;
  planCfg: StreamConfig | undefined = undefined;
  /** The start-level table's page and the word it starts at. */
  rootWords: Uint32Array = NO_PAGE;
  rootFirst = 0;
  startLevel = 0;
  /** Descriptor bits [47:32] at or above this are beyond the output size (2^(oas - 32)). */
  hiLimit = 0;
  /** The same for next-table addresses as a key (bits [47:20]): where the profile checks them, else never. */
  tableLimit = 0;
  /** APTable[1] (bit 62, bit 30 of the high half) where it applies (not under HAD), else 0. */
  aptMask = 0;
  aptArch = false;
  affd = false;

  constructor() {
    super(4);
  }

  /** Empties the caches and the plan when the topology moved since they were filled. */
  override sync(): void {
    if (this.gen === currentTopologyGeneration()) return;
    super.sync();
    this.planTt = undefined;
    this.planCfg = undefined;
    this.rootWords = NO_PAGE;
  }

  /** Decodes the plan of a 4 KiB table; false when its start-level table is not in cached RAM. */
  plan(reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo): boolean {
    const oas = cfg.oas;
    if (oas < 32 || oas > 48) return false;
    const root = this.pageOf(reader, tt.startLevel, tt.base);
    if (root === undefined) return false;
    this.rootWords = root;
    this.rootFirst = (tt.base % 4096) >>> 2;
    this.startLevel = tt.startLevel;
    this.hiLimit = 1 << (oas - 32);
    this.tableLimit = flags.tableAddrSize ? this.hiLimit << 12 : 0x1000_0000;
    this.aptMask = tt.had ? 0 : 0x4000_0000;
    this.aptArch = flags.apTableArch;
    this.affd = cfg.affd;
    this.planTt = tt;
    this.planCfg = cfg;
    return true;
  }

  /** Caches the page walk4k found missing; false when it cannot be. */
  fillMiss(reader: GuestReader): boolean {
    return this.fill(reader, this.missSlot, this.missKey) !== undefined;
  }
}

/** walkS1 for masked input `ia` (below 2^53) as described above; on true the walker holds the leaf. */
export function fastWalkS1(w: Walker, reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
  if (!(ia < POW2[tt.inputBits]!)) return false;
  const pages = w.pages;
  pages.sync();
  if (tt.granule !== 12) return walkAny(w, pages, reader, flags, cfg, tt, ia, flag);
  if ((tt !== pages.planTt || cfg !== pages.planCfg) && !pages.plan(reader, flags, cfg, tt)) return false;
  // The input's halves as int32 (passed unboxed); ia < 2^48 here.
  const iaHi = (ia / TWO32) | 0;
  const iaLo = ia | 0;
  let r = walk4k(w, pages, iaHi, iaLo, flag);
  // A table page not cached yet: cache it and walk again. Each level has its own cache, so the
  // pages of one walk do not evict each other: at most three (levels 1 to 3) are missing.
  for (let i = 0; r === MISS && i < 3; i++) r = pages.fillMiss(reader) ? walk4k(w, pages, iaHi, iaLo, flag) : DECLINE;
  return r === DONE;
}

/**
 * The 4 KiB granule with the plan in `pages`. Level L's index is input bits [s + 8 : s] with
 * s = 39 - 9L; every table below the start level is one page, and the start-level table (at most
 * 512 entries, aligned to its size) lies in one page too. Blocks are allowed at levels 1 and 2
 * only (no FEAT_LPA). Output and table addresses are bits [47:12] of a descriptor, so "at or
 * beyond 2^oas" (oas is 32 or more) is a test of its high half alone. `iaHi` and `iaLo` are the
 * input's bits [63:32] and [31:0] (as an int32). APTable bits are gathered on the way down and
 * judged at the leaf: the architecture makes the leaf read-only; QEMU 7.2 faults a write at the
 * table (any write with the bit declines here, and walkS1 reports it).
 */
function walk4k(w: Walker, pages: TablePages, iaHi: number, iaLo: number, flag: number): number {
  const keys = pages.keys;
  const cache = pages.words;
  const tableLimit = pages.tableLimit;
  let level = pages.startLevel;
  // Input bits [38:12]: the indexes of levels 1 to 3, 9 bits each from bit `sh` up.
  const v = ((iaHi << 20) | (iaLo >>> 12)) & 0x7ff_ffff;
  let sh = (27 - 9 * level) | 0;
  let words = pages.rootWords;
  let at = (pages.rootFirst + (level === 0 ? iaHi >>> 7 : (v >>> sh) & 511) * 2) | 0;
  let lo = words[at]!;
  let hi = words[at + 1]!;
  let apt = 0;
  while ((lo & 3) === 3 && level < 3) {
    // A table: the next one's page is address bits [47:12]; its key bits [47:20], its slot
    // the level's cache at bits [19:12].
    apt |= hi;
    const key = ((hi & 0xffff) << 12) | (lo >>> 20);
    if (key >= tableLimit) return DECLINE;
    level = (level + 1) | 0;
    const slot = (level << PAGE_SLOT_BITS) | ((lo >>> 12) & (PAGE_SLOTS - 1));
    if (keys[slot] !== key) {
      pages.missSlot = slot;
      pages.missKey = key;
      return MISS;
    }
    words = cache[slot]!;
    sh = (sh - 9) | 0;
    at = ((v >>> sh) & 511) << 1;
    lo = words[at]!;
    hi = words[at + 1]!;
  }
  if ((lo & 1) === 0) return DECLINE;
  // Reserved (type 0b01 at level 3) or a block where the granule allows none.
  if (level === 3 ? (lo & 2) === 0 : level === 0) return DECLINE;
  if ((hi & 0xffff) >= pages.hiLimit) return DECLINE;
  if ((lo & 0x400) === 0 && !pages.affd) return DECLINE;
  let ro = (lo & 0x80) !== 0;
  if ((apt & pages.aptMask) !== 0) {
    if (pages.aptArch) ro = true;
    else if ((flag & IOMMU_WO) !== 0) return DECLINE;
  }
  if (ro && (flag & IOMMU_WO) !== 0) return DECLINE;
  const s = sh + 12;
  w.inBase = iaHi * TWO32 + (((iaLo >>> s) << s) >>> 0);
  w.out = (hi & 0xffff) * TWO32 + (((lo >>> s) << s) >>> 0);
  w.shift = s;
  w.level = level;
  w.granule = 12;
  w.perm = ro ? IOMMU_RO : IOMMU_RW;
  return DONE;
}

/** 16 KiB and 64 KiB granules (any granule in fact): a table spans several cached pages. */
function walkAny(w: Walker, pages: TablePages, reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
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
    const words = pages.pageOf(reader, level, daddr);
    if (words === undefined) return false;
    const at = (daddr % 4096) >>> 2;
    const lo = words[at]!;
    const hi = words[at + 1]!;
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
