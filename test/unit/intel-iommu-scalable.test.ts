/**
 * VT-d scalable mode for requests without PASID (QEMU's root_scalable path: RID_PASID): ECAP as
 * Debian's QEMU 7.2 binary reports it with x-scalable-mode=on, scalable root entries (lower and
 * upper halves), 256-bit context entries, the PASID directory and table, PGTT second-stage and
 * pass-through, the PASID fault reasons in current QEMU's numbering and the PP/PV of walk faults.
 * PASID address spaces (BDF, PASID): intel-iommu-pasid.test.ts.
 */
import * as assert from 'node:assert/strict';
import { IOMMU_NONE, IOMMU_NOTIFIER_IOTLB_EVENTS, IOMMU_RO, IOMMU_RW, IOMMU_WO } from '../../src/engine/iotlb';
import { IntelIommu } from '../../src/engine/models/intel-iommu';
import { buildVtdTables, type VtdProfile } from '../../src/engine/models/intel-iommu';
import { isEngineError } from '../../src/engine/errors';
import type { Trace } from '../../src/engine/trace';
import { ROOT, events, notifier, program, r64, reg, rig, tr, w64 } from './intel-iommu-helpers';

const SID = 0x18;
const UPPER = 0xff; // 00:1f.7

/** `profile`: QEMU 7.2 defaults to aw-bits 39; it gets 48 here, as the tables are 4-level. */
function sm(profile: VtdProfile = 'architecture') {
  const r = rig({ profile, scalableMode: true, cachingMode: true, ...(profile === 'qemu-7.2' ? { awBits: 48 } : {}) });
  const b = buildVtdTables({
    memory: r.ram.backing,
    memoryBase: 0n,
    at: ROOT,
    scalable: true,
    devices: [
      [SID, { domain: 5, map: [{ iova: 0x1000n, size: 0x1000n, pa: 0x9000n, perm: 3 }] }],
      [UPPER, { domain: 6, awBits: 39, map: [{ iova: 0x20_0000n, size: 0x20_0000n, pa: 0x60_0000n, perm: 1 }] }],
      [0x20, { domain: 7, translation: 'pass-through' }],
    ],
  });
  if (isEngineError(b)) throw new Error(b.message);
  program(r, b.registers);
  return { r, b };
}

