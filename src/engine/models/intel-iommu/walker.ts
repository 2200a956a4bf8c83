/**
 * Second-level page tables (VT-d 9.8; QEMU's vtd_iova_to_slpte and vtd_page_walk_level): 3, 4
 * or 5 levels of 512 8-byte entries; an entry has R (bit 0), W (1), PS (7, a 2 MiB or 1 GiB
 * page at levels 2 and 3), SNP (11), TM (62) and the next table's or page's address in bits
 * [aw-1:12]. Permissions combine down the levels (AND). A translation checks the requested
 * permission at every level; the range walk (replay and sync) reports every leaf that is
 * readable or writable, and every invalid entry as an unmapped range.
 */
import { hex } from '../../hex';
import { permName } from '../../iotlb';
import type { Trace } from '../../trace';
import { RamRegion } from '../../memory';
import type { GuestReader } from '../../guest-reader';
import { ceAgaw, ceLevel, type ContextEntry } from './context';
import {
  U64,
  VTD_FL_A,
  VTD_FL_D,
  VTD_FL_P,
  VTD_FL_RW,
  VTD_FL_US,
  VTD_FR_ADDR_BEYOND_MGAW,
  VTD_FR_CONTEXT_ENTRY_INV,
  VTD_FR_FS_BIT_UPDATE_FAILED,
  VTD_FR_FS_NON_CANONICAL,
  VTD_FR_FS_PAGING_ENTRY_INV,
  VTD_FR_FS_PAGING_ENTRY_P,
  VTD_FR_FS_PAGING_ENTRY_RSVD,
  VTD_FR_FS_PAGING_ENTRY_US,
  VTD_FR_PASID_ENTRY_FSPTPTR_INV,
  VTD_FR_SM_WRITE,
  VTD_FS_UPPER_IGNORED,
  VTD_FR_PAGING_ENTRY_INV,
  VTD_FR_PAGING_ENTRY_RSVD,
  VTD_FR_READ,
  VTD_FR_WRITE,
  VTD_SL_IGN_COM,
  VTD_SL_PT_PAGE_SIZE_MASK,
  VTD_SL_R,
  VTD_SL_TM,
  VTD_SL_W,
  VTD_SPTE_SNP,
  hawMask,
  levelName,
  levelPageMask,
  levelShift,
  pageSizeName,
} from './types';

/** The reserved-bit masks of second-level entries (vtd_spte_rsvd, vtd_spte_rsvd_large), per level. */
export interface ReservedMasks {
  readonly page: readonly bigint[];
  readonly large: readonly bigint[];
}

/**
 * vtd_init's masks. `tmAllowed`: TM (bit 62) is not reserved (QEMU 7.2: with device-iotlb; current
 * QEMU: with device-iotlb and x-stale-tm). `snp`: SNP is not reserved (snoop-control).
 */
export function reservedMasks(aw: number, tmAllowed: boolean, snp: boolean): ReservedMasks {
  const keep = hawMask(aw) | VTD_SL_IGN_COM | (tmAllowed ? VTD_SL_TM : 0n);
  const inv = U64 & ~keep;
  const page = [U64, 0x800n | inv, 0x800n | (U64 & ~(hawMask(aw) | VTD_SL_IGN_COM)), 0x800n | (U64 & ~(hawMask(aw) | VTD_SL_IGN_COM)), 0x880n | (U64 & ~(hawMask(aw) | VTD_SL_IGN_COM)), 0x880n | (U64 & ~(hawMask(aw) | VTD_SL_IGN_COM))];
  const large = [U64, U64, 0x1ff800n | inv, 0x3ffff800n | inv, U64, U64];
  if (snp) {
    page[1] = page[1]! & ~VTD_SPTE_SNP;
    large[2] = large[2]! & ~VTD_SPTE_SNP;
    large[3] = large[3]! & ~VTD_SPTE_SNP;
  }
  return { page, large };
}

export function slpteReserved(m: ReservedMasks, slpte: bigint, level: number): bigint {
  const large = (level === 2 || level === 3) && (slpte & VTD_SL_PT_PAGE_SIZE_MASK) !== 0n;
  return slpte & (large ? m.large[level]! : m.page[level]!);
}

