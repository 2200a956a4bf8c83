/**
 * VT-d's number fast path (src/engine/fast-path.ts): a device's translator with its context (and,
 * in scalable mode, its RID_PASID entry) resolved once, when it is made, answering as
 * IntelIommu.probeAs does for the same flag: with DMA remapping off the 4 KiB identity with RW;
 * the interrupt address range refused (requests without PASID; a PASID address space translates
 * it, and faults it when pass-through); the IOTLB (unless uncached; legacy mode looks it up before
 * the context entry, scalable mode after, as QEMU does); a context fault; pass-through; the
 * address-width check; then the walk on numbers (LeafWalker below), with iovaToSlpte or
 * iovaToFlpte, the traced path's walks, finding the fault when the number walk declines. No fault
 * is recorded, the IOTLB and the context cache are left as they are, nothing is allocated.
 *
 * A failure answers as probe()'s entry does (translated 0, mask 0, perm NONE) with the VT-d fault
 * reason in `fault` (0 for the interrupt range, which QEMU never translates).
 * test/unit/intel-iommu-fast-path.test.ts holds this and probe() together on random tables.
 *
 * translate() uses the same walker and the same IOTLB maps (IntelIommu.translateFast), with the
 * effects of the full path; it declines (and the full path answers from the start) wherever an
 * effect other than an IOTLB fill would follow: a fault, a context-cache fill, an A/D update.
 */
import type { AddressSpace } from '../../address-space';
import { type NumberEntry, type NumberTranslator, setNumberEntry } from '../../fast-path';
import { IOMMU_NONE, IOMMU_RW, IOMMU_WO } from '../../iotlb';
import { currentTopologyGeneration } from '../../memory';
import { PAGE_SLOTS, PAGE_SLOT_BITS, TablePageCache } from '../../page-cache';
import type { GuestReader } from '../../guest-reader';
import type { ContextEntry } from './context';
import type { VtdIotlb, VtdTlbEntry, VtdTlbSource } from './iotlb';
import { PCI_NO_PASID, VTD_FR_ADDR_BEYOND_MGAW, VTD_FR_FS_NON_CANONICAL, VTD_FR_INTERRUPT_ADDR, VTD_FR_SM_INTERRUPT_ADDR } from './types';
import { iovaToFlpte, iovaToSlpte, type FsReservedMasks, type FsWriter, leafHitsInterruptRange, leafOutput, newNumLeaf, numMasks, slLeafNum, type NumLeaf, type NumMasks, type WalkEnv } from './walker';

// --- bigint <-> number without Number() and BigInt() (both runtime calls, several times slower) --

const WORD = new BigUint64Array(1);
const HALVES = new Uint32Array(WORD.buffer);
const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const LO = LE ? 0 : 1;
const HI = LE ? 1 : 0;
const TWO32 = 4294967296;
const TWO53N = 1n << 53n;

/** `v` as a number when 0 <= v < 2^53, else -1. */
export function bigToNum(v: bigint): number {
  if (v >= TWO53N || v < 0n) return -1;
  WORD[0] = v;
  return HALVES[HI]! * TWO32 + HALVES[LO]!;
}

/** An integer 0 <= n < 2^53 as a bigint. */
export function numToBig(n: number): bigint {
  HALVES[LO] = n >>> 0;
  HALVES[HI] = (n / TWO32) >>> 0;
  return WORD[0]!;
}

/** The 64-bit word with halves `lo` and `hi` (unsigned 32-bit values) as a bigint. */
export function halvesToBig(lo: number, hi: number): bigint {
  HALVES[LO] = lo;
  HALVES[HI] = hi;
  return WORD[0]!;
}

// --- the walks on numbers --------------------------------------------------------------------

/**
 * Leaf walks on numbers that read each entry's halves straight from its page in RAM
 * (MemoryBacking.wordPage). They answer only a plain success (the leaf in `out`) and otherwise
 * return false having changed nothing but `out`.
 *
 * The second-level walk (slHalves) reads through the page cache (TablePageCache,
 * src/engine/page-cache.ts; shared by the walkers of one IOMMU, as its keys are guest addresses)
 * and leaves what the cache cannot hold to slLeafNum (walker.ts: the same checks through the
 * reader). The first-stage walk reads its pages through the same cache and sends such an entry
 * back to its caller.
 */
