/**
 * The untraced stage-1 walk's fast path: a walk with no trace, no stage 2, every descriptor in
 * RAM, that meets no fault and nothing a profile lets through with a note. It indexes each level
 * with 32-bit integer operations on the input's two halves (no division) and reads each
 * descriptor's two 32-bit halves straight from its page in the RAM range the reader holds
 * (MemoryBacking.wordPage; the page of each level is kept for the next walk, so the upper
 * levels' tables cost no lookup). Anything else (a fault, a profile note, a descriptor outside
 * that RAM) answers false having changed nothing, and Walker.walkS1 walks again from the top:
 * faults, event fields and notes come from the one traced-path walker, so the two cannot differ
 * (test/unit/smmuv3-fast-path.test.ts checks it).
 */
import type { MemoryBacking } from '../../guest-memory';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import type { GuestReader } from './guest-reader';
import { POW2, TWO32, type ProfileFlags, type StreamConfig, type TtInfo } from './types';
import type { Walker } from './walker';

/**
 * The page each level's descriptor was last read from, per backing (a backing's pages are live
 * views that it never replaces, so a kept page always shows what the memory holds now).
 */
export class WalkPages {
  mem: MemoryBacking | undefined;
  readonly index = new Float64Array(4).fill(-1);
  readonly words: Array<Uint32Array | undefined> = [undefined, undefined, undefined, undefined];
}

/** walkS1 for masked input `ia` (below 2^53) as described above; on true the walker holds the leaf. */
export function fastWalkS1(w: Walker, reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
  const mem = reader.ramPages();
  if (mem === undefined || ia >= POW2[tt.inputBits]!) return false;
  const rStart = reader.rStart;
  const rEnd = reader.rEnd;
  const rDelta = reader.rDelta;
  // Descriptors are 8-aligned; with an 8-aligned backing offset none crosses a page.
  if (((rDelta >>> 0) & 7) !== 0) return false;
  const pages = w.pages;
  if (pages.mem !== mem) {
    pages.mem = mem;
    pages.index.fill(-1);
  }
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
    const daddr = base + idx * 8;
    if (daddr < rStart || daddr + 8 > rEnd) return false;
    const off = daddr - rDelta;
    const page = off <= 0x7fffffff ? off >>> 12 : Math.floor(off / 4096);
    let words: Uint32Array | undefined;
    if (pages.index[level] === page) {
      words = pages.words[level];
    } else {
      words = mem.wordPage!(page);
      // An unwritten page reads as zero: an invalid descriptor, which walkS1 reports.
      if (words === undefined) return false;
      pages.index[level] = page;
      pages.words[level] = words;
    }
    const at = (off - page * 4096) >>> 2;
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