export const isLastSlpte = (slpte: bigint, level: number): boolean => level === 1 || (slpte & VTD_SL_PT_PAGE_SIZE_MASK) !== 0n;

export interface WalkEnv {
  readonly reader: GuestReader;
  readonly awBits: number;
  readonly rsvd: ReservedMasks;
  readonly memoryName: string;
}

export interface WalkLeaf {
  readonly slpte: bigint;
  readonly level: number;
  readonly reads: boolean;
  readonly writes: boolean;
}

/** 1 << min(AGAW, aw-bits): the first address a context entry cannot translate. */
export function iovaLimit(ce: ContextEntry, awBits: number): bigint {
  return 1n << BigInt(Math.min(ceAgaw(ce), awBits));
}

function entryFields(slpte: bigint, level: number, aw: number): string {
  const ps = level > 1 && (slpte & VTD_SL_PT_PAGE_SIZE_MASK) !== 0n;
  return `R=${slpte & VTD_SL_R ? 1 : 0} W=${slpte & VTD_SL_W ? 1 : 0}${level > 1 ? ` PS=${ps ? 1 : 0}` : ''} ADDR=${hex(slpte & ~0xfffn & hawMask(aw))}`;
}

/** vtd_iova_to_slpte: a leaf, or a fault reason with its explanation. */
export function iovaToSlpte(env: WalkEnv, ce: ContextEntry, iova: bigint, isWrite: boolean, trace?: Trace): WalkLeaf | { fault: number; why: string } {
  const top = ceLevel(ce);
  let level = top;
  let addr = ce.slptptr;
  const limit = iovaLimit(ce, env.awBits);
  if (iova >= limit) {
    return { fault: VTD_FR_ADDR_BEYOND_MGAW, why: `${hex(iova)} is beyond 2^${Math.min(ceAgaw(ce), env.awBits)} (AGAW ${ceAgaw(ce)}, aw-bits ${env.awBits})` };
  }
  const check = isWrite ? VTD_SL_W : VTD_SL_R;
  let reads = true;
  let writes = true;
  for (;;) {
    const offset = Number((iova >> levelShift(level)) & 511n);
    const at = addr + BigInt(offset) * 8n;
    const slpte = env.reader.readBig(at, 8);
    if (slpte === undefined) {
      return level === top
        ? { fault: VTD_FR_CONTEXT_ENTRY_INV, why: `the top-level table entry at ${hex(at)} cannot be read in ${env.memoryName} (SLPTPTR is invalid)` }
        : { fault: VTD_FR_PAGING_ENTRY_INV, why: `the ${levelName(level)} at ${hex(at)} cannot be read in ${env.memoryName}` };
    }
    reads = reads && (slpte & VTD_SL_R) !== 0n;
    writes = writes && (slpte & VTD_SL_W) !== 0n;
    if (trace) {
      trace.push({
        kind: 'descriptor-read',
        summary: `SL-${levelName(level)}[${offset}] (level ${level}) at ${hex(at)} = ${hex(slpte, 16)}: ${entryFields(slpte, level, env.awBits)}`,
        fields: {
          level,
          index: offset,
          addr: at,
          raw: slpte,
          R: Number(slpte & VTD_SL_R),
          W: Number((slpte & VTD_SL_W) >> 1n),
          PS: Number((slpte >> 7n) & 1n),
          SNP: Number((slpte >> 11n) & 1n),
          TM: Number((slpte >> 62n) & 1n),
          ADDR: slpte & ~0xfffn & hawMask(env.awBits),
        },
        source: { kind: 'guest-memory', as: env.memoryName, addr: at, size: 8, value: slpte },
      });
    }
    if ((slpte & check) === 0n) {
      return { fault: isWrite ? VTD_FR_WRITE : VTD_FR_READ, why: `the ${levelName(level)} at ${hex(at)} (${hex(slpte)}) has ${isWrite ? 'W' : 'R'}=0` };
    }
    const rsvd = slpteReserved(env.rsvd, slpte, level);
    if (rsvd !== 0n) return { fault: VTD_FR_PAGING_ENTRY_RSVD, why: `the ${levelName(level)} at ${hex(at)} (${hex(slpte)}) has reserved bits ${hex(rsvd)} set` };
    if (isLastSlpte(slpte, level)) return { slpte, level, reads, writes };
    addr = slpte & ~0xfffn & hawMask(env.awBits);
    level--;
  }
}