export class LeafWalker {
  /** The plan of the cached walk: the NumMasks it was made for, its masks per level (level * 4 + pageLo, pageHi, largeLo, largeHi) and hawHi. */
  private planNm: NumMasks | undefined;
  private readonly masks = new Int32Array(24);
  private hawHi = 0;

  /** `pages`: the IOMMU's page cache (levels 0 to 5), shared by its walkers. */
  constructor(private readonly pages: TablePageCache = new TablePageCache(6)) {}

  /** slLeafNum (walker.ts): the same entries, the same checks in the same order, the same `out`. */
  sl(reader: GuestReader, nm: NumMasks, table: number, top: number, iova: number, isWrite: boolean, out: NumLeaf): boolean {
    return this.slHalves(reader, nm, table, top, (iova / TWO32) | 0, iova | 0, isWrite, out);
  }

  /**
   * sl() for the input whose bits [63:32] and [31:0] are `iovaHi` and `iovaLo` (int32; the input
   * is below 2^53): slLeafNum's walk on cached pages, unrolled. Levels 5 and 4 index with the
   * input's bits [56:48] and [47:39], levels 3 to 1 with bits [38:30], [29:21] and [20:12]. Table
   * addresses are carried as int32 halves (`tHi` <= 0xffff, `tLo` 4 KiB-aligned), so a page's key
   * (address bits [47:20]) and slot are integer operations, and nothing is allocated. The checks
   * are slLeafNum's, in its order: R (or W) at each level, then the reserved bits (the large-page
   * masks for PS at levels 2 and 3; at levels 4 and 5 they include PS itself), then the leaf. A
   * table page not cached yet is cached and the walk done again (each level has its own cache, so
   * the pages of one walk do not evict each other); what the cache cannot hold, and a top level
   * below 3, go to slLeafNum.
   *
   * Callers pass the halves so that a number at or above 2^31 is not boxed on the heap for the
   * call; this function is too large for V8 to inline, which keeps its callers small enough to be
   * inlined where they are called.
   */
  slHalves(reader: GuestReader, nm: NumMasks, table: number, top: number, iovaHi: number, iovaLo: number, isWrite: boolean, out: NumLeaf): boolean {
    const pages = this.pages;
    if (pages.gen !== currentTopologyGeneration()) pages.sync();
    if (nm !== this.planNm) this.plan(nm);
    const m = this.masks;
    const hawHi = this.hawHi;
    const check = isWrite ? 2 : 1;
    // The table's halves as int32 (it is below 2^53).
    const tHi0 = (table / TWO32) | 0;
    const tLo0 = table | 0;
    let tries = (tLo0 & 0xfff) === 0 && tHi0 <= 0xffff && top >= 3 && top <= 5 ? 6 : 0;
    walk: while (tries-- > 0) {
      const keys = pages.keys;
      const cache = pages.words;
      let tHi = tHi0;
      let tLo = tLo0;
      let perm = 3;
      let key = 0;
      let slot = 0;
      let words: Uint32Array;
      let at = 0;
      let lo = 0;
      let hi = 0;
      leaf: {
        for (let level = top; level > 3; level--) {
          key = (tHi << 12) | (tLo >>> 20);
          slot = (level << PAGE_SLOT_BITS) | ((tLo >>> 12) & (PAGE_SLOTS - 1));
          if (keys[slot] !== key) {
            if (pages.fill(reader, slot, key) !== undefined) continue walk;
            break walk;
          }
          words = cache[slot]!;
          at = ((iovaHi >>> (9 * level - 29)) & 511) << 1;
          lo = words[at]! | 0;
          hi = words[at + 1]! | 0;
          perm &= lo;
          if ((lo & check) === 0) return false;
          if (((lo & m[level << 2]!) | (hi & m[(level << 2) + 1]!)) !== 0) return false;
          if ((lo & 0x80) !== 0) break walk;
          tHi = hi & hawHi;
          tLo = lo & ~0xfff;
          if (tHi > 0xffff) break walk;
        }
        // Level 3.
        key = (tHi << 12) | (tLo >>> 20);
        slot = (3 << PAGE_SLOT_BITS) | ((tLo >>> 12) & (PAGE_SLOTS - 1));
        if (keys[slot] !== key) {
          if (pages.fill(reader, slot, key) !== undefined) continue walk;
          break walk;
        }
        words = cache[slot]!;
        at = (((iovaHi << 2) | (iovaLo >>> 30)) & 511) << 1;
        lo = words[at]! | 0;
        hi = words[at + 1]! | 0;
        perm &= lo;
        if ((lo & check) === 0) return false;
        if ((lo & 0x80) !== 0) {
          if (((lo & m[14]!) | (hi & m[15]!)) !== 0) return false;
          out.level = 3;
          break leaf;
        }
        if (((lo & m[12]!) | (hi & m[13]!)) !== 0) return false;
        tHi = hi & hawHi;
        tLo = lo & ~0xfff;
        if (tHi > 0xffff) break walk;
        // Level 2.
        key = (tHi << 12) | (tLo >>> 20);
        slot = (2 << PAGE_SLOT_BITS) | ((tLo >>> 12) & (PAGE_SLOTS - 1));
        if (keys[slot] !== key) {
          if (pages.fill(reader, slot, key) !== undefined) continue walk;
          break walk;
        }
        words = cache[slot]!;
        at = ((iovaLo >>> 21) & 511) << 1;
        lo = words[at]! | 0;
        hi = words[at + 1]! | 0;
        perm &= lo;
        if ((lo & check) === 0) return false;
        if ((lo & 0x80) !== 0) {
          if (((lo & m[10]!) | (hi & m[11]!)) !== 0) return false;
          out.level = 2;
          break leaf;
        }
        if (((lo & m[8]!) | (hi & m[9]!)) !== 0) return false;
        tHi = hi & hawHi;
        tLo = lo & ~0xfff;
        if (tHi > 0xffff) break walk;
        // Level 1.
        key = (tHi << 12) | (tLo >>> 20);
        slot = (1 << PAGE_SLOT_BITS) | ((tLo >>> 12) & (PAGE_SLOTS - 1));
        if (keys[slot] !== key) {
          if (pages.fill(reader, slot, key) !== undefined) continue walk;
          break walk;
        }
        words = cache[slot]!;
        at = ((iovaLo >>> 12) & 511) << 1;
        lo = words[at]! | 0;
        hi = words[at + 1]! | 0;
        perm &= lo;
        if ((lo & check) === 0) return false;
        if (((lo & m[4]!) | (hi & m[5]!)) !== 0) return false;
        out.level = 1;
      }
      out.lo = lo;
      out.hi = hi;
      out.perm = perm & 3;
      return true;
    }
    return slLeafNum(reader, nm, table, top, iovaHi * TWO32 + (iovaLo >>> 0), isWrite, out);
  }

