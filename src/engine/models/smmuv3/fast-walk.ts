/**
 * The untraced stage-1 walk's fast path: a walk with no trace, no stage 2, every descriptor in
 * RAM, that meets no fault and nothing a profile lets through with a note. It indexes each level
 * with 32-bit integer operations on the input's two halves (one division per walk) and reads
 * descriptors as two 32-bit halves from the RAM range the reader holds. Anything else (a fault,
 * a profile note, a descriptor outside that RAM) answers false having changed nothing, and
 * Walker.walkS1 walks again from the top: faults, event fields and notes come from the one
 * traced-path walker, so the two cannot differ (test/unit/smmuv3-fast-path.test.ts checks it).
 */
import { IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import type { GuestReader } from './guest-reader';
import { POW2, TWO32, blockAllowed, pteAddress, type ProfileFlags, type StreamConfig, type TtInfo } from './types';
import type { Walker } from './walker';

/** walkS1 for masked input `ia` (below 2^53) as described above; on true the walker holds the leaf. */
export function fastWalkS1(w: Walker, reader: GuestReader, flags: ProfileFlags, cfg: StreamConfig, tt: TtInfo, ia: number, flag: number): boolean {
  const g = tt.granule;
  const stride = g - 3;
  const mask = (1 << stride) - 1;
  const oasLimit = POW2[cfg.oas]!;
  const iaHi = Math.floor(ia / TWO32);
  const iaLo = ia >>> 0;
  let level = tt.startLevel;
  let base = tt.base;
  let noWrite = false;
  for (;;) {
    const shift = g + (3 - level) * stride;
    let idx: number;
    if (level === tt.startLevel) idx = Math.floor(ia / POW2[shift]!);
    else if (shift >= 32) idx = (iaHi >>> (shift - 32)) & mask;
    else if (shift + stride <= 32) idx = (iaLo >>> shift) & mask;
    else idx = ((iaHi << (32 - shift)) | (iaLo >>> shift)) & mask;
    if (!reader.readRam(base + idx * 8)) return false;
    const lo = reader.lo;
    const hi = reader.hi;
    if ((lo & 1) === 0) return false;
    const type = lo & 3;
    if (level < 3 && type === 3) {
      const next = pteAddress(lo, hi, g);
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
    if (level === 3 && type !== 3) return false;
    if (level < 3 && !blockAllowed(level, g)) return false;
    const out = pteAddress(lo, hi, shift);
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