/**
 * One walk event: MAP for a readable or writable leaf, UNMAP (perm 0) for an invalid entry, with
 * the entry's IOVA (aligned to its level), its size (a power of two, 4 KiB or more), output
 * address and combined permissions. All are multiples of 4 KiB below 2^65, so exact as numbers.
 */
export type WalkSink = (map: boolean, iova: number, size: number, translated: number, perm: number) => void;

/** Reserved masks (second-level, or first-stage: FsReservedMasks) as 32-bit halves, per level (page and large), for the numeric walks. */
export interface NumMasks {
  readonly pageLo: readonly number[];
  readonly pageHi: readonly number[];
  readonly largeLo: readonly number[];
  readonly largeHi: readonly number[];
  readonly hawHi: number;
}

const numMasksCache = new WeakMap<ReservedMasks, Map<number, NumMasks>>();

export function numMasks(m: ReservedMasks, aw: number): NumMasks {
  let byAw = numMasksCache.get(m);
  if (byAw === undefined) {
    byAw = new Map();
    numMasksCache.set(m, byAw);
  }
  let n = byAw.get(aw);
  if (n === undefined) {
    const lo = (v: bigint) => Number(v & 0xffffffffn);
    const hi = (v: bigint) => Number(v >> 32n);
    n = { pageLo: m.page.map(lo), pageHi: m.page.map(hi), largeLo: m.large.map(lo), largeHi: m.large.map(hi), hawHi: Number(hawMask(aw) >> 32n) };
    byAw.set(aw, n);
  }
  return n;
}

const TWO32 = 4294967296;
const TWO53 = 2 ** 53;

/**
 * A leaf found by a walk on numbers (slLeafNum, and the cached walks of fast-path.ts): the entry's
 * halves as int32 (bits [31:0] and [63:32]; int32 so that the fields stay small integers), its
 * level (1 to 3: the reserved bits refuse PS at levels 4 and 5) and the R/W combined down the
 * levels.
 */
export interface NumLeaf {
  lo: number;
  hi: number;
  level: number;
  perm: number;
}

/** A level's page size: 4 KiB, 2 MiB, 1 GiB, 512 GiB, 256 TiB. */
export const LEVEL_SIZE = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48];
/** A leaf's page-frame bits in its low half, levels 1 to 3 (as int32: ~(page size - 1)). */
const LEAF_FRAME_LO = [0, ~0xfff, ~0x1f_ffff, ~0x3fff_ffff];

export function newNumLeaf(): NumLeaf {
  return { lo: 0, hi: 0, level: 0, perm: 0 };
}

/**
 * Where the leaf `L` sends input `addr`: its entry's address bits within the width (`hawHi`: the
 * width's mask above bit 31) with the input's offset in the leaf's page; -1 when that is at or
 * above 2^53. QEMU's vtd_get_slpte_addr and the page mask of the leaf's level.
 */
export function leafOutput(L: NumLeaf, hawHi: number, addr: number): number {
  const hi = L.hi & hawHi;
  if (hi >= 0x20_0000) return -1;
  const frame = LEAF_FRAME_LO[L.level]!;
  return hi * TWO32 + (((L.lo & frame) | (addr & ~frame)) >>> 0);
}

/**
 * vtd_do_iommu_translate's interrupt-range check of a leaf: its entry's address (not aligned to a
 * large page, as QEMU takes it) and the leaf's page size reach into 0xfee00000..0xfeefffff.
 */
export function leafHitsInterruptRange(L: NumLeaf, hawHi: number): boolean {
  if ((L.hi & hawHi) !== 0) return false;
  const x = (L.lo & ~0xfff) >>> 0;
  return x <= 0xfeefffff && x + LEVEL_SIZE[L.level]! > 0xfee00000;
}