  private plan(nm: NumMasks): void {
    const m = this.masks;
    for (let level = 1; level <= 5; level++) {
      m[level * 4] = nm.pageLo[level]! | 0;
      m[level * 4 + 1] = nm.pageHi[level]! | 0;
      m[level * 4 + 2] = nm.largeLo[level]! | 0;
      m[level * 4 + 3] = nm.largeHi[level]! | 0;
    }
    this.hawHi = nm.hawHi;
    this.planNm = nm;
  }

  /**
   * iovaToFlpte's success for a canonical input below 2^(width - 1) (the caller checks it): P and
   * U/S at every level, R/W for a write, the reserved bits, and no A/D update due: an entry still
   * lacking A (or, the leaf of a write, D) declines, so that iovaToFlpte makes the update
   * (translate()) or says whether it would land (a probe's dry writer). An entry outside the
   * reader's RAM declines too.
   */
  fs(reader: GuestReader, fm: NumMasks, table: number, top: number, iova: number, isWrite: boolean, out: NumLeaf): boolean {
    const pages = this.pages;
    if (pages.gen !== currentTopologyGeneration()) pages.sync();
    const iovaHi = Math.floor(iova / TWO32);
    const iovaLo = iova >>> 0;
    let level = top;
    let writes = 2;
    let t = table;
    for (;;) {
      const shift = 12 + 9 * (level - 1);
      const idx = shift >= 32 ? (iovaHi >>> (shift - 32)) & 511 : shift <= 23 ? (iovaLo >>> shift) & 511 : ((iovaHi << (32 - shift)) | (iovaLo >>> shift)) & 511;
      const at = t + idx * 8;
      const words = pages.pageOf(reader, level, at);
      if (words === undefined) return false;
      const w = ((at >>> 0) & 4095) >>> 2;
      const lo = words[w]!;
      const hi = words[w + 1]!;
      // P, then U/S (requests are user-mode ones), then R/W.
      if ((lo & 5) !== 5) return false;
      writes &= lo & 2;
      if (isWrite && (lo & 2) === 0) return false;
      const large = (lo & 0x80) !== 0 && (level === 2 || level === 3);
      if (large ? ((lo & fm.largeLo[level]!) | (hi & fm.largeHi[level]!)) !== 0 : ((lo & fm.pageLo[level]!) | (hi & fm.pageHi[level]!)) !== 0) return false;
      const last = level === 1 || large;
      const flags = last && isWrite ? 0x60 : 0x20;
      if ((lo & flags) !== flags) return false;
      if (last) {
        out.lo = lo | 0;
        out.hi = hi | 0;
        out.level = level;
        out.perm = 1 | writes;
        return true;
      }
      t = (hi & fm.hawHi) * TWO32 + ((lo & 0xfffff000) >>> 0);
      level--;
    }
  }
}

