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
import { PAGE_SLOTS, PAGE_SLOT_BITS, TablePageCache } from '../../page-cache';
import type { GuestReader } from '../../guest-reader';
import type { ContextEntry } from './context';
import type { VtdIotlb, VtdTlbEntry, VtdTlbSource } from './iotlb';
import { PCI_NO_PASID, VTD_FR_ADDR_BEYOND_MGAW, VTD_FR_FS_NON_CANONICAL, VTD_FR_INTERRUPT_ADDR, VTD_FR_SM_INTERRUPT_ADDR } from './types';
import { LEVEL_SIZE, iovaToFlpte, iovaToSlpte, type FsReservedMasks, type FsWriter, newNumLeaf, pageOffset, slLeafNum, type NumLeaf, type NumMasks, type WalkEnv } from './walker';

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

const fsMasksCache = new WeakMap<FsReservedMasks, Map<number, NumMasks>>();

/** First-stage reserved masks as 32-bit halves (the shape of NumMasks). */
export function fsNumMasks(m: FsReservedMasks, aw: number): NumMasks {
  let byAw = fsMasksCache.get(m);
  if (byAw === undefined) {
    byAw = new Map();
    fsMasksCache.set(m, byAw);
  }
  let n = byAw.get(aw);
  if (n === undefined) {
    const lo = (v: bigint) => Number(v & 0xffffffffn);
    const hi = (v: bigint) => Number(v >> 32n);
    n = { pageLo: m.page.map(lo), pageHi: m.page.map(hi), largeLo: m.large.map(lo), largeHi: m.large.map(hi), hawHi: Number(((1n << BigInt(aw)) - 1n) >> 32n) };
    byAw.set(aw, n);
  }
  return n;
}

/** LeafWalker.slCached's answers. */
const NO = 0;
const DONE = 1;
/** A table page is not cached yet (missSlot and missKey say which). */
const MISS = 2;
/** Something the cached walk does not take (a table at or above 2^48, a page not cacheable): walk with slLeafNum. */
const GENERAL = 3;

/**
 * Leaf walks on numbers that read each entry's halves straight from its page in RAM
 * (MemoryBacking.wordPage). They answer only a plain success and otherwise return false having
 * changed nothing but `out`.
 *
 * The second-level walk first tries the page cache (TablePageCache, src/engine/page-cache.ts;
 * shared by the walkers of one IOMMU, as its keys are guest addresses): the reserved masks as
 * int32 per level (decoded once per NumMasks), the input's halves indexed with fixed shifts, no
 * call and no allocation per level; a table page not cached yet is filled and the walk done
 * again. Anything it does not take (a table at or above 2^48, a page outside the reader's RAM
 * range or never written) goes to slLeafNum (walker.ts: the same checks through the reader). The
 * first-stage walk reads its pages through the same cache and sends such an entry back to its
 * caller.
 */
export class LeafWalker {
  /** The plan of the cached walk: the NumMasks it was made for, its masks per level (level * 4 + pageLo, pageHi, largeLo, largeHi) and hawHi. */
  private planNm: NumMasks | undefined;
  private readonly masks = new Int32Array(24);
  private hawHi = 0;
  /** The page slCached found missing: its cache slot and key. */
  private missSlot = 0;
  private missKey = 0;

  /** `pages`: the IOMMU's page cache (levels 0 to 5), shared by its walkers. */
  constructor(private readonly pages: TablePageCache = new TablePageCache(6)) {}