/**
 * iovaToSlpte on numbers for an input `iova` below the context's limit (the caller checks it) and
 * a table address below 2^53: the walk indexes each level with 32-bit operations on the input's
 * halves and reads entries as two 32-bit halves. It answers only the success case: on anything
 * else (an entry that cannot be read, a missing permission, reserved bits, a table at or above
 * 2^53) it returns false having changed nothing but `out`, and the caller walks again with
 * iovaToSlpte, which finds the fault and explains it. The two walks read the same entries and
 * apply the same checks in the same order (test/unit/intel-iommu-fast-path.test.ts holds them
 * together on random tables).
 */
export function slLeafNum(reader: GuestReader, nm: NumMasks, table: number, top: number, iova: number, isWrite: boolean, out: NumLeaf): boolean {
  const iovaHi = Math.floor(iova / TWO32);
  const iovaLo = iova >>> 0;
  const check = isWrite ? 2 : 1;
  let level = top;
  let perm = 3;
  for (;;) {
    const shift = 12 + 9 * (level - 1);
    const idx = shift >= 32 ? (iovaHi >>> (shift - 32)) & 511 : shift <= 23 ? (iovaLo >>> shift) & 511 : ((iovaHi << (32 - shift)) | (iovaLo >>> shift)) & 511;
    const at = table + idx * 8;
    if (at + 8 > TWO53 || !reader.read64(at)) return false;
    const lo = reader.lo;
    const hi = reader.hi;
    perm &= lo & 3;
    if ((lo & check) === 0) return false;
    const ps = (lo & 0x80) !== 0;
    const large = ps && (level === 2 || level === 3);
    if (large ? ((lo & nm.largeLo[level]!) | (hi & nm.largeHi[level]!)) !== 0 : ((lo & nm.pageLo[level]!) | (hi & nm.pageHi[level]!)) !== 0) return false;
    const addr = (hi & nm.hawHi) * TWO32 + ((lo & 0xfffff000) >>> 0);
    if (level === 1 || ps) {
      // Never at levels 4 and 5, whose reserved bits include PS: a leaf is a page of 1 GiB at most.
      if (level > 3) return false;
      out.lo = lo | 0;
      out.hi = hi | 0;
      out.level = level;
      out.perm = perm;
      return true;
    }
    table = addr;
    level--;
  }
}

/**
 * vtd_page_walk_level over [start, end): entries that cannot be read or have reserved bits are
 * skipped; a readable or writable non-leaf is descended; everything else is one event (a leaf
 * with its combined permissions, or an invalid entry as a NONE range). Returns entries read.
 * Page-aligned addresses below 2^65 are exact as doubles, so the walk runs on numbers (bigints only
 * for a table at or above 2^53, or an unaligned range) and reports numbers.
 */
export function pageWalk(env: WalkEnv, ce: ContextEntry, start: bigint, end: bigint, sink: WalkSink): number {
  const limit = iovaLimit(ce, env.awBits);
  if (start >= limit) return 0;
  if (end > limit) end = limit;
  if ((start & 0xfffn) === 0n && (end & 0xfffn) === 0n && ce.slptptr + 4096n < BigInt(TWO53)) {
    return walkLevelNum(env, numMasks(env.rsvd, env.awBits), Number(ce.slptptr), Number(start), Number(end), ceLevel(ce), true, true, sink);
  }
  return walkLevel(env, ce.slptptr, start, end, ceLevel(ce), true, true, sink);
}