/**
 * A scalable-mode resolution (smResolve) of a cached context entry `base` and the words it read:
 * the PASID directory entry at `dAddr` and the PASID table entry's first three quadwords at
 * `pAddr` (its other five must stay readable), as 32-bit halves. While `base` is the address
 * space's context-cache entry and memory holds the same words, smResolve would answer `ce` again.
 */
export interface PasidMemo {
  readonly base: ContextEntry;
  readonly ce: ContextEntry;
  readonly dAddr: number;
  readonly pAddr: number;
  readonly words: Float64Array;
}

/** Reads the PASID directory entry at `dAddr`, then the 64-byte PASID entry it points to (`pasid`'s), into `words`; the entry's address, or -1 when a read fails or an address is beyond numbers. */
export function readPasidWords(reader: GuestReader, dAddr: number, pasid: number, words: Float64Array): number {
  if (!reader.read64(dAddr)) return -1;
  words[0] = reader.lo;
  words[1] = reader.hi;
  if (reader.hi >= 0x200000) return -1;
  const pAddr = reader.hi * TWO32 + ((reader.lo & 0xfffff000) >>> 0) + (pasid & 0x3f) * 64;
  if (pAddr + 64 > TWO53) return -1;
  for (let i = 0; i < 8; i++) {
    if (!reader.read64(pAddr + 8 * i)) return -1;
    if (i < 3) {
      words[2 + 2 * i] = reader.lo;
      words[3 + 2 * i] = reader.hi;
    }
  }
  return pAddr;
}

/** Slots of TlbProbe's direct-mapped cache (a power of two). */
const PROBE_SLOTS = 256;

/**
 * The IOTLB entry of (sid, pasid) holding `addr` (below 2^53): through a kept VtdTlbSource while
 * the table's epoch stands, with a small direct-mapped cache of the entries found in front of its
 * maps, each slot valid while the table's version (any change to its contents) is the one it was
 * filled at. It answers exactly what VtdIotlb.lookupPage answers.
 */
export class TlbProbe {
  private epoch = -1;
  private src: VtdTlbSource | undefined;
  private pages: Float64Array | undefined;
  private versions: Float64Array | undefined;
  private entries: Array<VtdTlbEntry | undefined> | undefined;

  constructor(
    private readonly sid: number,
    private readonly pasid: number,
  ) {}

  find(iotlb: VtdIotlb, addr: number): VtdTlbEntry | undefined {
    const page = Math.floor(addr / 4096);
    const slot = page & (PROBE_SLOTS - 1);
    const pages = this.pages;
    if (pages !== undefined && pages[slot] === page && this.versions![slot] === iotlb.version) return this.entries![slot];
    if (this.epoch !== iotlb.epoch) {
      this.src = iotlb.source(this.sid, this.pasid);
      this.epoch = iotlb.epoch;
    }
    if (this.src === undefined) return undefined;
    const e = this.src.find(page);
    if (e !== undefined) {
      if (pages === undefined) {
        this.pages = new Float64Array(PROBE_SLOTS).fill(-1);
        this.versions = new Float64Array(PROBE_SLOTS);
        this.entries = new Array<VtdTlbEntry | undefined>(PROBE_SLOTS).fill(undefined);
      }
      this.pages![slot] = page;
      this.versions![slot] = iotlb.version;
      this.entries![slot] = e;
    }
    return e;
  }
}