describe('intel-iommu: scalable mode (RID_PASID)', () => {
  it('ECAP with x-scalable-mode=on: SMTS, SRS, SLTS (the real binary)', () => {
    assert.equal(reg(rig({ scalableMode: true, awBits: 39 }), 'ECAP'), 0x480080f00f4an);
    // QEMU 7.2 has x-scalable-mode and x-pasid-mode with the same bits (Debian's binary: xp 0xfed90010 reads 0x0000480080f00f4a, 0x0000490080f00f4a).
    assert.equal(reg(rig({ profile: 'qemu-7.2', scalableMode: true }), 'ECAP'), 0x480080f00f4an);
    assert.equal(reg(rig({ profile: 'qemu-7.2', scalableMode: true, pasidMode: true }), 'ECAP'), 0x490080f00f4an);
    // x-pasid-mode=on adds ECAP.PASID (bit 40).
    assert.equal(reg(rig({ scalableMode: true, awBits: 39, pasidMode: true }), 'ECAP'), 0x490080f00f4an);
  });

  it("QEMU's realize checks in its order and words: PASID with device-iotlb, aw-bits, dma_drain for scalable mode, scalable mode for PASID", () => {
    const sys = rig().sys;
    const text = (o: Partial<Parameters<typeof IntelIommu.create>[0]>) => {
      const e = IntelIommu.create({ name: 'dmar0', memory: sys, ...o });
      return 'error' in e ? e.message : 'created';
    };
    // vtd_realize checks PASID with device-iotlb before vtd_decide_config looks at anything.
    assert.equal(text({ pasidMode: true, deviceIotlb: true, awBits: 52 }), 'intel-iommu dmar0: PASID based device IOTLB is not supported');
    assert.equal(text({ profile: 'qemu-7.2', awBits: 52, scalableMode: true, dmaDrain: false }), 'intel-iommu dmar0: Supported values for aw-bits are: 39, 48');
    assert.equal(text({ scalableMode: true, dmaDrain: false, pasidMode: true }), 'intel-iommu dmar0: Need to set dma_drain for scalable mode');
    assert.equal(text({ pasidMode: true }), 'intel-iommu dmar0: Need to set scalable mode for PASID');
    assert.equal(text({ profile: 'qemu-7.2', pasidMode: true }), 'intel-iommu dmar0: Need to set scalable mode for PASID');
    assert.equal(text({ scalableMode: true, pasidMode: true }), 'created');
  });

  it('lower and upper root halves, 256-bit context entries, the PASID directory and table entry, then the second-stage walk', () => {
    const { r } = sm();
    const t: Trace = [];
    const e = tr(r, SID, 0x1234n, IOMMU_WO, t);
    assert.deepEqual([e.iova, e.translatedAddr, e.addrMask, e.perm], [0x1000n, 0x9000n, 0xfffn, IOMMU_RW]);
    const s = t.map((x) => x.summary);
    assert.match(s[1]!, /^scalable root entry \[bus 0\] at 0x100000: LP=1, LCTP=0x101000 \(devfn 0\.\.127\)$/);
    assert.match(s[2]!, /^scalable context entry \[00:03\.0\] at 0x101300: P=1, FPD=0, DTE=0, PASIDE=0, PDTS=0, PASIDDIRPTR=0x\w+, RID_PASID=0$/);
    assert.match(s[3]!, /^PASID directory entry \[0\] at 0x\w+: P=1, FPD=0, SMPTBLPTR=0x\w+$/);
    assert.match(s[4]!, /^PASID table entry \[PASID 0\] at 0x\w+: P=1, FPD=0, AW=2, PGTT=2 \(second-stage\), SSPTPTR=0x\w+, DID=5$/);
    assert.equal(t.filter((x) => x.summary.startsWith('SL-')).length, 4);
    const u = tr(r, UPPER, 0x20_1000n, IOMMU_RO);
    assert.deepEqual([u.iova, u.translatedAddr, u.addrMask, u.perm], [0x20_0000n, 0x60_0000n, 0x1f_ffffn, IOMMU_RO]);
    const pt = tr(r, 0x20, 0x5678n, IOMMU_WO);
    assert.deepEqual([pt.translatedAddr, pt.perm], [0x5000n, IOMMU_RW]);
  });

  it('PASID faults: directory entry not present (0x51), table entry not present (0x59), PGTT first-stage or nested (0x5b)', () => {
    const cases: Array<[string, (r: ReturnType<typeof sm>['r'], dir: bigint, pe: bigint) => void, bigint]> = [
      ['PASID_DIR_ENTRY_P', (r, dir) => w64(r, dir, 0n), 0xc000005100000018n],
      ['PASID_ENTRY_P', (r, _d, pe) => w64(r, pe, r64(r, pe) & ~1n), 0xc000005900000018n],
      ['PASID_TABLE_ENTRY_INV (first-stage)', (r, _d, pe) => w64(r, pe, (r64(r, pe) & ~(7n << 6n)) | (1n << 6n)), 0xc000005b00000018n],
      ['PASID_TABLE_ENTRY_INV (nested)', (r, _d, pe) => w64(r, pe, (r64(r, pe) & ~(7n << 6n)) | (3n << 6n)), 0xc000005b00000018n],
      // P=0: the other fields are ignored (VT-d 9.6), so nested with P=0 is PASID_ENTRY_P.
      ['PASID_ENTRY_P (nested with P=0)', (r, _d, pe) => w64(r, pe, (r64(r, pe) & ~(7n << 6n) & ~1n) | (3n << 6n)), 0xc000005900000018n],
    ];
    for (const [name, setup, hi] of cases) {
      const { r, b } = sm();
      const dir = r64(r, b.devices.get(SID)!.context) & ~0xfffn;
      const pe = r64(r, dir) & ~0xfffn;
      setup(r, dir, pe);
      assert.equal(tr(r, SID, 0x1000n, IOMMU_RO).perm, IOMMU_NONE, name);
      assert.equal(reg(r, 'FRCD_HI'), hi, name);
    }
  });

  it('a walk fault of a request without PASID: PP=0 (the architecture), PP=1 and PV=RID_PASID (QEMU 7.2); the PASID entry FPD suppresses it', () => {
    const { r, b } = sm();
    const t: Trace = [];
    tr(r, SID, 0x5000n, IOMMU_RO, t);
    // READ (6), T=1 (a read), PP (bit 31) clear: the request had no PASID, though the walk used the RID_PASID.
    assert.equal(reg(r, 'FRCD_HI'), 0xc000000600000018n);
    assert.match(t.at(-1)!.summary, /; PP=0 \(a request without PASID\), PV=0 \(the RID_PASID the walk used\) \[QEMU records PP=1\]$/);
    const { r: old } = sm('qemu-7.2');
    tr(old, SID, 0x5000n, IOMMU_RO);
    assert.equal(reg(old, 'FRCD_HI'), 0xc000000680000018n);
    const { r: r2, b: b2 } = sm();
    const dir = r64(r2, b2.devices.get(SID)!.context) & ~0xfffn;
    const pe = r64(r2, dir) & ~0xfffn;
    w64(r2, pe, r64(r2, pe) | 2n);
    tr(r2, SID, 0x5000n, IOMMU_RO);
    assert.equal(reg(r2, 'FSTS'), 0n);
    assert.ok(b.root > 0n);
  });

  it('a PASID entry rewritten is seen at once (no PASID cache); vfio replay and a page-selective sync work as in legacy mode', () => {
    const { r, b } = sm();
    const n = notifier(r, SID, IOMMU_NOTIFIER_IOTLB_EVENTS, { replay: true });
    assert.deepEqual(events(n), ['MAP 0x1000/0xfff -> 0x9000 RW (replay)']);
    tr(r, SID, 0x1000n, IOMMU_RO);
    const dir = r64(r, b.devices.get(SID)!.context) & ~0xfffn;
    const pe = r64(r, dir) & ~0xfffn;
    w64(r, pe, (r64(r, pe) & ~(7n << 6n)) | (4n << 6n)); // now pass-through
    assert.equal(tr(r, SID, 0x7000n, IOMMU_RO).translatedAddr, 0x7000n);
    w64(r, pe, (r64(r, pe) & ~(7n << 6n)) | (2n << 6n));
    r.iommu.issueCommands([{ op: 'IOTLB_PAGE', did: 5, addr: 0x1000n }]);
    assert.equal(n.received.length, 1);
  });
});
