/**
 * VT-d against QEMU (hw/i386/intel_iommu.c): register reset values (as Debian's QEMU 7.2 binary
 * reports them over MMIO: `xp /2gx 0xfed90008` in its monitor) and write semantics, legacy-mode
 * walks over 3, 4 and 5 levels with 2 MiB and 1 GiB pages, permissions combined down the levels,
 * pass-through and DMA remapping off, every fault reason with its fault record, compression of
 * faults and primary fault overflow, FPD, the IOTLB and the context cache, and the traces.
 */
import * as assert from 'node:assert/strict';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { IntelIommu, alignedPow2Mask } from '../../src/engine/models/intel-iommu';
import type { Trace } from '../../src/engine/trace';
import { ROOT, alloc, context, enable, mapPage, program, r64, reg, rig, tr, w64 } from './intel-iommu-helpers';

const SID = 0x18; // 00:03.0

function fourLevel(opts: Parameters<typeof rig>[0] = {}) {
  const r = rig(opts);
  enable(r);
  const top = alloc(r);
  context(r, SID, { slpt: top, aw: 2, did: 1 });
  return { r, top };
}

describe('intel-iommu: registers', () => {
  it('QEMU 7.2 defaults (aw-bits 39): VER, CAP and ECAP as the real binary reads them', () => {
    const r = rig({ profile: 'qemu-7.2' });
    assert.equal(reg(r, 'VER'), 0x10n);
    assert.equal(reg(r, 'CAP'), 0x00d2008c22260206n);
    assert.equal(reg(r, 'ECAP'), 0xf00f4an);
    assert.equal(reg(r, 'FECTL'), 0x80000000n);
    assert.equal(reg(r, 'IECTL'), 0x80000000n);
  });

  it('caching-mode=on, aw-bits=48, device-iotlb=on: CAP.CM, SAGAW 39+48, MGAW 47, ECAP.DT (real binary)', () => {
    const r = rig({ profile: 'qemu-7.2', awBits: 48, cachingMode: true, deviceIotlb: true });
    assert.equal(reg(r, 'CAP'), 0x00d2008c222f0686n);
    assert.equal(reg(r, 'ECAP'), 0xf00f4en);
  });

  it('current QEMU defaults to aw-bits 48; the architecture profile offers 57 (SAGAW bit 3); QEMU refuses it', () => {
    assert.equal(reg(rig(), 'CAP'), 0x00d2008c222f0606n);
    assert.equal(reg(rig({ awBits: 57 }), 'CAP') & 0x3f1f00n, 0x380e00n);
    const e = IntelIommu.create({ name: 'x', memory: rig().sys, profile: 'qemu-7.2', awBits: 57 });
    assert.ok('error' in e);
    assert.equal(e.message, 'intel-iommu x: Supported values for aw-bits are: 39, 48');
    const cur = IntelIommu.create({ name: 'x', memory: rig().sys, awBits: 52 });
    assert.ok('error' in cur);
    assert.equal(cur.message, "intel-iommu x: Legacy mode: supported values for aw-bits are: 39, 48 (and 57, the architecture's 5-level tables, which QEMU does not offer)");
  });

  it('GCMD reads as zero, RTADDR keeps bits 63:10, CCMD hides FM/SID, IVA is write-only, FSTS bits are write-1-to-clear', () => {
    const r = rig();
    program(r, [{ reg: 'RTADDR', value: 0x12345fffn }]);
    assert.equal(reg(r, 'RTADDR'), 0x12345c00n);
    program(r, [{ reg: 'GCMD', value: 1n << 30n }]);
    assert.equal(reg(r, 'GCMD'), 0n);
    assert.equal(reg(r, 'GSTS'), 0x40000000n);
    program(r, [{ reg: 'IVA', value: 0x1000n }]);
    assert.equal(reg(r, 'IVA'), 0n);
    // Set PFO through the model, then clear it by writing 1.
    r.iommu.regs.setClearLong(0x34, 0, 1);
    program(r, [{ reg: 'FSTS', value: 1n }]);
    assert.equal(reg(r, 'FSTS'), 0n);
  });

  it('accesses of 1 or 2 bytes fail; 4-byte halves of 64-bit registers work', () => {
    const r = rig();
    assert.notEqual(r.iommu.regs.write(0x20n, 2, 1n, { unspecified: true }), 0);
    r.iommu.regs.write(0x24n, 4, 0x1n, { unspecified: true });
    assert.equal(reg(r, 'RTADDR'), 0x1_0000_0000n);
  });
});