export interface VtdTranslatorPlan {
  readonly downstream: AddressSpace;
  /** GSTS.TES: off means the identity for every address. */
  readonly dmar: boolean;
  readonly sid: number;
  /** The IOTLB to try, or undefined (uncached). */
  readonly iotlb: VtdIotlb | undefined;
  /**
   * A request without PASID in scalable mode (RTADDR.SMT latched): the IOTLB after the context,
   * keyed by the context's RID_PASID; otherwise before it, keyed by `pasid`.
   */
  readonly rid2pasid: boolean;
  /** The region's PASID (PCI_NO_PASID for requests without one). */
  readonly pasid: number;
  /** The device's context entry (with its PASID entry resolved), or the fault its lookup met. */
  readonly ce: ContextEntry | undefined;
  readonly ctxFault: number;
  /** First-stage reserved masks, for a PASID entry with PGTT=001b. */
  readonly fsRsvd?: FsReservedMasks;
  /** The probe's dry A/D writer (dryFsWriter): whether an A/D update would land, nothing written. */
  readonly fsWriter?: FsWriter;
  readonly env: WalkEnv;
  readonly nm: NumMasks;
  /** CAP-level scalable mode offered: the interrupt-range fault's reason. */
  readonly smFaults: boolean;
  /** The IOMMU's table page cache (LeafWalker), else the translator's own. */
  readonly pages?: TablePageCache;
}

const TWO53 = 2 ** 53;

export class VtdTranslator implements NumberTranslator {
  private readonly leaf = newNumLeaf();
  private readonly walker: LeafWalker;
  private readonly limit: number;
  /** First stage: the canonical inputs below 2^53 are those below half the width. */
  private readonly fsLimit: number;
  private readonly pasid: number;
  private readonly probe: TlbProbe;
  private readonly fm: NumMasks | undefined;

  /**
   * The plain case decided once: remapping on, no IOTLB to try, a second-level context with a
   * table below 2^53. translate() then checks the input's range and walks.
   */
  private readonly direct: boolean;
  private readonly reader: GuestReader;
  private readonly nm: NumMasks;
  private readonly table: number;
  private readonly top: number;
  private readonly irqFault: number;

  constructor(private readonly p: VtdTranslatorPlan) {
    this.walker = new LeafWalker(p.pages);
    const ce = p.ce;
    this.direct = p.dmar && p.iotlb === undefined && ce !== undefined && ce.tt !== 2 && ce.fs !== true && ce.slptN >= 0;
    this.reader = p.env.reader;
    this.nm = p.nm;
    this.table = ce?.slptN ?? -1;
    this.top = ce === undefined ? 0 : 2 + ce.aw;
    this.irqFault = p.smFaults ? VTD_FR_SM_INTERRUPT_ADDR : VTD_FR_INTERRUPT_ADDR;
    this.limit = ce === undefined ? 0 : 2 ** Math.min(30 + 9 * ce.aw, p.env.awBits);
    this.fsLimit = this.limit / 2;
    this.pasid = p.rid2pasid ? (ce?.rid2pasid ?? p.pasid) : p.pasid;
    this.probe = new TlbProbe(p.sid, this.pasid);
    this.fm = ce?.fs === true && p.fsRsvd !== undefined ? numMasks(p.fsRsvd, p.env.awBits) : undefined;
  }

  translate(addr: number, flag: number, out: NumberEntry): boolean {
    // Small enough to be inlined where it is called: the input goes on as int32 halves, which a
    // call passes unboxed (a number at or above 2^31 would be boxed on the heap for each call).
    if (this.direct && addr < this.limit && !(addr >= 0xfee00000 && addr <= 0xfeefffff)) return this.walk((addr / TWO32) | 0, addr | 0, flag, out);
    return this.general(addr, flag, out);
  }

  /** The direct case: the second-level walk of the input with halves `hi` and `lo`. */
  private walk(hi: number, lo: number, flag: number, out: NumberEntry): boolean {
    const L = this.leaf;
    const isWrite = (flag & IOMMU_WO) !== 0;
    if (!this.walker.slHalves(this.reader, this.nm, this.table, this.top, hi, lo, isWrite, L)) return this.walked(this.p.ce!, hi * TWO32 + (lo >>> 0), isWrite, out);
    return this.leafAnswer(this.nm.hawHi, lo, out);
  }

