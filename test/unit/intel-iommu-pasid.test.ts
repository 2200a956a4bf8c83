/**
 * VT-d PASID address spaces (QEMU's vtd_find_add_as(s, bus, devfn, pasid) and
 * vtd_do_iommu_translate with vtd_as->pasid, hw/i386/intel_iommu.c): one address space per
 * (BDF, PASID) besides the device's own, which serves requests without PASID and the context's
 * RID_PASID. A PASID address space looks its IOTLB entries up by (source ID, PASID) before the
 * context entry, resolves its own PASID table entry, records walk faults with PP=1 and PV=its
 * PASID, and has its own context-cache entry, notifiers and record of notified mappings. The
 * engine reaches it through IommuDevice.regionFor(rid, pasid) when an access carries a PASID.
 */
import * as assert from 'node:assert/strict';
import { MemTxResult } from '../../src/engine/attrs';
import { register } from '../../src/engine/consumers';
import { HWADDR_MAX } from '../../src/engine/hex';
import { newNumberEntry } from '../../src/engine/fast-path';
import { IOMMU_NOTIFIER_IOTLB_EVENTS, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { Machine } from '../../src/engine/machine';
import { buildVtdTables } from '../../src/engine/models/intel-iommu';
import { isEngineError } from '../../src/engine/errors';
import { ROOT, events, notifier, program, reg, rig, type Rig } from './intel-iommu-helpers';

const SID = 0x18; // 00:03.0

function sm(): Rig {
  const r = rig({ scalableMode: true, cachingMode: true });
  const b = buildVtdTables({
    memory: r.ram.backing,
    memoryBase: 0n,
    at: ROOT,
    scalable: true,
    devices: [
      [
        SID,
        {
          domain: 5,
          map: [{ iova: 0x1000n, size: 0x1000n, pa: 0x9000n, perm: 3 }],
          pasids: [
            [5, { domain: 9, map: [{ iova: 0x1000n, size: 0x2000n, pa: 0x4_0000n, perm: 1 }] }],
            [0x41, { domain: 10, translation: 'pass-through' }],
          ],
        },
      ],
    ],
  });
  if (isEngineError(b)) throw new Error(b.message);
  program(r, b.registers);
  return r;
}

describe('intel-iommu: PASID address spaces (BDF, PASID)', () => {
  it('one region per (BDF, PASID) with QEMU\'s name; the RID_PASID is the device\'s own region', () => {
    const r = sm();
    const dev = r.iommu.regionFor(SID);
    const p5 = r.iommu.regionFor(SID, 5);
    assert.notEqual(p5, dev);
    assert.equal(r.iommu.regionFor(SID, 5), p5);
    assert.equal(r.iommu.regionFor(SID, 0), dev);
    assert.equal(p5.name, 'dmar0.vtd-00:03.0-pasid-5');
    assert.equal(p5.pasid, 5);
    assert.deepEqual(r.iommu.regions().map((x) => x.name), ['dmar0.vtd-00:03.0', 'dmar0.vtd-00:03.0-pasid-5']);
    assert.equal(p5.indexSelector(0), 'all transactions of 00:03.0 PASID 5 (requester ID 0x18, PASID 0x5)');
  });

  it('each address space walks its own PASID entry\'s tables; IOTLB entries are keyed by (source ID, PASID)', () => {
    const r = sm();
    const a = r.iommu.regionFor(SID).translate(0x1234n, IOMMU_WO, 0);
    assert.deepEqual([a.iova, a.translatedAddr, a.addrMask, a.perm], [0x1000n, 0x9000n, 0xfffn, IOMMU_RW]);
    const b = r.iommu.regionFor(SID, 5).translate(0x2234n, IOMMU_RO, 0);
    assert.deepEqual([b.iova, b.translatedAddr, b.addrMask, b.perm], [0x2000n, 0x4_1000n, 0xfffn, IOMMU_RO]);
    const pt = r.iommu.regionFor(SID, 0x41).translate(0x7_7777n, IOMMU_WO, 0);
    assert.deepEqual([pt.translatedAddr, pt.addrMask, pt.perm], [0x7_7000n, 0xfffn, IOMMU_RW]);
    assert.deepEqual([...r.iommu.iotlb.entries()].map((e) => [e.sid, e.pasid, e.domainId, e.gfn]).sort(), [
      [SID, 0, 5, 1],
      [SID, 5, 9, 2],
    ]);
    // The second lookup of PASID 5 hits the IOTLB before reading the context (vtd_lookup_iotlb with vtd_as->pasid).
    const hits = r.iommu.iotlb.hits;
    r.iommu.regionFor(SID, 5).translate(0x2000n, IOMMU_RO, 0);
    assert.equal(r.iommu.iotlb.hits, hits + 1);
    // And the number path agrees.
    const out = newNumberEntry();
    assert.ok(r.iommu.regionFor(SID, 5).numberTranslator(0, { uncached: true }).translate(0x1008, IOMMU_RO, out));
    assert.deepEqual([out.translated, out.shift, out.perm, out.fault], [0x4_0008, 12, IOMMU_RO, 0]);
  });

  it('faults: a walk fault records PP=1 and PV=5; an empty PASID table entry is PASID_TABLE_ENTRY_INV (0x5b: PGTT 0 fails the type check before P is looked at) with PP=0', () => {
    const r = sm();
    // A write to PASID 5's read-only page: FR 5 (WRITE), T=0 (write), PP=1, PV=5.
    const e = r.iommu.regionFor(SID, 5).translate(0x1000n, IOMMU_WO, 0);
    assert.equal(e.perm, 0);
    assert.equal(reg(r, 'FRCD_HI'), 0x8000_0505_8000_0018n);
    assert.equal(reg(r, 'FRCD_LO'), 0x1000n);
    const r2 = sm();
    r2.iommu.regionFor(SID, 7).translate(0x1000n, IOMMU_RO, 0);
    assert.equal(reg(r2, 'FRCD_HI'), 0xc000_005b_0000_0018n);
  });

  it('notifiers per address space: a vfio replay of PASID 5 maps its two pages; a page-selective invalidation of domain 9 syncs it and not the device\'s', () => {
    const r = sm();
    const dev = notifier(r, SID, IOMMU_NOTIFIER_IOTLB_EVENTS, { replay: true, kind: 'vfio' });
    const region5 = r.iommu.regionFor(SID, 5);
    region5.systemAs = r.sys;
    const n5 = register({ kind: 'vfio', name: 'p5', owner: 'test', region: region5, flags: IOMMU_NOTIFIER_IOTLB_EVENTS, start: 0n, end: HWADDR_MAX, iommuIdx: 0, replay: true, systemAs: r.sys });
    assert.deepEqual(events(dev), ['MAP 0x1000/0xfff -> 0x9000 RW (replay)']);
    assert.deepEqual(events(n5), ['MAP 0x1000/0xfff -> 0x40000 RO (replay)', 'MAP 0x2000/0xfff -> 0x41000 RO (replay)']);
    const res = r.iommu.issueCommands([{ op: 'IOTLB_PAGE', did: 9, addr: 0x1000n, am: 1 }]);
    assert.ok(!isEngineError(res));
    // Unchanged mappings: the sync sends nothing.
    assert.equal(events(n5).length, 2);
    assert.equal(events(dev).length, 1);
  });

  it('the engine: an access naming a PASID goes through that PASID\'s address space; without one, through the device\'s', () => {
    const r = sm();
    const m = new Machine('q35');
    m.systemAs = r.sys;
    m.addIommu(r.iommu);
    m.devices.set('edu0', { name: 'edu0', kind: 'pci', as: m.dmaAddressSpace(r.iommu, SID), attrs: { requesterId: SID }, requesterId: SID, iommu: r.iommu, bdf: '00:03.0' });
    const plain = m.translate({ from: 'edu0', addr: 0x1010n, op: 'read' });
    const p5 = m.translate({ from: 'edu0', addr: 0x1010n, op: 'read', attrs: { pasid: 5 } });
    assert.ok(!isEngineError(plain) && !isEngineError(p5));
    assert.deepEqual([plain.result, plain.addr], [MemTxResult.OK, 0x9010n]);
    assert.deepEqual([p5.result, p5.addr], [MemTxResult.OK, 0x4_0010n]);
    assert.equal(p5.hops[0]!.iommu.name, 'dmar0.vtd-00:03.0-pasid-5');
    // The RID_PASID (0) is the device's own address space.
    const p0 = m.translate({ from: 'edu0', addr: 0x1010n, op: 'read', attrs: { pasid: 0 } });
    assert.ok(!isEngineError(p0));
    assert.equal(p0.addr, 0x9010n);
  });
});