function walkLevelNum(env: WalkEnv, nm: NumMasks, table: number, start: number, end: number, level: number, read: boolean, write: boolean, sink: WalkSink): number {
  const subSize = 2 ** (12 + 9 * (level - 1));
  const reader = env.reader;
  let reads = 0;
  let iova = start;
  let idx = Math.floor(start / subSize) % 512;
  const pageLo = nm.pageLo[level]!;
  const pageHi = nm.pageHi[level]!;
  const largeLo = nm.largeLo[level]!;
  const largeHi = nm.largeHi[level]!;
  const large = level === 2 || level === 3;
  while (iova < end) {
    const base = iova - (iova % subSize);
    const next = base + subSize;
    const ok = table + idx * 8 + 8 <= TWO53 && reader.read64(table + idx * 8);
    reads++;
    if (ok) {
      const lo = reader.lo;
      const hi = reader.hi;
      const ps = (lo & 0x80) !== 0;
      const rsvd = large && ps ? ((lo & largeLo) | (hi & largeHi)) !== 0 : ((lo & pageLo) | (hi & pageHi)) !== 0;
      if (!rsvd) {
        const r = read && (lo & 1) !== 0;
        const w = write && (lo & 2) !== 0;
        const addr = (hi & nm.hawHi) * TWO32 + ((lo & 0xfffff000) >>> 0);
        if (level > 1 && !ps && (r || w)) {
          reads += addr + 4096 <= TWO53
            ? walkLevelNum(env, nm, addr, iova, next < end ? next : end, level - 1, r, w, sink)
            : walkLevel(env, BigInt(addr), BigInt(iova), BigInt(next < end ? next : end), level - 1, r, w, sink);
        } else {
          const perm = (r ? 1 : 0) | (w ? 2 : 0);
          sink(perm !== 0, base, subSize, addr, perm);
        }
      }
    }
    iova = next;
    idx++;
  }
  return reads;
}

function walkLevel(env: WalkEnv, table: bigint, start: bigint, end: bigint, level: number, read: boolean, write: boolean, sink: WalkSink): number {
  const shift = levelShift(level);
  const subSize = 1n << shift;
  const subMask = levelPageMask(level);
  const reader = env.reader;
  const aw = env.awBits;
  let reads = 0;
  let iova = start;
  while (iova < end) {
    const next = (iova & subMask) + subSize;
    const offset = (iova >> shift) & 511n;
    const slpte = reader.readBig(table + offset * 8n, 8);
    reads++;
    if (slpte !== undefined && slpteReserved(env.rsvd, slpte, level) === 0n) {
      const r = read && (slpte & VTD_SL_R) !== 0n;
      const w = write && (slpte & VTD_SL_W) !== 0n;
      if (!isLastSlpte(slpte, level) && (r || w)) {
        reads += walkLevel(env, slpte & ~0xfffn & hawMask(aw), iova, next < end ? next : end, level - 1, r, w, sink);
      } else {
        const perm = (r ? 1 : 0) | (w ? 2 : 0);
        sink(perm !== 0, Number(iova & subMask), Number(subSize), Number(slpte & ~0xfffn & hawMask(aw)), perm);
      }
    }
    iova = next;
  }
  return reads;
}

export function describeLeaf(leaf: WalkLeaf, iova: bigint, aw: number): string {
  const mask = levelPageMask(leaf.level);
  const perm = (leaf.reads ? 1 : 0) | (leaf.writes ? 2 : 0);
  return `${hex(iova & mask)} -> ${hex(leaf.slpte & ~0xfffn & hawMask(aw) & mask)} (${pageSizeName(leaf.level)} page at level ${leaf.level}) ${permName(perm)}`;
}

/** First-stage reserved masks (QEMU's vtd_fpte_rsvd / vtd_fpte_rsvd_large): index by level. */
export interface FsReservedMasks {
  readonly page: readonly bigint[];
  readonly large: readonly bigint[];
}

/**
 * VTD_FPTE_* masks: every level keeps bits [aw-1:0] and ignores 63:52 (XD among them); PS (bit 7)
 * is reserved in a PML4E and PML5E; a 2 MiB page reserves bits 20:13 and a 1 GiB page 29:13.
 * Without CAP.FS1GP a 1 GiB page does not exist, so PS in a PDPE is reserved (VT-d 9.9).
 */
export function fsReservedMasks(aw: number, fs1gp: boolean): FsReservedMasks {
  const inv = U64 & ~(hawMask(aw) | VTD_FS_UPPER_IGNORED);
  const page = [U64, inv, inv, fs1gp ? inv : inv | VTD_SL_PT_PAGE_SIZE_MASK, 0x80n | inv, 0x80n | inv];
  const large = [U64, U64, 0x1fe000n | inv, fs1gp ? 0x3fffe000n | inv : U64, U64, U64];
  return { page, large };
}

