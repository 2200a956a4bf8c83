/**
 * How an IOMMU model reaches guest memory (QEMU's dma_memory_read/write on address_space_memory):
 * its tables and queues (an SMMUv3's STEs, CDs, page tables and queues; a VT-d's root, context,
 * PASID and page tables, invalidation queue) live in its walk-memory address space.
 *
 * A read that lands nowhere, on a region that refuses it, or past the end of a backing is a
 * failed read (`false` / undefined), never an exception: the model turns it into its own fault
 * (SMMUv3: F_WALK_EABT, F_STE_FETCH, F_CD_FETCH or a command-queue abort; VT-d: its fault reasons).
 *
 * The hot path is a descriptor read at a number address: the flat range of the last RAM hit is
 * kept (until the memory topology changes), so a read is one backing call and no lookup. Other
 * regions (MMIO, a nested IOMMU) go through performAccess, as a DMA would.
 */
import { MEMTXATTRS_UNSPECIFIED, MemTxResult } from './attrs';
import type { AddressSpace } from './address-space';
import type { AccessSize, MemoryBacking, WordHalves } from './guest-memory';
import { RamRegion, currentTopologyGeneration } from './memory';
import { performAccess } from './translate';

const TWO32 = 4294967296;
const TWO53N = 1n << 53n;

export class GuestReader implements WordHalves {
  /** Halves of the last 64-bit word read by read64. */
  lo = 0;
  hi = 0;

  private gen = -1;
  /** The RAM range of the last hit, [rStart, rEnd) (read-only outside; see ramPages). */
  rStart = 0;
  rEnd = 0;
  /** backing offset = address - rDelta */
  rDelta = 0;
  private rBacking: MemoryBacking | undefined;

  constructor(readonly as: AddressSpace) {}

  /** Reads the little-endian 64-bit word at `addr` into lo/hi. */
  read64(addr: number): boolean {
    if (this.gen !== currentTopologyGeneration()) this.forget();
    const b = this.rBacking;
    if (b !== undefined && addr >= this.rStart && addr + 8 <= this.rEnd) {
      if (b.readHalves !== undefined) return b.readHalves(addr - this.rDelta, this);
      const v = b.read(BigInt(addr - this.rDelta), 8);
      if (typeof v !== 'bigint') return false;
      this.take(v);
      return true;
    }
    return this.readSlow(addr);
  }

  /**
   * For the fast walker: the backing of the RAM range of the last hit, [rStart, rEnd), when it
   * offers its pages directly (MemoryBacking.wordPage); undefined otherwise (no range yet, or a
   * backing without pages), and the caller then reads through read64.
   */
  ramPages(): MemoryBacking | undefined {
    if (this.gen !== currentTopologyGeneration()) this.forget();
    const b = this.rBacking;
    return b !== undefined && b.wordPage !== undefined ? b : undefined;
  }

  /** A read of 1-8 bytes at a bigint address (queues, 64-byte structures); undefined if it fails. */
  readBig(addr: bigint, size: AccessSize): bigint | undefined {
    if (size === 8 && addr >= 0n && addr < TWO53N) return this.read64(Number(addr)) ? this.word() : undefined;
    const r = performAccess({ as: this.as, addr, op: 'read', size, attrs: MEMTXATTRS_UNSPECIFIED });
    return r.result === MemTxResult.OK && r.error === undefined ? r.value : undefined;
  }

  /** Reads `count` consecutive 64-bit words; undefined if any read fails. */
  readWords(addr: bigint, count: number): bigint[] | undefined {
    const out: bigint[] = [];
    for (let i = 0; i < count; i++) {
      const v = this.readBig(addr + BigInt(8 * i), 8);
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out;
  }

  /** A write (event records); false if it fails. */
  write(addr: bigint, size: AccessSize, value: bigint): boolean {
    const r = performAccess({ as: this.as, addr, op: 'write', size, value, attrs: MEMTXATTRS_UNSPECIFIED });
    return r.result === MemTxResult.OK && r.error === undefined;
  }

  /** The last word read by read64, as a bigint. */
  word(): bigint {
    return (BigInt(this.hi >>> 0) << 32n) | BigInt(this.lo >>> 0);
  }

  private take(v: bigint): void {
    if (v < TWO53N) {
      const n = Number(v);
      const lo = n % TWO32;
      this.lo = lo;
      this.hi = (n - lo) / TWO32;
    } else {
      this.lo = Number(v & 0xffffffffn);
      this.hi = Number(v >> 32n);
    }
  }

  private forget(): void {
    this.rBacking = undefined;
    this.gen = currentTopologyGeneration();
  }

  private readSlow(addr: number): boolean {
    const big = BigInt(addr);
    const fr = this.as.lookup(big);
    if (fr !== undefined && fr.region instanceof RamRegion && fr.end - fr.start >= 8n) {
      const start = Number(fr.start);
      const end = Number(fr.end > TWO53N ? TWO53N : fr.end);
      const delta = start - Number(fr.offsetInRegion);
      // Only what the backing really holds is cached; reads past it fail below.
      const backingEnd = delta + Number(fr.region.backing.size < TWO53N ? fr.region.backing.size : TWO53N);
      if (addr + 8 <= end && addr + 8 <= backingEnd) {
        this.rBacking = fr.region.backing;
        this.rStart = start;
        this.rEnd = Math.min(end, backingEnd);
        this.rDelta = delta;
        this.gen = currentTopologyGeneration();
        const v = fr.region.backing.read(big - fr.start + fr.offsetInRegion, 8);
        if (typeof v !== 'bigint') return false;
        this.take(v);
        return true;
      }
    }
    const r = performAccess({ as: this.as, addr: big, op: 'read', size: 8, attrs: MEMTXATTRS_UNSPECIFIED });
    if (r.result !== MemTxResult.OK || r.error !== undefined) return false;
    this.take(r.value);
    return true;
  }
}