  /** The answer of the leaf the walk left in `leaf`, for the input whose low bits are `addr`'s: its output, or the interrupt-range fault. */
  private leafAnswer(hawHi: number, addr: number, out: NumberEntry): boolean {
    const L = this.leaf;
    if (leafHitsInterruptRange(L, hawHi)) return this.failed(this.irqFault, out);
    const translated = leafOutput(L, hawHi, addr);
    return translated >= 0 && setNumberEntry(out, this.p.downstream, translated, 3 + 9 * L.level, L.perm, 0);
  }

  private general(addr: number, flag: number, out: NumberEntry): boolean {
    const p = this.p;
    if (!p.dmar) return this.identity(addr, out);
    const irq = addr >= 0xfee00000 && addr <= 0xfeefffff;
    if (irq && p.pasid === PCI_NO_PASID) return this.failed(0, out);
    if (p.iotlb !== undefined && !p.rid2pasid) {
      const hit = this.hit(p.iotlb, addr, out);
      if (hit !== undefined) return hit;
    }
    const ce = p.ce;
    if (ce === undefined) return this.failed(p.ctxFault, out);
    if (ce.tt === 2) return irq ? this.failed(VTD_FR_SM_INTERRUPT_ADDR, out) : this.identity(addr, out);
    if (p.iotlb !== undefined && p.rid2pasid) {
      const hit = this.hit(p.iotlb, addr, out);
      if (hit !== undefined) return hit;
    }
    if (addr >= this.limit) return this.failed(ce.fs === true ? VTD_FR_FS_NON_CANONICAL : VTD_FR_ADDR_BEYOND_MGAW, out);
    const isWrite = (flag & IOMMU_WO) !== 0;
    const L = this.leaf;
    const fs = ce.fs === true;
    if (fs ? this.fm !== undefined && ce.slptN >= 0 && addr < this.fsLimit && this.walker.fs(p.env.reader, this.fm, ce.slptN, 2 + ce.aw, addr, isWrite, L) : ce.slptN >= 0 && this.walker.sl(p.env.reader, p.nm, ce.slptN, 2 + ce.aw, addr, isWrite, L)) {
      return this.leafAnswer(fs ? this.fm!.hawHi : p.nm.hawHi, addr, out);
    }
    return this.walked(ce, addr, isWrite, out);
  }

  /**
   * The traced path's walk without a trace (and, first stage, with the probe's dry A/D writer:
   * this translator answers as probe() does): it finds the fault the number walk declined.
   */
  private walked(ce: ContextEntry, addr: number, isWrite: boolean, out: NumberEntry): boolean {
    const p = this.p;
    const leaf = ce.fs === true ? iovaToFlpte(p.env, p.fsRsvd!, ce, BigInt(addr), isWrite, undefined, p.fsWriter) : iovaToSlpte(p.env, ce, BigInt(addr), isWrite);
    if ('fault' in leaf) return this.failed(leaf.fault, out);
    const xlat = leaf.slpte & ~0xfffn & ((1n << BigInt(p.env.awBits)) - 1n);
    const shift = 3 + 9 * leaf.level;
    const mask = (1n << BigInt(shift)) - 1n;
    if (xlat <= 0xfeefffffn && xlat + mask >= 0xfee00000n) return this.failed(this.irqFault, out);
    const translated = (xlat & ~mask) | (BigInt(addr) & mask);
    if (translated >= TWO53N) return false;
    return setNumberEntry(out, p.downstream, Number(translated), shift, (leaf.reads ? 1 : 0) | (leaf.writes ? 2 : 0), 0);
  }

  private hit(iotlb: VtdIotlb, addr: number, out: NumberEntry): boolean | undefined {
    const e = this.probe.find(iotlb, addr);
    if (e === undefined) return undefined;
    if (e.outN < 0) return false;
    return setNumberEntry(out, this.p.downstream, e.outN + (addr - e.gfn * 4096), e.shift, e.perm, 0);
  }

  private identity(addr: number, out: NumberEntry): true {
    return setNumberEntry(out, this.p.downstream, addr, 12, IOMMU_RW, 0);
  }

  private failed(fault: number, out: NumberEntry): true {
    return setNumberEntry(out, this.p.downstream, 0, 0, IOMMU_NONE, fault);
  }
}