/** What a first-stage walk may do to memory: set A and D (QEMU's vtd_set_flag_in_pte). */
export interface FsWriter {
  write(addr: bigint, size: 8, value: bigint): boolean;
  /** A probe's writer: it writes nothing and only says whether the write would succeed. */
  readonly dry?: boolean;
}

/**
 * The writer a probe (and the number path) passes: no write, only whether one would land. Where
 * the entry sits in RAM that is known without effects (a ROM refuses it, as a write past the
 * backing fails); anywhere else (MMIO, behind another IOMMU) only a real write could tell, and the
 * probe assumes it succeeds.
 */
export function dryFsWriter(reader: GuestReader): FsWriter {
  return {
    dry: true,
    write(addr: bigint): boolean {
      const fr = reader.as.lookup(addr);
      if (fr === undefined) return false;
      if (!(fr.region instanceof RamRegion)) return true;
      if (fr.region.rom) return false;
      const offset = addr - fr.start + fr.offsetInRegion;
      return addr + 8n <= fr.end && offset + 8n <= fr.region.backing.size;
    },
  };
}

/** FS-PML5E ... FS-PTE. */
const fsName = (level: number): string => `FS-${levelName(level)}`;

/**
 * vtd_iova_to_flpte (current QEMU, VT-d 3.6 and 9.9): the input must be canonical for the paging
 * mode (bits 63:47, or 63:56 with 5 levels, all equal); then at each level the entry must be
 * readable, present (P), allow user requests (U/S=1: QEMU's devices issue no supervisor
 * requests, so SRE never helps), allow writes if this is one (R/W), and have no reserved bits.
 * Reads are always allowed by a present entry; writes combine down the levels. XD is not checked
 * (no request asks to execute). Each entry used gets A set, and the leaf D on a write, by a write
 * to guest memory (`writer`), level by level before the walk goes down, so entries above a fault
 * keep their A; a write that fails is FS_BIT_UPDATE_FAILED (0x91, SFS.10). A probe passes a dry
 * writer (dryFsWriter) and changes nothing.
 */