describe('intel-iommu: legacy translation', () => {
  it('4-level walk: 4 KiB page, page-aligned iova and output, mask 0xfff, perm RW; steps name root, context and each level', () => {
    const { r, top } = fourLevel();
    const pte = mapPage(r, top, 4, 0x1000_0000n, 0x4000_0000n, 3);
    const t: Trace = [];
    const e = tr(r, SID, 0x1000_0123n, IOMMU_RO, t);
    assert.deepEqual([e.iova, e.translatedAddr, e.addrMask, e.perm], [0x1000_0000n, 0x4000_0000n, 0xfffn, IOMMU_RW]);
    const s = t.map((x) => x.summary);
    assert.match(s[1]!, /^root entry \[bus 0\] at 0x100000: P=1, CTP=0x301000$/);
    assert.match(s[2]!, /^context entry \[00:03\.0, devfn 0x18\] at 0x301180: P=1, FPD=0, T=0 .*SLPTPTR=0x300000, AW=2 \(48-bit AGAW, 4-level\), DID=1$/);
    assert.deepEqual(s.slice(3, 7).map((x) => x.split(' ')[0]), ['SL-PML4E[0]', 'SL-PDPE[0]', 'SL-PDE[128]', 'SL-PTE[0]']);
    assert.equal(t[6]!.fields.addr, pte);
    assert.equal(t[6]!.fields.raw, 0x4000_0003n);
  });

  it('3-level (AW=1, 39-bit) and 5-level (AW=3, 57-bit, architecture) walks', () => {
    const r = rig({ awBits: 57 });
    enable(r);
    const t3 = alloc(r);
    context(r, 0x10, { slpt: t3, aw: 1 });
    mapPage(r, t3, 3, 0x7f_ffff_f000n, 0x5000n, 1);
    assert.deepEqual([tr(r, 0x10, 0x7f_ffff_f010n, IOMMU_RO).translatedAddr, tr(r, 0x10, 0x7f_ffff_f010n, IOMMU_RO).perm], [0x5000n, IOMMU_RO]);
    const t5 = alloc(r);
    context(r, 0x11, { slpt: t5, aw: 3 });
    mapPage(r, t5, 5, 0x1_0000_0000_0000n, 0x6000n, 3);
    const t: Trace = [];
    assert.equal(tr(r, 0x11, 0x1_0000_0000_0008n, IOMMU_WO, t).translatedAddr, 0x6000n);
    assert.equal(t.filter((x) => x.kind === 'descriptor-read').length, 7);
    // 2^39 is beyond a 3-level context: ADDR_BEYOND_MGAW.
    assert.equal(tr(r, 0x10, 1n << 39n, IOMMU_RO).perm, IOMMU_NONE);
    assert.equal(r64(r, 0n), 0n);
    assert.equal((reg(r, 'FRCD_HI') >> 32n) & 0xffn, 4n);
  });

  it('2 MiB and 1 GiB pages: mask and alignment from the leaf level', () => {
    const { r, top } = fourLevel();
    mapPage(r, top, 4, 0x4000_0000n, 0x2000_0000n, 3, 2);
    mapPage(r, top, 4, 0x80_0000_0000n, 0x4000_0000n, 1, 3);
    const a = tr(r, SID, 0x4012_3456n, IOMMU_WO);
    assert.deepEqual([a.iova, a.translatedAddr, a.addrMask, a.perm], [0x4000_0000n, 0x2000_0000n, 0x1f_ffffn, IOMMU_RW]);
    const b = tr(r, SID, 0x80_1234_5678n, IOMMU_RO);
    assert.deepEqual([b.iova, b.translatedAddr, b.addrMask, b.perm], [0x80_0000_0000n, 0x4000_0000n, 0x3fff_ffffn, IOMMU_RO]);
  });

  it('permissions combine down the levels: a read-only PDE makes an RW page RO, and a write faults (WRITE)', () => {
    const { r, top } = fourLevel();
    mapPage(r, top, 4, 0x1000n, 0x9000n, 3, 1, 1n);
    assert.equal(tr(r, SID, 0x1000n, IOMMU_WO).perm, IOMMU_NONE);
    assert.equal((reg(r, 'FRCD_HI') >> 32n) & 0xffn, 5n);
    assert.equal(tr(r, SID, 0x1000n, IOMMU_RO).perm, IOMMU_RO);
    // An IOTLB hit returns the cached permissions whatever is asked (vtd_do_iommu_translate's
    // hit path checks nothing); the access path then refuses the write.
    assert.equal(tr(r, SID, 0x1000n, IOMMU_WO).perm, IOMMU_RO);
  });

  it('pass-through (T=2) and DMA remapping off give the 4 KiB identity with RW', () => {
    const r = rig();
    context(r, SID, { tt: 2, aw: 2 });
    const off = tr(r, SID, 0x1234_5678n, IOMMU_WO);
    assert.deepEqual([off.iova, off.translatedAddr, off.addrMask, off.perm], [0x1234_5000n, 0x1234_5000n, 0xfffn, IOMMU_RW]);
    enable(r);
    const pt = tr(r, SID, 0x8765_4321n, IOMMU_RO);
    assert.deepEqual([pt.iova, pt.translatedAddr, pt.addrMask, pt.perm], [0x8765_4000n, 0x8765_4000n, 0xfffn, IOMMU_RW]);
  });

  it('the IOTLB answers after a PTE rewrite until invalidated; a probe past it sees the new page', () => {
    const { r, top } = fourLevel();
    const pte = mapPage(r, top, 4, 0x1000n, 0x9000n, 3);
    assert.equal(tr(r, SID, 0x1000n, IOMMU_RO).translatedAddr, 0x9000n);
    w64(r, pte, 0xa003n);
    const t: Trace = [];
    assert.equal(tr(r, SID, 0x1000n, IOMMU_RO, t).translatedAddr, 0x9000n);
    assert.equal(t[1]!.kind, 'iotlb-entry');
    assert.equal(r.iommu.regionFor(SID).probe(0x1000n, IOMMU_NONE, 0, undefined, { uncached: true }).translatedAddr, 0xa000n);
    const res = r.iommu.issueCommands([{ op: 'IOTLB_GLOBAL' }]);
    assert.ok(Array.isArray(res) && res[0]!.effect.startsWith('IOTLB register invalidation (global): 1 IOTLB entry dropped'));
    assert.equal(tr(r, SID, 0x1000n, IOMMU_RO).translatedAddr, 0xa000n);
    assert.equal((reg(r, 'IOTLB') >> 57n) & 3n, 1n); // IAIG = global
  });

  it('the context cache keeps a rewritten context entry until a context-cache invalidation', () => {
    const { r, top } = fourLevel();
    mapPage(r, top, 4, 0x1000n, 0x9000n, 3);
    tr(r, SID, 0x1000n, IOMMU_RO);
    context(r, SID, { tt: 2, aw: 2 });
    r.iommu.issueCommands([{ op: 'IOTLB_GLOBAL' }]);
    assert.equal(tr(r, SID, 0x5000n, IOMMU_RO).perm, IOMMU_NONE); // still the cached multi-level entry
    const res = r.iommu.issueCommands([{ op: 'CC_DEVICE', sid: SID }]);
    assert.ok(Array.isArray(res) && /: 1 device context-cache entry dropped/.test(res[0]!.effect));
    assert.equal((reg(r, 'CCMD') >> 59n) & 3n, 3n); // CAIG = device
    assert.equal(tr(r, SID, 0x5000n, IOMMU_RO).perm, IOMMU_RW);
  });
});