  /** slLeafNum (walker.ts): the same entries, the same checks in the same order, the same `out`. */
  sl(reader: GuestReader, nm: NumMasks, table: number, top: number, iova: number, isWrite: boolean, out: NumLeaf): boolean {
    const pages = this.pages;
    pages.sync();
    if (nm !== this.planNm) this.plan(nm);
    let r = this.slCached(table, top, iova, isWrite, out);
    // Each level has its own cache, so the pages of one walk do not evict each other: at most
    // `top` are missing.
    for (let i = 0; r === MISS && i < 5; i++) r = pages.fill(reader, this.missSlot, this.missKey) !== undefined ? this.slCached(table, top, iova, isWrite, out) : GENERAL;
    if (r === DONE) return true;
    if (r === NO) return false;
    return slLeafNum(reader, nm, table, top, iova, isWrite, out);
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
   * slLeafNum's walk on cached pages: level L's index is input bits [3 + 9L + 8 : 3 + 9L], taken
   * from the input's bits [38:12] (levels 1 to 3) or its high half (levels 4 and 5); table
   * addresses are carried as halves (`tHi`, `tLo`), so a page's key (bits [47:20]) and slot are
   * integer operations. The checks are slLeafNum's, in its order.
   */
  private slCached(table: number, top: number, iova: number, isWrite: boolean, out: NumLeaf): number {
    const keys = this.pages.keys;
    const cache = this.pages.words;
    const m = this.masks;
    const hawHi = this.hawHi;
    const iovaHi = (iova / TWO32) >>> 0;
    const v = ((iovaHi << 20) | ((iova >>> 0) >>> 12)) & 0x7ff_ffff;
    const check = isWrite ? 2 : 1;
    let tHi = (table / TWO32) >>> 0;
    let tLo = table >>> 0;
    if ((tLo & 0xfff) !== 0 || !(top >= 1 && top <= 5)) return GENERAL;
    let level = top;
    let perm = 3;
    for (;;) {
      if (tHi > 0xffff) return GENERAL;
      const key = (tHi << 12) | (tLo >>> 20);
      const slot = (level << PAGE_SLOT_BITS) | ((tLo >>> 12) & (PAGE_SLOTS - 1));
      if (keys[slot] !== key) {
        this.missSlot = slot;
        this.missKey = key;
        return MISS;
      }
      const words = cache[slot]!;
      const at = (level <= 3 ? (v >>> (9 * level - 9)) & 511 : (iovaHi >>> (9 * level - 29)) & 511) << 1;
      const lo = words[at]!;
      const hi = words[at + 1]!;
      perm &= lo & 3;
      if ((lo & check) === 0) return NO;
      const ps = (lo & 0x80) !== 0;
      const k = level << 2;
      if (ps && (level === 2 || level === 3) ? ((lo & m[k + 2]!) | (hi & m[k + 3]!)) !== 0 : ((lo & m[k]!) | (hi & m[k + 1]!)) !== 0) return NO;
      tHi = hi & hawHi;
      tLo = (lo & 0xfffff000) >>> 0;
      if (level === 1 || ps) {
        out.lo = lo;
        out.hi = hi;
        out.level = level;
        out.size = LEVEL_SIZE[level]!;
        out.xlat = tHi * TWO32 + tLo;
        out.perm = perm;
        return DONE;
      }
      level = (level - 1) | 0;
    }
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
    pages.sync();
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
      const addr = (hi & fm.hawHi) * TWO32 + ((lo & 0xfffff000) >>> 0);
      if (last) {
        out.lo = lo;
        out.hi = hi;
        out.level = level;
        out.size = LEVEL_SIZE[level]!;
        out.xlat = addr;
        out.perm = 1 | writes;
        return true;
      }
      t = addr;
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

  constructor(private readonly p: VtdTranslatorPlan) {
    this.walker = new LeafWalker(p.pages);
    const ce = p.ce;
    this.limit = ce === undefined ? 0 : 2 ** Math.min(30 + 9 * ce.aw, p.env.awBits);
    this.fsLimit = this.limit / 2;
    this.pasid = p.rid2pasid ? (ce?.rid2pasid ?? p.pasid) : p.pasid;
    this.probe = new TlbProbe(p.sid, this.pasid);
    this.fm = ce?.fs === true && p.fsRsvd !== undefined ? fsNumMasks(p.fsRsvd, p.env.awBits) : undefined;
  }

  translate(addr: number, flag: number, out: NumberEntry): boolean {
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
    let xlat: number;
    let size: number;
    let perm: number;
    let shift: number;
    if (ce.fs === true ? this.fm !== undefined && ce.slptN >= 0 && addr < this.fsLimit && this.walker.fs(p.env.reader, this.fm, ce.slptN, 2 + ce.aw, addr, isWrite, L) : ce.slptN >= 0 && this.walker.sl(p.env.reader, p.nm, ce.slptN, 2 + ce.aw, addr, isWrite, L)) {
      xlat = L.xlat;
      size = L.size;
      perm = L.perm;
      shift = 3 + 9 * L.level;
    } else {
      // The traced path's walk without a trace (and, first stage, with the probe's dry A/D writer:
      // this translator answers as probe() does) finds the fault the number walk declined.
      const leaf = ce.fs === true ? iovaToFlpte(p.env, p.fsRsvd!, ce, BigInt(addr), isWrite, undefined, p.fsWriter) : iovaToSlpte(p.env, ce, BigInt(addr), isWrite);
      if ('fault' in leaf) return this.failed(leaf.fault, out);
      const x = leaf.slpte & ~0xfffn & ((1n << BigInt(p.env.awBits)) - 1n);
      if (x >= BigInt(TWO53)) return false;
      xlat = Number(x);
      size = LEVEL_SIZE[leaf.level]!;
      shift = 3 + 9 * leaf.level;
      perm = (leaf.reads ? 1 : 0) | (leaf.writes ? 2 : 0);
    }
    if (xlat <= 0xfeefffff && xlat + size > 0xfee00000) return this.failed(p.smFaults ? VTD_FR_SM_INTERRUPT_ADDR : VTD_FR_INTERRUPT_ADDR, out);
    const base = xlat - pageOffset(xlat, size);
    if (base + size > TWO53) return false;
    return setNumberEntry(out, p.downstream, base + pageOffset(addr, size), shift, perm, 0);
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