export function iovaToFlpte(
  env: WalkEnv,
  fsRsvd: FsReservedMasks,
  ce: ContextEntry,
  iova: bigint,
  isWrite: boolean,
  trace?: Trace,
  writer?: FsWriter,
): WalkLeaf | { fault: number; why: string } {
  const top = ceLevel(ce);
  const limit = iovaLimit(ce, env.awBits);
  const upper = U64 & ~(limit - 1n);
  const msb = (iova & (limit >> 1n)) !== 0n;
  if ((msb ? (iova & upper) !== upper : (iova & upper) !== 0n)) {
    return { fault: VTD_FR_FS_NON_CANONICAL, why: `${hex(iova)} is not canonical for ${top}-level first-stage paging (bits 63:${Math.min(ceAgaw(ce), env.awBits) - 1} must all equal bit ${Math.min(ceAgaw(ce), env.awBits) - 1})` };
  }
  let level = top;
  let addr = ce.slptptr;
  let writes = true;
  for (;;) {
    const offset = Number((iova >> levelShift(level)) & 511n);
    const at = addr + BigInt(offset) * 8n;
    const flpte = env.reader.readBig(at, 8);
    if (flpte === undefined) {
      return level === top
        ? { fault: VTD_FR_PASID_ENTRY_FSPTPTR_INV, why: `the top-level first-stage entry at ${hex(at)} cannot be read in ${env.memoryName} (FSPTPTR is invalid)` }
        : { fault: VTD_FR_FS_PAGING_ENTRY_INV, why: `the ${fsName(level)} at ${hex(at)} cannot be read in ${env.memoryName}` };
    }
    if (trace) {
      const ps = level > 1 && (flpte & VTD_SL_PT_PAGE_SIZE_MASK) !== 0n;
      trace.push({
        kind: 'descriptor-read',
        summary: `${fsName(level)}[${offset}] (level ${level}) at ${hex(at)} = ${hex(flpte, 16)}: P=${Number(flpte & VTD_FL_P)} R/W=${Number((flpte >> 1n) & 1n)} U/S=${Number((flpte >> 2n) & 1n)} A=${Number((flpte >> 5n) & 1n)}${level === 1 || ps ? ` D=${Number((flpte >> 6n) & 1n)}` : ''}${level > 1 ? ` PS=${ps ? 1 : 0}` : ''} XD=${Number(flpte >> 63n)} ADDR=${hex(flpte & ~0xfffn & hawMask(env.awBits))}`,
        fields: {
          level,
          index: offset,
          addr: at,
          raw: flpte,
          P: Number(flpte & VTD_FL_P),
          RW: Number((flpte >> 1n) & 1n),
          US: Number((flpte >> 2n) & 1n),
          A: Number((flpte >> 5n) & 1n),
          D: Number((flpte >> 6n) & 1n),
          PS: Number((flpte >> 7n) & 1n),
          XD: Number(flpte >> 63n),
          ADDR: flpte & ~0xfffn & hawMask(env.awBits),
        },
        source: { kind: 'guest-memory', as: env.memoryName, addr: at, size: 8, value: flpte },
      });
    }
    if ((flpte & VTD_FL_P) === 0n) return { fault: VTD_FR_FS_PAGING_ENTRY_P, why: `the ${fsName(level)} at ${hex(at)} (${hex(flpte)}) has P=0` };
    if ((flpte & VTD_FL_US) === 0n) return { fault: VTD_FR_FS_PAGING_ENTRY_US, why: `the ${fsName(level)} at ${hex(at)} (${hex(flpte)}) has U/S=0 and the request is a user-mode one` };
    writes = writes && (flpte & VTD_FL_RW) !== 0n;
    if (isWrite && (flpte & VTD_FL_RW) === 0n) return { fault: VTD_FR_SM_WRITE, why: `the ${fsName(level)} at ${hex(at)} (${hex(flpte)}) has R/W=0` };
    const large = (level === 2 || level === 3) && (flpte & VTD_SL_PT_PAGE_SIZE_MASK) !== 0n;
    const rsvd = flpte & (large ? fsRsvd.large[level]! : fsRsvd.page[level]!);
    if (rsvd !== 0n) return { fault: VTD_FR_FS_PAGING_ENTRY_RSVD, why: `the ${fsName(level)} at ${hex(at)} (${hex(flpte)}) has reserved bits ${hex(rsvd)} set` };
    const last = level === 1 || large;
    const flags = VTD_FL_A | (last && isWrite ? VTD_FL_D : 0n);
    // Current QEMU's vtd_set_flag_in_pte skips the write when any of the flags is already set, so a
    // write through a leaf with A=1, D=0 leaves D clear there; the architecture sets D (VT-d 3.6.2).
    if (writer !== undefined && (flpte & flags) !== flags) {
      const what = (flags & VTD_FL_D) !== 0n ? 'A and D' : 'A';
      if (!writer.write(at, 8, flpte | flags)) {
        return {
          fault: VTD_FR_FS_BIT_UPDATE_FAILED,
          why: `setting ${what} in the ${fsName(level)} at ${hex(at)} ${writer.dry === true ? 'would fail' : 'failed'}: ${hex(at)} cannot be written in ${env.memoryName}`,
        };
      }
      if (trace) {
        trace.push({
          kind: 'model',
          summary: writer.dry === true ? `a probe writes nothing: a translation would set ${what} in the ${fsName(level)}: ${hex(at)} <- ${hex(flpte | flags, 16)}` : `the IOMMU sets ${what} in the ${fsName(level)}: ${hex(at)} <- ${hex(flpte | flags, 16)}`,
          fields: { addr: at, value: flpte | flags, ...(writer.dry === true ? { probe: true } : {}) },
        });
      }
    }
    if (last) return { slpte: flpte, level, reads: true, writes };
    addr = flpte & ~0xfffn & hawMask(env.awBits);
    level--;
  }
}
