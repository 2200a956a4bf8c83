/**
 * QEMU's no-DMAR switch (hw/i386/intel_iommu.c, vtd_switch_address_space and
 * vtd_pt_enable_fast_path, the same in 7.2 and current trees): whether a device's DMA goes through
 * its IOMMU region or straight to memory is decided when its address space is switched (TE, SRTP,
 * a global or the device's context-cache invalidation, the address space's creation, a
 * translation meeting a pass-through entry), from the context entry of that moment. Found by the
 * differential suite against QEMU 7.2: a pass-through context entry damaged after TE, with no
 * invalidation, kept passing DMA through in QEMU while the engine faulted.
 */
import assert from 'node:assert/strict';
import { IOMMU_NONE, IOMMU_RO, IOMMU_RW } from '../../src/engine/iotlb';
import { VTD_CCMD_DEVICE_INVL, VTD_CCMD_GLOBAL_INVL, VTD_CCMD_ICC } from '../../src/engine/models/intel-iommu';
import type { Trace } from '../../src/engine/trace';
import { alloc, context, enable, mapPage, program, reg, rig, tr } from './intel-iommu-helpers';

const SID = 0x08;
const entry = (e: { iova: bigint; translatedAddr: bigint; addrMask: bigint; perm: number }) => [e.iova, e.translatedAddr, e.addrMask, e.perm];

describe('intel-iommu: the no-DMAR switch (pass-through decided when the address space is switched)', () => {
  it('a pass-through device stays in no-DMAR when its context entry changes without invalidation, until a device-selective invalidation', () => {
    const r = rig({ profile: 'qemu-7.2' });
    context(r, SID, { tt: 2, aw: 1 });
    enable(r);
    const region = r.iommu.regionFor(SID);
    assert.equal(r.iommu.isNoDmar(region), true, 'switched at creation: TE on, T=2');
    assert.deepEqual(entry(tr(r, SID, 0x1234_5678n, IOMMU_RW)), [0x1234_5000n, 0x1234_5000n, 0xfffn, IOMMU_RW]);
    // The guest rewrites the entry to translate through a 3-level table (aw-bits 39, QEMU 7.2's default) mapping 0x12345000 -> 0x500000 read-only.
    const top = alloc(r);
    mapPage(r, top, 3, 0x1234_5000n, 0x50_0000n, 1);
    context(r, SID, { tt: 0, slpt: top, aw: 1, did: 3 });
    const t: Trace = [];
    assert.deepEqual(entry(tr(r, SID, 0x1234_5678n, IOMMU_RW, t)), [0x1234_5000n, 0x1234_5000n, 0xfffn, IOMMU_RW], 'still no-DMAR: QEMU does not look at the entry');
    assert.match(t.map((s) => s.summary).join('\n'), /no-DMAR: the context entry was pass-through when QEMU last switched/);
    // Nor does clearing its P bit fault: no fault record.
    context(r, SID, { lo: 0n, hi: 0n });
    assert.deepEqual(entry(tr(r, SID, 0x1234_5678n, IOMMU_RW)), [0x1234_5000n, 0x1234_5000n, 0xfffn, IOMMU_RW]);
    assert.equal(reg(r, 'FSTS'), 0n);
    // Translate again, then the device's context-cache invalidation switches it back to its IOMMU region.
    context(r, SID, { tt: 0, slpt: top, aw: 1, did: 3 });
    program(r, [{ reg: 'CCMD', value: VTD_CCMD_ICC | VTD_CCMD_DEVICE_INVL | (BigInt(SID) << 16n) }]);
    assert.equal(r.iommu.isNoDmar(region), false);
    assert.deepEqual(entry(tr(r, SID, 0x1234_5678n, IOMMU_RO)), [0x1234_5000n, 0x50_0000n, 0xfffn, IOMMU_RO]);
    // The write hits the IOTLB entry the read made: QEMU returns it as cached (perm RO), and the
    // data path refuses the write (perm & (1 << is_write)).
    assert.deepEqual(entry(tr(r, SID, 0x1234_5678n, IOMMU_RW)), [0x1234_5000n, 0x50_0000n, 0xfffn, IOMMU_RO]);
  });

  it('a pass-through translation through the IOMMU region switches to no-DMAR (the fast path), a probe does not', () => {
    const r = rig({ profile: 'qemu-7.2' });
    const top = alloc(r);
    mapPage(r, top, 3, 0x1000n, 0x9000n, 3);
    context(r, SID, { tt: 0, slpt: top, aw: 1 });
    enable(r);
    const region = r.iommu.regionFor(SID);
    assert.equal(r.iommu.isNoDmar(region), false);
    // Changed to pass-through before any translation (nothing cached): QEMU's IOMMU region meets T=2.
    context(r, SID, { tt: 2, aw: 1 });
    assert.deepEqual(entry(region.probe(0x1008n, IOMMU_RW, 0)), [0x1000n, 0x1000n, 0xfffn, IOMMU_RW]);
    assert.equal(r.iommu.isNoDmar(region), false, 'a probe switches nothing');
    assert.deepEqual(entry(tr(r, SID, 0x1008n, IOMMU_RW)), [0x1000n, 0x1000n, 0xfffn, IOMMU_RW]);
    assert.equal(r.iommu.isNoDmar(region), true, 'vtd_pt_enable_fast_path');
    // TE off and on again (vtd_handle_gcmd_te: refresh_all) re-reads the entry: now translate again.
    context(r, SID, { tt: 0, slpt: top, aw: 1 });
    program(r, [{ reg: 'GCMD', value: 0n }, { reg: 'GCMD', value: 1n << 31n }]);
    assert.equal(r.iommu.isNoDmar(region), false);
    assert.deepEqual(entry(tr(r, SID, 0x1008n, IOMMU_RW)), [0x1000n, 0x9000n, 0xfffn, IOMMU_RW]);
  });

  it('a global context-cache invalidation switches every device', () => {
    const r = rig();
    context(r, SID, { tt: 2, aw: 1 });
    context(r, 0x10, { tt: 2, aw: 1 });
    enable(r);
    const a = r.iommu.regionFor(SID);
    const b = r.iommu.regionFor(0x10);
    assert.deepEqual([r.iommu.isNoDmar(a), r.iommu.isNoDmar(b)], [true, true]);
    context(r, SID, { lo: 0n, hi: 0n });
    program(r, [{ reg: 'CCMD', value: VTD_CCMD_ICC | VTD_CCMD_GLOBAL_INVL }]);
    assert.deepEqual([r.iommu.isNoDmar(a), r.iommu.isNoDmar(b)], [false, true]);
    assert.deepEqual(entry(tr(r, SID, 0x2000n, IOMMU_RW)), [0n, 0n, 0n, IOMMU_NONE], 'context not present: a fault now');
    // FRCD: F, T=0 (a write), FR=CONTEXT_ENTRY_P (2), SID 00:01.0 (vtd_record_frcd).
    assert.equal(reg(r, 'FRCD_HI'), 0x8000_0002_0000_0008n);
  });
});
