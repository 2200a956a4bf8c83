/**
 * First-stage A/D updates and FS_BIT_UPDATE_FAILED (0x91; QEMU's VTD_FR_FS_BIT_UPDATE_FAILED,
 * "SFS.10" in current hw/i386/intel_iommu_internal.h): vtd_iova_to_flpte sets A in every entry it
 * uses, and D in the leaf of a write, with vtd_set_flag_in_pte, a dma_memory_write to
 * address_space_memory, level by level before going down; a write that fails is fault 0x91, a
 * qualified one. Writes fail where the tables sit in ROM (memory_region_init_rom: reads work, a
 * write is MEMTX_DECODE_ERROR). A probe (and the number path) writes nothing, and tells where the
 * update would fail. QEMU 7.2 has no first-stage translation.
 */
import * as assert from 'node:assert/strict';
import { MEMTXATTRS_UNSPECIFIED, MemTxResult } from '../../src/engine/attrs';
import { newNumberEntry } from '../../src/engine/fast-path';
import { IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { ContainerRegion, RamRegion } from '../../src/engine/memory';
import type { Trace } from '../../src/engine/trace';
import { performAccess } from '../../src/engine/translate';
import { alloc, program, programFirstStage, r64, reg, rig, w64, type Rig } from './intel-iommu-helpers';

const SID = 0x18; // 00:03.0
const P = 1n;
const RW = 2n;
const US = 4n;
const A = 0x20n;
const D = 0x40n;
/** The ROM's guest-physical base, above the rig's 1 GiB of RAM. */
const ROM = 0x4000_0000n;
const FAIL = [0n, 0n, 0n, 0];

interface Fs {
  readonly r: Rig;
  readonly rom: RamRegion;
  /** PASID table page (PASID 0 at +0). */
  readonly ptab: bigint;
}

/**
 * A 64 KiB ROM at 1 GiB besides the RAM; scalable mode with x-flts; 00:03.0's RID_PASID (0) entry
 * is first-stage (PGTT=001b, DID 7, FPD from `fpd`) with FSPTPTR = `top` (set by the caller).
 */
function fsRig(top: (r: Rig, rom: RamRegion) => bigint, fpd = false): Fs {
  const r = rig({ scalableMode: true, firstStage: true, cachingMode: true });
  const rom = new RamRegion('bios', 0x1_0000n);
  rom.rom = true;
  const err = (r.sys.root as ContainerRegion).addSubregion(rom, ROM);
  if (err) throw new Error(err.message);
  const ptab = programFirstStage(r, () => top(r, rom), fpd);
  return { r, rom, ptab };
}

/** Writes the ROM's contents as a loader would (into its backing, not through the bus). */
function romW(rom: RamRegion, addr: bigint, v: bigint): void {
  const e = rom.backing.write(addr - ROM, 8, v);
  if (e) throw new Error(e.message);
}

function romR(rom: RamRegion, addr: bigint): bigint {
  const v = rom.backing.read(addr - ROM, 8);
  if (typeof v !== 'bigint') throw new Error(v.message);
  return v;
}

/**
 * 4-level tables for iova 0x1000 -> 0x5000: PML4, PDPT and PD in `where` (ROM pages from ROM on,
 * or RAM), the PT in `ptIn`; non-leaf entries P|R/W|U/S|`tableA`, the leaf `leaf`. Returns the four
 * entry addresses, top first.
 */
function tables(r: Rig, rom: RamRegion, upper: 'rom' | 'ram', ptIn: 'rom' | 'ram', leaf: bigint, tableA = 0n): bigint[] {
  let romNext = ROM;
  const page = (inRom: boolean) => {
    if (!inRom) return alloc(r);
    const a = romNext;
    romNext += 0x1000n;
    return a;
  };
  const write = (addr: bigint, v: bigint) => (addr >= ROM ? romW(rom, addr, v) : w64(r, addr, v));
  const pml4 = page(upper === 'rom');
  const pdpt = page(upper === 'rom');
  const pd = page(upper === 'rom');
  const pt = page(ptIn === 'rom');
  // iova 0x1000: index 0 at levels 4..2, index 1 in the PT.
  write(pml4, pdpt | P | RW | US | tableA);
  write(pdpt, pd | P | RW | US | tableA);
  write(pd, pt | P | RW | US | tableA);
  write(pt + 8n, leaf);
  return [pml4, pdpt, pd, pt + 8n];
}

function tr(r: Rig, addr: bigint, flag: number, trace?: Trace) {
  const e = r.iommu.regionFor(SID).translate(addr, flag, 0, trace);
  return [e.iova, e.translatedAddr, e.addrMask, e.perm];
}

const read = (r: Rig, rom: RamRegion, a: bigint) => (a >= ROM ? romR(rom, a) : r64(r, a));
const summary = (t: Trace) => t.map((s) => s.summary).join('\n');

describe('intel-iommu: first-stage A/D updates and FS_BIT_UPDATE_FAILED (0x91)', () => {
  it('a ROM reads as RAM and refuses writes through the bus with MEMTX_DECODE_ERROR', () => {
    const { r, rom } = fsRig(() => 0n);
    romW(rom, ROM + 0x10n, 0x1234n);
    const rd = performAccess({ as: r.sys, addr: ROM + 0x10n, op: 'read', size: 8, attrs: MEMTXATTRS_UNSPECIFIED });
    assert.deepEqual([rd.result, rd.value], [MemTxResult.OK, 0x1234n]);
    const wr = performAccess({ as: r.sys, addr: ROM + 0x10n, op: 'write', size: 8, value: 5n, attrs: MEMTXATTRS_UNSPECIFIED });
    assert.equal(wr.result, MemTxResult.DECODE_ERROR);
    assert.equal(romR(rom, ROM + 0x10n), 0x1234n);
  });

  it('tables in ROM with A clear: the first A update (the PML4E) fails: 0x91 recorded (read: T=1; PP=0, a request without PASID), nothing translated, nothing written', () => {
    let at: bigint[] = [];
    const { r, rom } = fsRig((rr, rom) => {
      at = tables(rr, rom, 'rom', 'rom', 0x5000n | P | RW | US);
      return at[0]!;
    });
    const before = at.map((a) => read(r, rom, a));
    const t: Trace = [];
    assert.deepEqual(tr(r, 0x1234n, IOMMU_RO, t), FAIL);
    assert.deepEqual([reg(r, 'FRCD_HI'), reg(r, 'FRCD_LO'), reg(r, 'FSTS')], [0xc000_0091_0000_0018n, 0x1000n, 2n]);
    assert.deepEqual(at.map((a) => read(r, rom, a)), before);
    assert.match(summary(t), /FS_BIT_UPDATE_FAILED \(0x91\): setting A in the FS-PML4E at 0x40000000 failed: 0x40000000 cannot be written in system; recorded in FRCD0: hi=0xc000009100000018 lo=0x0000000000001000/);
    assert.equal(r.iommu.iotlb.size, 0);
    assert.equal(r.iommu.log.at(-1), 'vtd_iommu_translate: detected translation failure (dev=00:03:00, iova=0x1234)');
  });

  it('tables in ROM with A (and the leaf D) already set need no write: reads and writes translate; with D clear a write faults 0x91 (T=0) while a read still translates', () => {
    const { r } = fsRig((rr, rom) => tables(rr, rom, 'rom', 'rom', 0x5000n | P | RW | US | A | D, A)[0]!);
    assert.deepEqual(tr(r, 0x1000n, IOMMU_WO), [0x1000n, 0x5000n, 0xfffn, IOMMU_RW]);
    assert.equal(reg(r, 'FSTS'), 0n);
    const c = fsRig((rr, rom) => tables(rr, rom, 'rom', 'rom', 0x5000n | P | RW | US | A, A)[0]!);
    assert.deepEqual(tr(c.r, 0x1000n, IOMMU_WO), FAIL);
    assert.deepEqual([reg(c.r, 'FRCD_HI'), reg(c.r, 'FRCD_LO')], [0x8000_0091_0000_0018n, 0x1000n]);
    program(c.r, [{ reg: 'FRCD_HI', value: 1n << 63n }, { reg: 'FSTS', value: 2n }]);
    assert.deepEqual(tr(c.r, 0x1000n, IOMMU_RO), [0x1000n, 0x5000n, 0xfffn, IOMMU_RW]);
    assert.equal(reg(c.r, 'FSTS'), 0n);
  });

  it('upper levels in RAM, the PT in ROM: A is set in the PML4E, PDPE and PDE before the PTE update fails (QEMU writes level by level)', () => {
    let at: bigint[] = [];
    const { r, rom } = fsRig((rr, rom) => {
      at = tables(rr, rom, 'ram', 'rom', 0x5000n | P | RW | US);
      return at[0]!;
    });
    const t: Trace = [];
    assert.deepEqual(tr(r, 0x1000n, IOMMU_WO, t), FAIL);
    assert.deepEqual([reg(r, 'FRCD_HI'), reg(r, 'FRCD_LO')], [0x8000_0091_0000_0018n, 0x1000n]);
    assert.deepEqual(at.map((a) => read(r, rom, a) & (A | D)), [A, A, A, 0n]);
    assert.match(summary(t), /setting A and D in the FS-PTE at 0x40000008 failed/);
    assert.equal(t.filter((s) => s.summary.startsWith('the IOMMU sets A in the FS-')).length, 3);
  });

  it('0x91 is qualified: FPD=1 in the PASID entry records nothing', () => {
    const { r } = fsRig((rr, rom) => tables(rr, rom, 'rom', 'rom', 0x5000n | P | RW | US)[0]!, true);
    assert.deepEqual(tr(r, 0x1000n, IOMMU_RO), FAIL);
    assert.equal(reg(r, 'FSTS'), 0n);
    const last = r.iommu.faultLog.at(-1);
    assert.deepEqual([last?.reason, last?.disposition.kind === 'dropped' ? last.disposition.reason : 'recorded'], [0x91, 'fpd']);
  });

  it('a probe writes no A/D bit (RAM tables) and foresees 0x91 (ROM tables) without recording it; the number path answers alike', () => {
    let ramAt: bigint[] = [];
    const ram = fsRig((rr, rom) => {
      ramAt = tables(rr, rom, 'ram', 'ram', 0x5000n | P | RW | US);
      return ramAt[0]!;
    });
    const t: Trace = [];
    const p = ram.r.iommu.regionFor(SID).probe(0x1000n, IOMMU_WO, 0, t);
    assert.deepEqual([p.iova, p.translatedAddr, p.addrMask, p.perm], [0x1000n, 0x5000n, 0xfffn, IOMMU_RW]);
    assert.deepEqual(ramAt.map((a) => r64(ram.r, a) & (A | D)), [0n, 0n, 0n, 0n]);
    assert.match(summary(t), /a probe writes nothing: a translation would set A and D in the FS-PTE: 0x[0-9a-f]+ <- 0x0000000000005067/);
    const out = newNumberEntry();
    assert.equal(ram.r.iommu.regionFor(SID).numberTranslator(0, { uncached: true }).translate(0x1000, IOMMU_WO, out), true);
    assert.deepEqual([out.translated, out.perm, out.fault], [0x5000, IOMMU_RW, 0]);
    assert.deepEqual(ramAt.map((a) => r64(ram.r, a) & (A | D)), [0n, 0n, 0n, 0n]);

    const rom = fsRig((rr, rm) => tables(rr, rm, 'rom', 'rom', 0x5000n | P | RW | US)[0]!);
    const t2: Trace = [];
    const q = rom.r.iommu.regionFor(SID).probe(0x1000n, IOMMU_RO, 0, t2);
    assert.deepEqual([q.iova, q.translatedAddr, q.addrMask, q.perm], FAIL);
    assert.match(summary(t2), /FS_BIT_UPDATE_FAILED \(0x91\): setting A in the FS-PML4E at 0x40000000 would fail: 0x40000000 cannot be written in system; a probe records nothing/);
    assert.deepEqual([reg(rom.r, 'FSTS'), rom.r.iommu.faultLog.length], [0n, 0]);
    assert.equal(rom.r.iommu.regionFor(SID).numberTranslator(0, { uncached: true }).translate(0x1000, IOMMU_RO, out), true);
    assert.deepEqual([out.perm, out.fault], [0, 0x91]);
  });
});