describe('intel-iommu: faults and fault records', () => {
  const frHi = (r: ReturnType<typeof rig>) => reg(r, 'FRCD_HI');
  const cases: Array<[string, number, (r: ReturnType<typeof rig>, top: bigint) => bigint, boolean, bigint]> = [
    ['ROOT_ENTRY_P', 1, (r) => (w64(r, ROOT, 0n), 0x1000n), false, 0x8000000100000018n],
    ['CONTEXT_ENTRY_P', 2, (r) => (w64(r, r64(r, ROOT) - 1n + 0x180n, 0n), 0x1000n), false, 0x8000000200000018n],
    ['CONTEXT_ENTRY_INV (AW=4)', 3, (r, top) => (context(r, SID, { slpt: top, aw: 4 }), 0x1000n), false, 0x8000000300000018n],
    ['CONTEXT_ENTRY_INV (T=1 without device-iotlb)', 3, (r, top) => (context(r, SID, { slpt: top, aw: 2, tt: 1 }), 0x1000n), false, 0x8000000300000018n],
    ['CONTEXT_ENTRY_INV (SLPTPTR beyond RAM)', 3, (r) => (context(r, SID, { slpt: 0x8000_0000n, aw: 2 }), 0x1000n), true, 0xc0ffff0300000018n],
    ['ADDR_BEYOND_MGAW', 4, () => 1n << 48n, true, 0xc0ffff0400000018n],
    ['WRITE', 5, (r, top) => (mapPage(r, top, 4, 0x1000n, 0x9000n, 1), 0x1000n), false, 0x80ffff0500000018n],
    ['READ', 6, (r, top) => (mapPage(r, top, 4, 0x1000n, 0x9000n, 2), 0x1000n), true, 0xc0ffff0600000018n],
    ['PAGING_ENTRY_INV', 7, (r, top) => (w64(r, top, 0x8000_0003n), 0x1000n), true, 0xc0ffff0700000018n],
    ['ROOT_TABLE_INV', 8, (r) => (program(r, [{ reg: 'RTADDR', value: 0x8000_0000n }, { reg: 'GCMD', value: (1n << 31n) | (1n << 30n) }]), 0x1000n), true, 0xc000000800000018n],
    ['CONTEXT_TABLE_INV', 9, (r) => (w64(r, ROOT, 0x8000_0001n), 0x1000n), true, 0xc000000900000018n],
    ['ROOT_ENTRY_RSVD', 0xa, (r) => (w64(r, ROOT + 8n, 1n), 0x1000n), true, 0xc000000a00000018n],
    ['CONTEXT_ENTRY_RSVD', 0xb, (r, top) => (context(r, SID, { lo: 1n | top | 0x10n, hi: 2n | (1n << 8n) }), 0x1000n), true, 0xc000000b00000018n],
    ['PAGING_ENTRY_RSVD (bit 7 in a PML4E)', 0xc, (r, top) => (w64(r, top, alloc(r) | 0x83n), 0x1000n), true, 0xc0ffff0c00000018n],
    ['INTERRUPT_ADDR', 0xe, (r, top) => (mapPage(r, top, 4, 0x1000n, 0xfee0_0000n, 3), 0x1000n), true, 0xc0ffff0e00000018n],
  ];
  for (const [name, fr, setup, read, hi] of cases) {
    it(`${name} (0x${fr.toString(16)}): perm NONE, the all-zero entry, and FRCD hi ${'0x' + hi.toString(16)}`, () => {
      const { r, top } = fourLevel();
      const addr = setup(r, top);
      const t: Trace = [];
      const e = tr(r, SID, addr | 0x123n, read ? IOMMU_RO : IOMMU_WO, t);
      assert.deepEqual([e.iova, e.translatedAddr, e.addrMask, e.perm], [0n, 0n, 0n, IOMMU_NONE]);
      assert.equal(frHi(r), hi);
      assert.equal(reg(r, 'FRCD_LO'), addr & ~0xfffn);
      assert.equal(reg(r, 'FSTS'), 0x2n); // PPF, FRI 0
      assert.equal(reg(r, 'FECTL'), 0xc0000000n); // IM from reset, so IP stays set
      const f = t.at(-1)!;
      assert.equal(f.kind, 'fault');
      assert.equal(f.fields.FR, fr);
      assert.ok(r.iommu.log.some((m) => m === `vtd_iommu_translate: detected translation failure (dev=00:03:00, iova=0x${(addr | 0x123n).toString(16)})`));
    });
  }

  it('compression of faults, then primary fault overflow, then PFO drops everything; clearing F and PFO records again', () => {
    const { r } = fourLevel();
    tr(r, SID, 0x1000n, IOMMU_RO);
    assert.equal(reg(r, 'FRCD_HI'), 0xc0ffff0600000018n);
    tr(r, SID, 0x2000n, IOMMU_WO);
    assert.equal(reg(r, 'FRCD_LO'), 0x1000n);
    assert.deepEqual(r.iommu.faultLog.map((f) => f.disposition.kind === 'dropped' ? f.disposition.reason : 'recorded'), ['recorded', 'compressed']);
    assert.equal(r.iommu.log.filter((m) => m === 'New fault is not recorded due to compression of faults').length, 1);
    context(r, 0x20, { slpt: alloc(r), aw: 2 });
    tr(r, 0x20, 0x3000n, IOMMU_RO);
    assert.equal(reg(r, 'FSTS'), 0x3n); // PFO | PPF
    assert.ok(r.iommu.log.includes('Next Fault Recording Reg is used, new fault is not recorded, set PFO field'));
    tr(r, 0x21, 0x3000n, IOMMU_RO);
    assert.equal(r.iommu.faultLog.at(-1)!.message, 'New fault is not recorded due to Primary Fault Overflow');
    program(r, [{ reg: 'FRCD_HI', value: 1n << 63n }, { reg: 'FSTS', value: 1n }]);
    assert.equal(reg(r, 'FSTS'), 0n);
    program(r, [{ reg: 'FECTL', value: 0n }]);
    tr(r, 0x20, 0x3000n, IOMMU_RO);
    assert.equal(reg(r, 'FRCD_HI'), 0xc0ffff0600000020n);
    assert.deepEqual(r.iommu.interrupts.map((i) => i.kind), ['fault']);
  });

  it('FPD=1 suppresses qualified faults (context not present, paging) but not root-table faults', () => {
    const { r } = fourLevel();
    context(r, SID, { slpt: alloc(r), aw: 2, fpd: true });
    tr(r, SID, 0x1000n, IOMMU_RO);
    assert.equal(reg(r, 'FSTS'), 0n);
    assert.equal(r.iommu.faultLog.at(-1)!.disposition.kind, 'dropped');
    w64(r, ROOT + 8n, 1n);
    r.iommu.issueCommands([{ op: 'CC_GLOBAL' }]);
    tr(r, SID, 0x1000n, IOMMU_RO);
    assert.equal((reg(r, 'FRCD_HI') >> 32n) & 0xffn, 0xan);
  });

  it('a probe records nothing and fills no cache', () => {
    const { r, top } = fourLevel();
    mapPage(r, top, 4, 0x1000n, 0x9000n, 3);
    const region = r.iommu.regionFor(SID);
    region.probe(0x5000n, IOMMU_RO, 0);
    region.probe(0x1000n, IOMMU_RO, 0);
    assert.equal(reg(r, 'FSTS'), 0n);
    assert.equal(r.iommu.iotlb.size, 0);
    assert.equal(region.ccGen, 0);
  });
});

describe('intel-iommu: dma_aligned_pow2_mask', () => {
  it('splits as QEMU does', () => {
    assert.equal(alignedPow2Mask(0n, (1n << 48n) - 1n, 48), (1n << 48n) - 1n);
    assert.equal(alignedPow2Mask(0x1000n, 0xffffn, 48), 0xfffn);
    assert.equal(alignedPow2Mask(0x2000n, 0xffffn, 48), 0x1fffn);
    assert.equal(alignedPow2Mask(0x10000n, 0x2ffffn, 48), 0xffffn);
  });
});
